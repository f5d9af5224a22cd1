//! `FileLedger` and `MemoryLedger`: records, claims, crash recovery, replay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use liveramp_scheduler::{
    Begin, Delivered, DeliveredFile, DeliveryId, Entry, Error, Event, FileLedger, Ledger,
    MemoryLedger, Outcome, RunKey, TORN_FILE, TornTail,
};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn delivered(name: &str, fingerprint: &str) -> Delivered {
    Delivered {
        files: vec![DeliveredFile {
            name: name.into(),
            rows: 25,
            bytes: 1234,
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        }],
        header_fingerprint: fingerprint.into(),
    }
}

fn claim(ledger: &impl Ledger, key: &RunKey, at: &str, force: bool) -> liveramp_scheduler::Claim {
    match ledger.begin(key, utc(at), force).unwrap() {
        Begin::Claimed(claim) => claim,
        other => panic!("expected a claim for {key}, got {other:?}"),
    }
}

fn lifecycle(ledger: &impl Ledger) {
    let stream = DeliveryId::new("acme", "17095", "device");
    let key = stream.on(day("2026-03-09"));
    assert_eq!(ledger.status(&key).unwrap().attempts, 0);
    assert_eq!(ledger.last_delivered(&stream).unwrap(), None);

    let c = claim(ledger, &key, "2026-03-09T04:00:00Z", false);
    assert_eq!((c.attempt(), c.forced()), (1, false));
    assert!(ledger.status(&key).unwrap().in_progress);
    ledger
        .finish(
            c,
            utc("2026-03-09T04:00:05Z"),
            Outcome::Failed("sftp: connection refused".into()),
        )
        .unwrap();
    let status = ledger.status(&key).unwrap();
    assert_eq!((status.attempts, status.in_progress), (1, false));
    assert_eq!(
        status.last_error.as_deref(),
        Some("sftp: connection refused")
    );

    let c = claim(ledger, &key, "2026-03-09T04:10:00Z", false);
    assert_eq!(c.attempt(), 2);
    ledger
        .finish(
            c,
            utc("2026-03-09T04:10:07.250Z"),
            Outcome::Delivered(delivered("3242_17095-D_2026-03-09.csv", "IDFA")),
        )
        .unwrap();
    let status = ledger.status(&key).unwrap();
    assert_eq!(status.last_error, None);
    let record = status.delivered.unwrap();
    assert_eq!(record.run_date, day("2026-03-09"));
    assert_eq!(record.at, utc("2026-03-09T04:10:07.250Z"));

    // Never repeated unless forced.
    match ledger
        .begin(&key, utc("2026-03-09T04:20:00Z"), false)
        .unwrap()
    {
        Begin::AlreadyDelivered(r) => assert_eq!(r.delivered.header_fingerprint, "IDFA"),
        other => panic!("{other:?}"),
    }
    let c = claim(ledger, &key, "2026-03-09T05:00:00Z", true);
    assert_eq!((c.attempt(), c.forced()), (3, true));
    ledger
        .finish(
            c,
            utc("2026-03-09T05:00:01Z"),
            Outcome::Delivered(delivered("3242_17095-D_2026-03-09.csv", "IDFA,AAID")),
        )
        .unwrap();

    // Another date, another stream: the latest delivery per stream, whatever its date.
    let older = stream.on(day("2026-03-07"));
    let c = claim(ledger, &older, "2026-03-09T06:00:00Z", false);
    ledger
        .finish(
            c,
            utc("2026-03-09T06:00:01Z"),
            Outcome::Delivered(delivered("3242_17095-D_2026-03-07.csv", "OLD")),
        )
        .unwrap();
    let last = ledger.last_delivered(&stream).unwrap().unwrap();
    assert_eq!(
        (last.run_date, last.delivered.header_fingerprint.as_str()),
        (day("2026-03-07"), "OLD")
    );
    assert_eq!(
        ledger
            .last_delivered(&DeliveryId::new("acme", "17095", "pii"))
            .unwrap(),
        None
    );
}

#[test]
fn file_ledger_lifecycle_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    lifecycle(&ledger);
    assert_eq!(ledger.entry_count(), 8);
    drop(ledger);
    // A fresh process sees the same state.
    let again = FileLedger::open(dir.path()).unwrap();
    assert_eq!(again.entry_count(), 8);
    let key = DeliveryId::new("acme", "17095", "device").on(day("2026-03-09"));
    let status = again.status(&key).unwrap();
    assert_eq!(status.attempts, 3);
    assert_eq!(
        status.delivered.unwrap().delivered.header_fingerprint,
        "IDFA,AAID"
    );
    assert!(again.torn_tails().is_empty());
}

#[test]
fn memory_ledger_lifecycle() {
    let ledger = MemoryLedger::new();
    lifecycle(&ledger);
    assert_eq!(ledger.entries().len(), 8);
    let replayed = MemoryLedger::from_entries(ledger.entries());
    let key = DeliveryId::new("acme", "17095", "device").on(day("2026-03-09"));
    assert_eq!(replayed.status(&key).unwrap(), ledger.status(&key).unwrap());
}

