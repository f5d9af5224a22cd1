//! Several processes on one state folder: the OS locks keep a delivery to one process at a
//! time, a killed process leaves no lock behind, and SIGTERM stops a runner cleanly.
//!
//! The children are this test binary run again with `LIVERAMP_SCHEDULER_TEST_ROLE` set, which
//! makes `child_process_role` play that role instead of its in-process check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use liveramp_scheduler::{
    Begin, Delivered, DeliveredFile, DeliveryId, Entry, Event, FileLedger, Ledger, Outcome, Plan,
    RunKey, Runner, Schedule, SystemClock,
};

const ROLE: &str = "LIVERAMP_SCHEDULER_TEST_ROLE";
const DIR: &str = "LIVERAMP_SCHEDULER_TEST_DIR";
const KEYS: usize = 12;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn run_date() -> NaiveDate {
    "2026-03-09".parse().unwrap()
}

fn key(i: usize) -> RunKey {
    DeliveryId::new("acme", format!("aud{i}"), "device").on(run_date())
}

fn delivered(tag: &str) -> Delivered {
    Delivered {
        files: vec![DeliveredFile {
            name: format!("{tag}.csv"),
            rows: 25,
            bytes: 1,
            sha256: "00".into(),
        }],
        header_fingerprint: "IDFA".into(),
    }
}

fn spawn(role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_role",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(DIR, dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (polling every few milliseconds, at most a minute) for a marker file.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn touch(path: &Path) {
    std::fs::write(path, b"").unwrap();
}

