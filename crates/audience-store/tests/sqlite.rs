//! The behavioural suite on `SqliteStore`, plus what only SQLite has: files, reopening,
//! schema versions, other connections holding the lock, group commit and crashes.
//!
//! The crash test's child is this test binary run again with `AUDIENCE_STORE_CRASH_DIR` set,
//! which makes `crash_child` apply batches until it is killed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[macro_use]
mod suite;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use liveramp_audience_store::{
    AudienceChange, AudienceStore, Error, MemberChange, Message, SqliteStore, StoreOptions,
};
use suite::Backend;

struct Sqlite {
    dir: tempfile::TempDir,
    n: AtomicUsize,
}

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
            n: AtomicUsize::new(0),
        }
    }
}

impl Backend for Sqlite {
    fn fresh(&self) -> Box<dyn AudienceStore> {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("store-{n}.db"));
        Box::new(SqliteStore::open(path, StoreOptions::default()).unwrap())
    }
}

suite_tests!(Sqlite);

fn add(id: &str, ts: i64, mpids: &[&str]) -> Message {
    Message::membership(
        id,
        ts,
        mpids
            .iter()
            .map(|m| MemberChange::with_mpid(*m).audience(AudienceChange::add(1)))
            .collect(),
    )
}

fn options() -> StoreOptions {
    StoreOptions::default()
}

/// A raw connection holding the write lock (as another process writing would).
fn lock(path: &Path) -> rusqlite::Connection {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    raw
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------------------------
// Files, reopening, schema.

/// The store holds members' emails and phones: its files are its owner's only, whatever the
/// umask.
#[cfg(unix)]
#[test]
fn the_store_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, options()).unwrap();
    store.apply(&[add("m1", 1, &["1"])]).unwrap();
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["store.db", "store.db-shm", "store.db-wal"]);
}

#[test]
fn creates_folder_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/store.db");
    {
        let store = SqliteStore::open(&path, options()).unwrap();
        store.apply(&[add("m1", 1, &["1", "2"])]).unwrap();
        assert_eq!(store.path(), path);
    }
    let store = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(suite::keys(&store, 1), vec!["1", "2"]);
    assert_eq!(store.apply(&[add("m1", 1, &["3"])]).unwrap().duplicates, 1);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), version), ("wal", 2));
    let stats = store.stats().unwrap();
    assert!(stats.bytes_on_disk > 0);
    assert_eq!((stats.members, stats.memberships, stats.present), (2, 2, 2));
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path, options()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 7")
        .unwrap();
    let err = SqliteStore::open(&path, options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the store file {} has schema version 7, newer than version 2 that this program \
             knows: upgrade this program (liveramp-audience-store), or open a different file",
            path.display()
        )
    );
    assert!(!err.is_transient());
}

#[test]
fn unwritable_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("store.db");
    let err = SqliteStore::open(&path, options()).unwrap_err();
    assert!(matches!(err, Error::CannotOpen { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open the store file {} ({} exists and is not a folder): check that its \
             folder exists or can be created, and that this user may read and write both",
            path.display(),
            file.display()
        )
    );
    assert!(!err.is_transient());
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let err = SqliteStore::open(&garbage, options()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!(
        "the store file {} is damaged or not an audience store (",
        garbage.display()
    )));

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let err = SqliteStore::open(&other, options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the store file {} is damaged or not an audience store (it is an SQLite database \
             with tables but no audience store schema version): restore it from a backup, or \
             move it away to start empty (mParticle does not resend old messages)",
            other.display()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Other connections: readers work, writers wait then fail transiently.

#[test]
fn readers_work_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, options()).unwrap();
    store.apply(&[add("m1", 1, &["1"])]).unwrap();
    let raw = lock(&path);
    raw.execute_batch("DELETE FROM memberships").unwrap();
    // A second handle (as a CLI in another process would open) reads the committed state.
    let reader = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(reader.audiences().unwrap()[0].members, 1);
    assert_eq!(suite::keys(&reader, 1), vec!["1"]);
    assert_eq!(suite::keys(&store, 1), vec!["1"]);
    raw.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_second_writer_waits_then_fails_with_a_transient_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut quick = options();
    quick.busy_timeout = Duration::from_millis(200);
    let store = SqliteStore::open(&path, quick.clone()).unwrap();
    let raw = lock(&path);
    let err = store.apply(&[add("m1", 1, &["1"])]).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, Error::Busy { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "the store file {} is locked by another writer (database is locked); it was waited \
             for and is still busy: retry later, and check that only one server writes to this \
             file",
            path.display()
        )
    );
    // Within the timeout, a writer waits for the lock instead of failing.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        raw.execute_batch("COMMIT").unwrap();
    });
    let mut patient = quick;
    patient.busy_timeout = Duration::from_secs(30);
    let store = SqliteStore::open(&path, patient).unwrap();
    let raw = lock(&path);
    releaser.join().unwrap();
    let waiter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        raw.execute_batch("COMMIT").unwrap();
    });
    assert_eq!(store.apply(&[add("m1", 1, &["1"])]).unwrap().messages, 1);
    waiter.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Group commit and savepoints.

