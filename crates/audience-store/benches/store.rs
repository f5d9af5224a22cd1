//! Store throughput on synthetic, deterministic data: applying changes in large batches,
//! applying small batches from 8 threads (group commit), and snapshots of 1,000,000 members;
//! then one timed pass that loads 1,000,000 members and reports bytes on disk per member.
//!
//! `cargo bench -p liveramp-audience-store`; criterion reports changes or members per second
//! ("elem/s"). A change is one profile with one audience `add`, three identities and three
//! attributes. `AUDIENCE_STORE_BENCH_MEMBERS` sets the snapshot size (default 1,000,000),
//! `AUDIENCE_STORE_BENCH_PAGE_SIZE` the SQLite page size (default 4,096),
//! `AUDIENCE_STORE_BENCH_MMAP_MIB` the memory map (default none).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    missing_docs
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use liveramp_audience_store::{
    AudienceChange, AudienceStore, MemberChange, Message, SqliteStore, StoreOptions,
    SubscriptionAction,
};

const AUDIENCE: i64 = 17_095;
const PROFILES_PER_MESSAGE: u64 = 100;

/// Member `n` entering the audience at `ts`: the same member always gets the same identities.
fn change(n: u64) -> MemberChange {
    let tier = ["gold", "silver", "bronze"][(n % 3) as usize];
    MemberChange::with_mpid(format!("{}", 8_000_000_000_000 + n * 7919 % 10_000_000_000))
        .user_identity("email", "raw", format!("user.{n}@example.com"))
        .user_identity("customer_id", "raw", format!("C{n:010}"))
        .device_identity(
            "ios_advertising_id",
            "raw",
            format!(
                "{:08X}-8246-4BA4-AE5B-76104861E7DC",
                n.wrapping_mul(2_654_435_761) as u32
            ),
        )
        .audience(
            AudienceChange::add(AUDIENCE)
                .upsert("$FirstName", "Jane")
                .upsert("$Zip", format!("{:05}", n % 100_000))
                .upsert("tier", tier),
        )
}

/// Messages for members `first..first + count`, `PROFILES_PER_MESSAGE` each, with ids unique
/// to `tag`.
fn messages(tag: &str, first: u64, count: u64, ts: i64) -> Vec<Message> {
    (first..first + count)
        .step_by(PROFILES_PER_MESSAGE as usize)
        .map(|start| {
            let end = (start + PROFILES_PER_MESSAGE).min(first + count);
            Message::membership(
                format!("{tag}-{start}"),
                ts,
                (start..end).map(change).collect(),
            )
        })
        .collect()
}

fn open(path: &Path) -> SqliteStore {
    let mut options = StoreOptions::default();
    if let Some(size) = std::env::var("AUDIENCE_STORE_BENCH_PAGE_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        options.page_size = size;
    }
    if let Some(mib) = std::env::var("AUDIENCE_STORE_BENCH_MMAP_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        options.mmap_mib = mib;
    }
    let store = SqliteStore::open(path, options).unwrap();
    store
        .apply(&[Message::subscription(
            "connect",
            1,
            AUDIENCE,
            "High-value customers",
            SubscriptionAction::Connect,
        )])
        .unwrap();
    store
}

/// Loads `members` members in batches of 10,000 changes; returns the seconds it took.
fn load(store: &SqliteStore, members: u64) -> f64 {
    let start = Instant::now();
    for first in (0..members).step_by(10_000) {
        let count = (members - first).min(10_000);
        store.apply(&messages("load", first, count, 10)).unwrap();
    }
    start.elapsed().as_secs_f64()
}

fn snapshot_all(store: &SqliteStore) -> (u64, usize) {
    let mut snapshot = store.snapshot(AUDIENCE).unwrap();
    let mut buffer = Vec::with_capacity(1 << 20);
    let (mut members, mut bytes) = (0, 0);
    loop {
        buffer.clear();
        let n = snapshot.read_into(&mut buffer, 512 << 10).unwrap();
        if n == 0 {
            break;
        }
        members += n;
        bytes += buffer.len();
    }
    (members, bytes)
}