/// Delivers every key once, with other workers possibly racing for the same keys.
fn race_worker(dir: &Path, tag: &str) {
    let ledger = FileLedger::open(dir).unwrap();
    let mut pending: BTreeSet<usize> = (0..KEYS).collect();
    while !pending.is_empty() {
        for i in pending.clone() {
            match ledger.begin(&key(i), Utc::now(), false).unwrap() {
                Begin::Claimed(claim) => {
                    // The "upload": a line in a shared log, written while holding the claim.
                    let mut log = OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(dir.join("uploads.log"))
                        .unwrap();
                    log.write_all(format!("{i} {tag}\n").as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_millis(2));
                    ledger
                        .finish(claim, Utc::now(), Outcome::Delivered(delivered(tag)))
                        .unwrap();
                    pending.remove(&i);
                }
                Begin::AlreadyDelivered(_) => {
                    pending.remove(&i);
                }
                Begin::Busy => {}
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every key uploaded exactly once and recorded as one attempt, delivered.
fn check_each_delivered_once(dir: &Path) {
    let log = std::fs::read_to_string(dir.join("uploads.log")).unwrap();
    let uploaded: Vec<usize> = log
        .lines()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let mut sorted = uploaded.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..KEYS).collect::<Vec<_>>(), "uploads: {log}");
    let ledger = FileLedger::open(dir).unwrap();
    assert!(ledger.torn_tails().is_empty());
    assert_eq!(ledger.entry_count(), 2 * KEYS as u64);
    for i in 0..KEYS {
        let status = ledger.status(&key(i)).unwrap();
        assert_eq!((status.attempts, status.in_progress), (1, false), "key {i}");
        assert!(status.delivered.is_some());
    }
}

#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(ROLE) else {
        // In this process: one worker alone delivers every key exactly once.
        let dir = tempfile::tempdir().unwrap();
        race_worker(dir.path(), "solo");
        check_each_delivered_once(dir.path());
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    match role.as_str() {
        "try" => {
            let ledger = FileLedger::open(&dir).unwrap();
            let answer = match ledger.begin(&key(0), Utc::now(), false).unwrap() {
                Begin::Busy => "busy",
                Begin::AlreadyDelivered(_) => "already delivered",
                Begin::Claimed(_) => "claimed",
            };
            std::fs::write(dir.join("answer"), answer).unwrap();
        }
        "race" => race_worker(&dir, &std::process::id().to_string()),
        "hold" => {
            let ledger = FileLedger::open(&dir).unwrap();
            let Begin::Claimed(_claim) = ledger
                .begin(&key(0), utc("2026-03-09T04:00:00Z"), false)
                .unwrap()
            else {
                panic!("expected to claim");
            };
            touch(&dir.join("claimed"));
            // Hold the claim until killed.
            std::thread::sleep(Duration::from_secs(120));
        }
        "serve" => {
            let ledger = FileLedger::open(&dir).unwrap();
            let plan = Plan::new(Schedule::default(), vec![key(0).delivery]);
            let mut runner = Runner::new(plan, SystemClock, ledger).unwrap();
            let cancel = runner.cancel_handle();
            ctrlc::set_handler(move || cancel.cancel()).unwrap();
            runner
                .run(|job| {
                    touch(&dir.join("delivering"));
                    // A long upload that gives up when asked to stop.
                    while !job.cancel.wait_timeout(Duration::from_millis(10)) {}
                    Err::<Delivered, _>("upload aborted: the scheduler is shutting down")
                })
                .unwrap();
            touch(&dir.join("stopped"));
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_delivery_held_by_another_process_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let Begin::Claimed(claim) = ledger
        .begin(&key(0), utc("2026-03-09T04:00:00Z"), false)
        .unwrap()
    else {
        panic!("expected to claim");
    };
    let ask = || {
        assert!(spawn("try", dir.path()).wait().unwrap().success());
        std::fs::read_to_string(dir.path().join("answer")).unwrap()
    };
    assert_eq!(ask(), "busy");
    ledger
        .finish(
            claim,
            utc("2026-03-09T04:01:00Z"),
            Outcome::Delivered(delivered("x")),
        )
        .unwrap();
    assert_eq!(ask(), "already delivered");
}

#[test]
fn racing_processes_deliver_each_run_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<Child> = (0..4).map(|_| spawn("race", dir.path())).collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    check_each_delivered_once(dir.path());
}

#[test]
fn a_killed_process_leaves_no_lock_and_its_attempt_is_marked_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn("hold", dir.path());
    wait_for(&dir.path().join("claimed"));
    let ledger = FileLedger::open(dir.path()).unwrap();
    assert!(matches!(
        ledger
            .begin(&key(0), utc("2026-03-09T04:00:30Z"), false)
            .unwrap(),
        Begin::Busy
    ));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let Begin::Claimed(claim) = ledger
        .begin(&key(0), utc("2026-03-09T04:01:00Z"), false)
        .unwrap()
    else {
        panic!("the dead process's lock should be gone");
    };
    assert_eq!(claim.attempt(), 2);
    ledger
        .finish(
            claim,
            utc("2026-03-09T04:01:01Z"),
            Outcome::Delivered(delivered("y")),
        )
        .unwrap();
    let events: Vec<Event> = std::fs::read_to_string(ledger.journal_path())
        .unwrap()
        .lines()
        .map(|l| Entry::from_json_line(l.as_bytes()).unwrap().event)
        .collect();
    assert_eq!(events.len(), 4);
    assert!(
        matches!(&events[1], Event::Failed { error } if error.starts_with("interrupted: attempt 1"))
    );
}

#[test]
fn sigterm_stops_a_runner_mid_delivery_with_the_outcome_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn("serve", dir.path());
    wait_for(&dir.path().join("delivering"));
    // The shell's built-in `kill`: no procps needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    assert!(dir.path().join("stopped").exists());
    let ledger = FileLedger::open(dir.path()).unwrap();
    let delivery = key(0).delivery;
    let today = Schedule::default().latest_run(Utc::now()).unwrap().date;
    let status = ledger.status(&delivery.on(today)).unwrap();
    assert_eq!((status.attempts, status.in_progress), (1, false));
    assert_eq!(
        status.last_error.as_deref(),
        Some("upload aborted: the scheduler is shutting down")
    );
}