/// Queues batches while a blocker batch waits for a lock another connection holds, then lets
/// everything go: the queued batches share one commit.
fn with_queued(
    store: &SqliteStore,
    batches: Vec<Vec<Message>>,
) -> Vec<Result<liveramp_audience_store::ApplySummary, Error>> {
    let raw = lock(store.path());
    let before = store.stats().unwrap();
    let n = batches.len() as u64;
    std::thread::scope(|s| {
        let blocker = s.spawn(|| store.apply(&[add("blocker", 0, &["blocker"])]));
        wait_until("the blocker is taken", || {
            store.stats().unwrap().pending == 1
        });
        // Most likely the writer is now inside the blocker's group, waiting for the lock (if
        // not, everything shares a single commit).
        std::thread::sleep(Duration::from_millis(20));
        let handles: Vec<_> = batches
            .into_iter()
            .map(|b| s.spawn(move || store.apply(&b)))
            .collect();
        wait_until("every batch is queued", || {
            store.stats().unwrap().pending == n + 1
        });
        raw.execute_batch("COMMIT").unwrap();
        blocker.join().unwrap().unwrap();
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let after = store.stats().unwrap();
        assert_eq!(after.batches - before.batches, n + 1);
        let commits = after.commits - before.commits;
        assert!(
            (1..=2).contains(&commits),
            "{} batches took {commits} commits: the blocker's, then one for all the queued ones",
            n + 1
        );
        results
    })
}

#[test]
fn concurrent_applies_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.busy_timeout = Duration::from_secs(60);
    let store = SqliteStore::open(dir.path().join("store.db"), opts).unwrap();
    let batches = (0..8)
        .map(|t| vec![add(&format!("t{t}"), 1, &[&format!("member-{t}")])])
        .collect();
    for result in with_queued(&store, batches) {
        assert_eq!(result.unwrap().adds, 1);
    }
    assert_eq!(suite::keys(&store, 1).len(), 9);

    // Without the lock: 8 threads x 25 applies; report how many commits they needed.
    let before = store.stats().unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            s.spawn(move || {
                for b in 0..25 {
                    store
                        .apply(&[add(&format!("free-{t}-{b}"), 2, &[&format!("f{t}-{b}")])])
                        .unwrap();
                }
            });
        }
    });
    let after = store.stats().unwrap();
    assert_eq!(after.batches - before.batches, 200);
    println!(
        "8 threads x 25 applies: {} commits for 200 batches",
        after.commits - before.commits
    );
}

#[test]
fn a_failing_batch_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.busy_timeout = Duration::from_secs(60);
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, opts).unwrap();
    store
        .apply(&[Message::membership(
            "m0",
            1,
            vec![MemberChange::with_mpid("bad").audience(AudienceChange::add(1).upsert("k", "v"))],
        )])
        .unwrap();
    // Damage one row's attributes behind the store's back.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE memberships SET attributes = x'ff00' WHERE member = 'bad'")
        .unwrap();
    let failing = vec![Message::membership(
        "m1",
        2,
        vec![
            MemberChange::with_mpid("a-first").audience(AudienceChange::add(1)),
            MemberChange::with_mpid("bad").audience(AudienceChange::add(1).upsert("k", "w")),
        ],
    )];
    let good = vec![add("m2", 3, &["good"])];
    let results = with_queued(&store, vec![failing, good]);
    let err = results[0].as_ref().unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("(the attributes of member \"bad\" in audience 1 are unreadable)")
    );
    assert_eq!(results[1].as_ref().unwrap().adds, 1);
    // Nothing of the failing batch is there (not even its first profile, nor its id).
    let raw = rusqlite::Connection::open(&path).unwrap();
    let members: Vec<String> = raw
        .prepare("SELECT member FROM memberships ORDER BY member")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(members, vec!["bad", "blocker", "good"]);
    let ids: i64 = raw
        .query_row("SELECT count(*) FROM messages WHERE id = 'm1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(ids, 0);
    assert_eq!(store.audience(1).unwrap().unwrap().members, 3);
    // The damage is reported, not skipped, when a snapshot reaches it.
    let err = store
        .snapshot(1)
        .unwrap()
        .read_into(&mut Vec::new(), 1 << 20)
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

#[test]
fn purge_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.purge_rows = 3;
    opts.retention_days = 1;
    let store = SqliteStore::open(dir.path().join("store.db"), opts).unwrap();
    let batch: Vec<Message> = (0..10).map(|i| add(&format!("m{i}"), i, &["1"])).collect();
    store.apply(&batch).unwrap();
    let mut calls = Vec::new();
    loop {
        let p = store.purge(10 * 86_400_000).unwrap();
        calls.push(p.message_ids);
        if !p.more {
            break;
        }
    }
    assert_eq!(calls, vec![3, 3, 3, 1]);
    assert_eq!(store.stats().unwrap().message_ids, 0);
}

