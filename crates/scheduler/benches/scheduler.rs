//! Ledger replay, ledger appends and schedule arithmetic.
//!
//! `cargo bench -p liveramp-scheduler` prints one line per measurement.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use liveramp_scheduler::{
    Begin, Delivered, DeliveredFile, DeliveryId, Entry, Event, FileLedger, Ledger, Outcome,
    Schedule,
};

fn delivered(i: u32) -> Delivered {
    Delivered {
        files: vec![DeliveredFile {
            name: format!("3242_{i}-D_2026-01-01.csv"),
            rows: 1_000_000,
            bytes: 40_000_000,
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        }],
        header_fingerprint: "IDFA".into(),
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // 1. Replay: a 100,000-entry journal (25,000 runs: started, failed, started, delivered).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let start: DateTime<Utc> = "2026-01-01T05:00:00Z".parse().unwrap();
    let first_day: NaiveDate = "2026-01-01".parse().unwrap();
    for i in 0..25_000_u32 {
        let key = DeliveryId::new("acme", format!("{}", i % 500), "device")
            .on(first_day + TimeDelta::days(i64::from(i / 500)));
        let at = start + TimeDelta::seconds(i64::from(i));
        for event in [
            Event::Started {
                attempt: 1,
                forced: false,
            },
            Event::Failed {
                error: "sftp: connection reset by peer".into(),
            },
            Event::Started {
                attempt: 2,
                forced: false,
            },
            Event::Delivered(delivered(i)),
        ] {
            writeln!(
                out,
                "{}",
                Entry {
                    at,
                    key: key.clone(),
                    event
                }
                .to_json_line()
            )
            .unwrap();
        }
    }
    drop(out);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let secs = best_of(5, || FileLedger::open(dir.path()).unwrap().entry_count());
    println!(
        "ledger replay: 100000 entries ({:.1} MB) in {:.1} ms = {:.0} entries/s",
        bytes as f64 / 1e6,
        secs * 1e3,
        100_000.0 / secs
    );

    // 2. Appends: begin + finish (two fsynced appends and a lock file) per delivery.
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let n = 200_u32;
    let t = Instant::now();
    for i in 0..n {
        let key = DeliveryId::new("acme", format!("{i}"), "pii").on(first_day);
        let Begin::Claimed(claim) = ledger.begin(&key, Utc::now(), false).unwrap() else {
            panic!()
        };
        ledger
            .finish(claim, Utc::now(), Outcome::Delivered(delivered(i)))
            .unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ledger begin+finish (fsync per entry): {n} deliveries in {:.0} ms = {:.2} ms each",
        secs * 1e3,
        secs * 1e3 / f64::from(n)
    );

    // 3. Schedule arithmetic: next_run_after over a year of hourly instants.
    let schedule = Schedule::default();
    let instants: Vec<DateTime<Utc>> = (0..8760).map(|h| start + TimeDelta::hours(h)).collect();
    let secs = best_of(5, || {
        instants.iter().map(|t| schedule.next_run_after(*t)).max()
    });
    println!(
        "next_run_after (America/New_York, midnight): {:.2} us per call",
        secs * 1e6 / 8760.0
    );
    let gap = Schedule::parse("02:30", "America/New_York").unwrap();
    let secs = best_of(5, || instants.iter().map(|t| gap.next_run_after(*t)).max());
    println!(
        "next_run_after (02:30, crossing the spring gap): {:.2} us per call",
        secs * 1e6 / 8760.0
    );
}