#[test]
fn journal_is_plain_json_lines_read_by_python() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    lifecycle(&ledger);
    let first = std::fs::read_to_string(ledger.journal_path()).unwrap();
    assert_eq!(
        first.lines().next().unwrap(),
        r#"{"at":"2026-03-09T04:00:00Z","configuration":"acme","audience":"17095","data_type":"device","run_date":"2026-03-09","event":"started","attempt":1}"#
    );
    // An independent JSON reader: every line is one object (what `jq` needs).
    let script = r#"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "delivered":
        f = e["files"][0]
        print(e["run_date"], f["name"], f["rows"], f["bytes"], f["sha256"][:8], e["header_fingerprint"])
    else:
        print(e["run_date"], e["event"], e.get("attempt", ""), e.get("forced", False), e.get("error", ""))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(ledger.journal_path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2026-03-09 started 1 False \n\
         2026-03-09 failed  False sftp: connection refused\n\
         2026-03-09 started 2 False \n\
         2026-03-09 3242_17095-D_2026-03-09.csv 25 1234 9f86d081 IDFA\n\
         2026-03-09 started 3 True \n\
         2026-03-09 3242_17095-D_2026-03-09.csv 25 1234 9f86d081 IDFA,AAID\n\
         2026-03-07 started 1 False \n\
         2026-03-07 3242_17095-D_2026-03-07.csv 25 1234 9f86d081 OLD\n"
    );
}

#[test]
fn two_ledgers_on_one_folder_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLedger::open(dir.path()).unwrap();
    let b = FileLedger::open(dir.path()).unwrap();
    let stream = DeliveryId::new("acme", "17095", "pii");
    let key = stream.on(day("2026-03-09"));
    let c = claim(&a, &key, "2026-03-09T04:00:00Z", false);
    // Same delivery, any date: busy. Another delivery: free.
    assert!(matches!(
        b.begin(&key, utc("2026-03-09T04:00:01Z"), false).unwrap(),
        Begin::Busy
    ));
    assert!(matches!(
        b.begin(
            &stream.on(day("2026-03-08")),
            utc("2026-03-09T04:00:01Z"),
            true
        )
        .unwrap(),
        Begin::Busy
    ));
    let other = claim(
        &b,
        &DeliveryId::new("acme", "17095", "device").on(day("2026-03-09")),
        "2026-03-09T04:00:02Z",
        false,
    );
    // b sees a's start (re-read incrementally).
    assert!(b.status(&key).unwrap().in_progress);
    a.finish(
        c,
        utc("2026-03-09T04:01:00Z"),
        Outcome::Delivered(delivered("x.csv", "EMAIL1")),
    )
    .unwrap();
    assert!(matches!(
        b.begin(&key, utc("2026-03-09T04:02:00Z"), false).unwrap(),
        Begin::AlreadyDelivered(_)
    ));
    // A claim must go back to the ledger that issued it.
    match a.finish(
        other,
        utc("2026-03-09T04:03:00Z"),
        Outcome::Failed("x".into()),
    ) {
        Err(Error::ForeignClaim { key }) => assert_eq!(key, "acme/17095/device on 2026-03-09"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_attempt_without_outcome_is_recorded_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let key = DeliveryId::new("acme", "1", "pii").on(day("2026-03-09"));
    {
        let ledger = FileLedger::open(dir.path()).unwrap();
        let c = claim(&ledger, &key, "2026-03-09T04:00:00Z", false);
        drop(c); // the process dies mid-delivery: the OS releases its lock
    }
    let ledger = FileLedger::open(dir.path()).unwrap();
    assert!(ledger.status(&key).unwrap().in_progress);
    let c = claim(&ledger, &key, "2026-03-09T04:10:00Z", false);
    assert_eq!(c.attempt(), 2);
    ledger
        .finish(
            c,
            utc("2026-03-09T04:10:01Z"),
            Outcome::Delivered(delivered("a.csv", "EMAIL1")),
        )
        .unwrap();
    let text = std::fs::read_to_string(ledger.journal_path()).unwrap();
    let events: Vec<Event> = text
        .lines()
        .map(|l| Entry::from_json_line(l.as_bytes()).unwrap().event)
        .collect();
    assert_eq!(events.len(), 4);
    match &events[1] {
        Event::Failed { error } => assert_eq!(
            error,
            "interrupted: attempt 1 (started 2026-03-09T04:00:00+00:00) recorded no outcome (its process \
             stopped or crashed); check whether its files reached LiveRamp"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events[2],
        Event::Started {
            attempt: 2,
            forced: false
        }
    );
}

fn write_three(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let ledger = FileLedger::open(dir).unwrap();
    let key = DeliveryId::new("acme", "17095", "device").on(day("2026-03-09"));
    let c = claim(&ledger, &key, "2026-03-09T04:00:00Z", false);
    ledger
        .finish(
            c,
            utc("2026-03-09T04:00:01Z"),
            Outcome::Failed("boom".into()),
        )
        .unwrap();
    let c = claim(&ledger, &key, "2026-03-09T04:10:00Z", false);
    drop(c);
    let path = ledger.journal_path().to_path_buf();
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn crash_mid_write_torn_last_line_is_set_aside_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_three(dir.path());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    // Cut the last line in the middle, as a crash during write(2) would.
    let keep = lines[0].len() + 1 + lines[1].len() + 1;
    let cut = keep + 40;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();

    let ledger = FileLedger::open(dir.path()).unwrap();
    assert_eq!(
        ledger.torn_tails(),
        vec![TornTail {
            line: 3,
            offset: keep as u64,
            bytes: 40,
            kept: false
        }]
    );
    assert_eq!(ledger.entry_count(), 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text[..keep]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(TORN_FILE)).unwrap(),
        format!("{}\n", &text[keep..cut])
    );
    let key = DeliveryId::new("acme", "17095", "device").on(day("2026-03-09"));
    let status = ledger.status(&key).unwrap();
    assert_eq!((status.attempts, status.in_progress), (1, false));
    // And it goes on: the next entries are whole lines.
    let c = claim(&ledger, &key, "2026-03-09T04:20:00Z", false);
    assert_eq!(c.attempt(), 2);
    ledger
        .finish(
            c,
            utc("2026-03-09T04:20:01Z"),
            Outcome::Delivered(delivered("a.csv", "IDFA")),
        )
        .unwrap();
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(after.lines().count(), 4);
    assert!(
        after
            .lines()
            .all(|l| Entry::from_json_line(l.as_bytes()).is_ok())
    );
    assert!(
        FileLedger::open(dir.path())
            .unwrap()
            .torn_tails()
            .is_empty()
    );
}

#[test]
fn crash_before_the_newline_keeps_the_whole_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_three(dir.path());
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(text.len() as u64 - 1)
        .unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    assert_eq!(ledger.torn_tails().len(), 1);
    assert!(ledger.torn_tails()[0].kept);
    assert_eq!(ledger.entry_count(), 3);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert!(!dir.path().join(TORN_FILE).exists());
}