#[test]
fn the_wal_stays_bounded_under_continuous_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut opts = options();
    opts.wal_limit_mib = 1;
    let store = SqliteStore::open(&path, opts).unwrap();
    let wal = dir.path().join("store.db-wal");
    let mut largest = 0;
    for b in 0..60 {
        let mpids: Vec<String> = (0..300)
            .map(|i| format!("{b}-{i}-{}", "x".repeat(40)))
            .collect();
        let mpids: Vec<&str> = mpids.iter().map(String::as_str).collect();
        store.apply(&[add(&format!("m{b}"), b, &mpids)]).unwrap();
        largest = largest.max(std::fs::metadata(&wal).unwrap().len());
    }
    // 60 commits of about 40 pages each (about 10 MB in all) never left more than the limit
    // plus one commit's frames behind.
    assert!(largest < 2 << 20, "the WAL grew to {largest} bytes");
    assert_eq!(suite::keys(&store, 1).len(), 18_000);
}

// ---------------------------------------------------------------------------------------------
// Crashes.

const CRASH_DIR: &str = "AUDIENCE_STORE_CRASH_DIR";
const CRASH_ROUND: &str = "AUDIENCE_STORE_CRASH_ROUND";
const PER_BATCH: usize = 40;
const CRASH_THREADS: u64 = 2;

/// Batch `n`: exactly `PER_BATCH` members tagged `n`, so a partial batch would show.
fn crash_batch(n: u64) -> Message {
    Message::membership(
        format!("batch-{n}"),
        i64::try_from(n).unwrap(),
        (0..PER_BATCH)
            .map(|i| {
                MemberChange::with_mpid(format!("{n:09}-{i:02}"))
                    .user_identity("email", "raw", format!("{n}.{i}@x.com"))
                    .audience(AudienceChange::add(1).upsert("batch", n.to_string()))
            })
            .collect(),
    )
}

fn crash_number(round: u64, thread: u64, j: u64) -> u64 {
    round * 1_000_000 + thread * 100_000 + j
}