fn benches(c: &mut Criterion, members: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("audience-store");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));

    // 1. 100,000 changes in batches of 10,000 (100 messages of 100 profiles): new members each
    // iteration, into a store that grows.
    let store = open(&dir.path().join("large.db"));
    let round = AtomicU64::new(0);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("apply 100k changes, batches of 10k", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let r = round.fetch_add(1, Ordering::Relaxed);
                for i in 0..10 {
                    let batch = messages("large", r * 100_000 + i * 10_000, 10_000, 10);
                    let start = Instant::now();
                    black_box(store.apply(&batch).unwrap());
                    spent += start.elapsed();
                }
            }
            spent
        });
    });
    // The same from two loader threads (one prepares its next batch while the writer applies
    // the other's): what a loader reading a file ahead can get.
    group.bench_function("apply 100k changes, 2 loaders x 10k", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let r = round.fetch_add(1, Ordering::Relaxed);
                let work: Vec<Vec<Message>> = (0..10)
                    .map(|i| messages("large", r * 100_000 + i * 10_000, 10_000, 10))
                    .collect();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for half in work.chunks(5) {
                        let store = &store;
                        s.spawn(move || {
                            for batch in half {
                                store.apply(batch).unwrap();
                            }
                        });
                    }
                });
                spent += start.elapsed();
            }
            spent
        });
    });
    drop(store);

    // 2. 8 threads, each applying 25 batches of 100 profiles (one message each): 20,000 changes.
    let store = open(&dir.path().join("small.db"));
    let round = AtomicU64::new(0);
    group.throughput(Throughput::Elements(8 * 25 * 100));
    group.bench_function("apply 8 threads x batches of 100", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let r = round.fetch_add(1, Ordering::Relaxed);
                let work: Vec<Vec<Vec<Message>>> = (0..8u64)
                    .map(|t| {
                        (0..25u64)
                            .map(|k| messages("small", ((r * 8 + t) * 25 + k) * 100, 100, 10))
                            .collect()
                    })
                    .collect();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for batches in &work {
                        let store = &store;
                        s.spawn(move || {
                            for batch in batches {
                                store.apply(batch).unwrap();
                            }
                        });
                    }
                });
                spent += start.elapsed();
            }
            spent
        });
    });
    let stats = store.stats().unwrap();
    println!(
        "group commit: {} batches in {} commits ({:.1} batches per commit)",
        stats.batches,
        stats.commits,
        stats.batches as f64 / stats.commits as f64
    );
    drop(store);

    // 3. Snapshot of `members` members.
    let store = open(&dir.path().join("snapshot.db"));
    let seconds = load(&store, members);
    let stats = store.stats().unwrap();
    println!(
        "\nloaded {members} members (batches of 10,000 changes) in {seconds:.2} s: {:.0} changes/s; \
         {} bytes on disk, {:.0} bytes per member",
        members as f64 / seconds,
        stats.bytes_on_disk,
        stats.bytes_on_disk as f64 / members as f64
    );
    group.throughput(Throughput::Elements(members));
    group.sample_size(10);
    group.bench_function(format!("snapshot {members} members"), |b| {
        b.iter(|| {
            let (n, bytes) = snapshot_all(&store);
            assert_eq!(n, members);
            black_box(bytes)
        });
    });
    group.finish();
    let start = Instant::now();
    let (n, bytes) = snapshot_all(&store);
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "one snapshot pass: {n} members, {bytes} bytes of NDJSON in {elapsed:.2} s: {:.0} members/s",
        n as f64 / elapsed
    );
}

fn main() {
    let members = std::env::var("AUDIENCE_STORE_BENCH_MEMBERS")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1_000_000);
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, members);
    criterion.final_summary();
}