#[test]
fn a_damaged_line_before_the_last_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_three(dir.path());
    let damaged = text.replacen("\"event\":\"failed\"", "\"event\":\"exploded\"", 1);
    std::fs::write(&path, damaged).unwrap();
    match FileLedger::open(dir.path()) {
        Err(Error::CorruptJournal {
            line,
            path: p,
            reason,
        }) => {
            assert_eq!(line, 2);
            assert_eq!(p, path);
            assert!(reason.contains("unknown variant `exploded`"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replays_a_long_journal() {
    // 100,000 entries: 25,000 streams x (started, failed, started, delivered), written the way
    // the ledger writes them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let start = utc("2026-01-01T05:00:00Z");
    for i in 0..25_000_u32 {
        let key = DeliveryId::new(
            "acme",
            format!("{}", i % 500),
            if i % 2 == 0 { "device" } else { "pii" },
        )
        .on(day("2026-01-01") + TimeDelta::days(i64::from(i / 500)));
        let at = start + TimeDelta::seconds(i64::from(i));
        let events = [
            Event::Started {
                attempt: 1,
                forced: false,
            },
            Event::Failed {
                error: format!("timeout {i}"),
            },
            Event::Started {
                attempt: 2,
                forced: false,
            },
            Event::Delivered(delivered(&format!("f{i}.csv"), &format!("H{i}"))),
        ];
        for event in events {
            let entry = Entry {
                at,
                key: key.clone(),
                event,
            };
            writeln!(out, "{}", entry.to_json_line()).unwrap();
        }
    }
    drop(out);
    let ledger = FileLedger::open(dir.path()).unwrap();
    assert_eq!(ledger.entry_count(), 100_000);
    let key = DeliveryId::new("acme", "499", "pii").on(day("2026-02-19"));
    let status = ledger.status(&key).unwrap();
    assert_eq!(status.attempts, 2);
    assert_eq!(
        status.delivered.unwrap().delivered.header_fingerprint,
        "H24999"
    );
    // Latest delivery of a stream: the last one in the journal.
    let last = ledger
        .last_delivered(&DeliveryId::new("acme", "0", "device"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.run_date, last.delivered.header_fingerprint.as_str()),
        (day("2026-02-19"), "H24500")
    );

    // A second process appends; the first picks it up incrementally.
    let other = FileLedger::open(dir.path()).unwrap();
    let new_key = DeliveryId::new("acme", "0", "device").on(day("2026-02-20"));
    let c = claim(&other, &new_key, "2026-02-20T05:00:00Z", false);
    other
        .finish(
            c,
            utc("2026-02-20T05:00:01Z"),
            Outcome::Delivered(delivered("n.csv", "NEW")),
        )
        .unwrap();
    let last = ledger
        .last_delivered(&DeliveryId::new("acme", "0", "device"))
        .unwrap()
        .unwrap();
    assert_eq!(last.delivered.header_fingerprint, "NEW");
    assert_eq!(ledger.entry_count(), 100_002);
}