/// The child: applies numbered batches from two threads, printing each number after `apply`
/// returns, until it is killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let round: u64 = std::env::var(CRASH_ROUND).unwrap().parse().unwrap();
    let store = SqliteStore::open(PathBuf::from(dir).join("store.db"), options()).unwrap();
    std::thread::scope(|s| {
        for t in 0..CRASH_THREADS {
            let store = &store;
            s.spawn(move || {
                for j in 0..50_000 {
                    let n = crash_number(round, t, j);
                    store.apply(&[crash_batch(n)]).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "applied {n}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

fn batches_in(store: &SqliteStore) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for key in suite::keys(store, 1) {
        *counts.entry(key[..9].parse::<u64>().unwrap()).or_default() += 1;
    }
    counts
}

#[test]
fn a_killed_writer_leaves_only_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    let mut random = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    let mut printed: Vec<u64> = Vec::new();
    let rounds = 5;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_DIR, dir.path())
            .env(CRASH_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("applied ")
                        .map(|n| n.parse::<u64>().unwrap())
                })
                .collect::<Vec<_>>()
        });
        // Let it get going (a few batches at least), then kill it at a random moment.
        std::thread::sleep(Duration::from_millis(150 + random(400)));
        child.kill().unwrap();
        child.wait().unwrap();
        let got = reader.join().unwrap();
        assert!(
            !got.is_empty(),
            "round {round}: the child applied nothing before it was killed"
        );
        printed.extend(got);

        let store = SqliteStore::open(&path, options()).unwrap();
        let present = batches_in(&store);
        for (n, count) in &present {
            assert_eq!(
                *count, PER_BATCH,
                "batch {n} is partial after round {round}"
            );
        }
        for n in &printed {
            assert!(
                present.contains_key(n),
                "batch {n} was acknowledged but is missing"
            );
        }
    }

    // Re-applying everything (the acknowledged batches and the ones that may have been in
    // flight) reaches the reference state.
    let mut all: Vec<u64> = Vec::new();
    for round in 0..rounds {
        for t in 0..CRASH_THREADS {
            let last = printed
                .iter()
                .copied()
                .filter(|&n| n / 100_000 == round * 10 + t)
                .max()
                .map_or(0, |n| n % 100_000);
            all.extend((0..=last + 2).map(|j| crash_number(round, t, j)));
        }
    }
    let store = SqliteStore::open(&path, options()).unwrap();
    for chunk in all.chunks(50) {
        let batch: Vec<Message> = chunk.iter().map(|&n| crash_batch(n)).collect();
        store.apply(&batch).unwrap();
    }
    let reference = SqliteStore::open(dir.path().join("reference.db"), options()).unwrap();
    for chunk in all.chunks(50) {
        let batch: Vec<Message> = chunk.iter().map(|&n| crash_batch(n)).collect();
        reference.apply(&batch).unwrap();
    }
    assert_eq!(store.audiences().unwrap(), reference.audiences().unwrap());
    assert_eq!(suite::snapshot(&store, 1), suite::snapshot(&reference, 1));
    println!(
        "{} batches acknowledged over {rounds} kills; {} batches in the final state",
        printed.len(),
        all.len()
    );
}

#[test]
fn errors_say_whether_to_retry() {
    let path = PathBuf::from("/x/store.db");
    let transient = [
        Error::Busy {
            path: path.clone(),
            detail: String::new(),
        },
        Error::DiskFull {
            path: path.clone(),
            detail: String::new(),
        },
        Error::Io {
            path: path.clone(),
            detail: String::new(),
        },
        Error::ShuttingDown { path: path.clone() },
    ];
    assert!(transient.iter().all(Error::is_transient));
    let permanent = [
        Error::Corrupt {
            path: path.clone(),
            detail: String::new(),
        },
        Error::NewerSchema {
            path: path.clone(),
            found: 2,
            supported: 1,
        },
        Error::UnknownAudience { id: 1 },
        Error::ReadOnly {
            path: path.clone(),
            detail: String::new(),
        },
        Error::CannotOpen {
            path,
            detail: String::new(),
        },
    ];
    assert!(!permanent.iter().any(Error::is_transient));
    assert_eq!(
        Error::DiskFull {
            path: "/x/store.db".into(),
            detail: "database or disk is full".into()
        }
        .to_string(),
        "disk full while writing the store file /x/store.db (database or disk is full): free \
         space on that disk (or run `purge`), then retry"
    );
}

#[test]
fn asking_for_an_unknown_audience_does_not_leave_a_stale_reader() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("a.db"), options()).unwrap();
    store.apply(&[add("m-1", 10, &["1"])]).unwrap();
    // Every pooled reader asks for an audience that does not exist...
    for _ in 0..8 {
        assert!(matches!(
            store.snapshot(999).err(),
            Some(Error::UnknownAudience { id: 999 })
        ));
    }
    // ...and still sees what is applied afterwards.
    store.apply(&[add("m-2", 20, &["2", "3"])]).unwrap();
    for _ in 0..8 {
        let members: u64 = store.audiences().unwrap().iter().map(|a| a.members).sum();
        assert_eq!(members, 3);
        let mut snapshot = store.snapshot(store.audiences().unwrap()[0].id).unwrap();
        let mut buf = Vec::new();
        while snapshot.read_into(&mut buf, 1 << 20).unwrap() > 0 {}
        assert_eq!(String::from_utf8(buf).unwrap().lines().count(), 3);
    }
}

/// A version 1 file (before data subject requests) is migrated to version 2 on open, keeps
/// its data, and gets its own random salt.
#[test]
fn migrates_a_version_1_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(liveramp_audience_store::SCHEMA).unwrap();
        raw.execute_batch(
            "INSERT INTO members VALUES ('9', 1, 'm', 0, '\"mpid\":\"9\",\"user_identities\":[],\"device_identities\":[]');
             INSERT INTO memberships (audience, member, present, ts, mid, seq) VALUES (1, '9', 1, 1, 'm', 1);
             INSERT INTO audiences (id, members, newest_change_ms) VALUES (1, 1, 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(suite::keys(&store, 1), vec!["9"]);
    let erase = liveramp_audience_store::SubjectRequest::new(
        "r",
        liveramp_audience_store::RequestKind::Erasure,
        5,
    )
    .identity("mpid", "raw", "9");
    assert_eq!(
        store
            .record_subject_request(&erase)
            .unwrap()
            .record
            .members_removed,
        1
    );
    assert!(suite::keys(&store, 1).is_empty());
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let (version, salt): (i64, Vec<u8>) = raw
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), value FROM secrets",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, salt.len()), (2, 32));
    let other = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(other.path().join("s.db"), options()).unwrap());
    let other_salt: Vec<u8> = rusqlite::Connection::open(other.path().join("s.db"))
        .unwrap()
        .query_row("SELECT value FROM secrets", [], |r| r.get(0))
        .unwrap();
    assert_ne!(salt, other_salt, "each store draws its own salt");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes of the store file and its WAL (the WAL may be absent).
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(PathBuf::from(wal)).unwrap_or_default());
    bytes
}

/// After an erasure the person's email, phone and IDFA are in no byte of the database file or
/// its WAL, although the person's identities were rewritten several times before, among
/// enough other members to fill many pages; the store keeps running, and the audit record
/// holds no identity value either.
#[test]
fn an_erased_person_leaves_no_bytes_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, options()).unwrap();
    let email = "erase.me.please@example.com";
    let phone = "2125550199";
    let idfa = "6D92078A-8246-4BA4-AE5B-76104861E7DC";
    for audience in 1..=3 {
        let connect = Message::subscription(
            format!("connect-{audience}"),
            500,
            audience,
            "A",
            liveramp_audience_store::SubscriptionAction::Connect,
        );
        store.apply(&[connect]).unwrap();
    }
    for round in 0..5i64 {
        let mut profiles: Vec<MemberChange> = (0..2_000)
            .map(|i| {
                MemberChange::with_mpid(format!("{}", 1_000 + i))
                    .user_identity(
                        "email",
                        "raw",
                        format!("member{i}.round{round}@example.com"),
                    )
                    .audience(AudienceChange::add(1).upsert("$City", format!("city {round}")))
            })
            .collect();
        profiles.push(
            MemberChange::with_mpid("42")
                .user_identity("email", "raw", email)
                .user_identity("mobile_number", "raw", phone)
                .device_identity("ios_advertising_id", "raw", idfa)
                .audience(
                    AudienceChange::add(1)
                        .upsert("$Mobile", phone)
                        .upsert("round", round.to_string()),
                )
                .audience(AudienceChange::add(2))
                .audience(AudienceChange::add(3)),
        );
        store
            .apply(&[Message::membership(
                format!("round-{round}"),
                1_000 + round,
                profiles,
            )])
            .unwrap();
    }
    // Other members leave, so that pages go to the freelist with old rows in them.
    let leave: Vec<MemberChange> = (0..1_000)
        .map(|i| {
            MemberChange::with_mpid(format!("{}", 1_000 + i)).audience(AudienceChange::delete(1))
        })
        .collect();
    store
        .apply(&[Message::membership("leave", 2_000, leave)])
        .unwrap();
    let mut purge_now = 2_000 + 31 * 86_400_000;
    while store.purge(purge_now).unwrap().more {
        purge_now += 1;
    }
    assert!(
        contains(&file_bytes(&path), email.as_bytes()),
        "the test needs the email on disk"
    );

    let erase = liveramp_audience_store::SubjectRequest::new(
        "0b7d5a0e-erasure",
        liveramp_audience_store::RequestKind::Erasure,
        3_000,
    )
    .identity("email", "raw", "Erase.Me.Please@Example.com");
    let rec = store.record_subject_request(&erase).unwrap().record;
    assert_eq!((rec.members_removed, rec.memberships_removed), (1, 3));

    // The checkpoint thread empties the WAL (nothing else reads now).
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let start = Instant::now();
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the WAL was not truncated"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let bytes = file_bytes(&path);
    for needle in [email, phone, idfa, "Erase.Me.Please"] {
        assert!(
            !contains(&bytes, needle.as_bytes()),
            "{needle} is still in the file"
        );
    }
    // The store goes on; the others are still there.
    assert_eq!(suite::keys(&store, 1).len(), 1_000);
    store.apply(&[add("after", purge_now, &["7"])]).unwrap();
    assert_eq!(suite::keys(&store, 1).len(), 1_001);
}
