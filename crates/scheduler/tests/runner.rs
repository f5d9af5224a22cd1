//! `Runner` and `Plan::due_runs` with a manual clock: catch-up, retries, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use liveramp_scheduler::{
    AttemptResult, CatchUp, Clock, Delivered, DeliveredFile, DeliveryId, Entry, Event, FileLedger,
    Job, Ledger, ManualClock, Plan, Runner, RunnerOptions, Schedule, SystemClock,
};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn stream() -> DeliveryId {
    DeliveryId::new("acme", "17095", "device")
}

fn files(job: &Job<'_>) -> Delivered {
    Delivered {
        files: vec![DeliveredFile {
            name: format!(
                "3242_{}-D_{}.csv",
                job.key.delivery.audience, job.key.run_date
            ),
            rows: 25,
            bytes: 100,
            sha256: "00".into(),
        }],
        header_fingerprint: "IDFA".into(),
    }
}

fn options() -> RunnerOptions {
    RunnerOptions {
        max_sleep: Duration::from_secs(600),
        retry_delay: Duration::from_secs(600),
    }
}

/// (event, run date, at) for every journal entry.
fn journal(ledger: &FileLedger) -> Vec<(String, String, String)> {
    std::fs::read_to_string(ledger.journal_path())
        .unwrap()
        .lines()
        .map(|line| {
            let entry = Entry::from_json_line(line.as_bytes()).unwrap();
            let event = match entry.event {
                Event::Started { attempt, .. } => format!("started {attempt}"),
                Event::Delivered(_) => "delivered".into(),
                Event::Failed { error } => format!("failed: {error}"),
            };
            (
                event,
                entry.key.run_date.to_string(),
                entry.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
        })
        .collect()
}

/// Delivers 2026-03-05's run at its time, then the machine is off for three days.
fn ledger_with_a_delivery_before_the_outage(dir: &std::path::Path) -> FileLedger {
    let ledger = FileLedger::open(dir).unwrap();
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let clock = ManualClock::new(utc("2026-03-05T05:00:00Z"));
    let mut runner = Runner::new(plan, &clock, &ledger).unwrap();
    let attempts = runner.run_due(|job| Ok::<_, String>(files(job))).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].key.run_date, day("2026-03-05"));
    ledger
}

#[test]
fn catch_up_after_a_three_day_outage() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_a_delivery_before_the_outage(dir.path());
    // Back on 2026-03-09 at 10:00 EDT: the nights of the 6th, 7th, 8th and 9th were missed.
    let now = utc("2026-03-09T14:00:00Z");
    let dates = |catch_up| {
        let plan = Plan {
            catch_up,
            ..Plan::new(Schedule::default(), vec![stream()])
        };
        plan.due_runs(now, &ledger)
            .unwrap()
            .into_iter()
            .map(|due| (due.key.run_date.to_string(), due.scheduled_at.to_rfc3339()))
            .collect::<Vec<_>>()
    };
    // Default: only the most recent missed night (each upload is a full snapshot).
    assert_eq!(
        dates(CatchUp::MostRecent),
        [(
            "2026-03-09".to_owned(),
            "2026-03-09T04:00:00+00:00".to_owned()
        )]
    );
    assert_eq!(
        dates(CatchUp::LastNights(3)),
        [
            (
                "2026-03-07".to_owned(),
                "2026-03-07T05:00:00+00:00".to_owned()
            ),
            (
                "2026-03-08".to_owned(),
                "2026-03-08T05:00:00+00:00".to_owned()
            ),
            (
                "2026-03-09".to_owned(),
                "2026-03-09T04:00:00+00:00".to_owned()
            ),
        ]
    );
    // Never older than the last delivered night.
    assert_eq!(dates(CatchUp::LastNights(30)).len(), 4);

    // The runner delivers the catch-up night once, then waits for the next midnight.
    let clock = ManualClock::new(now);
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let mut runner = Runner::new(plan, &clock, &ledger)
        .unwrap()
        .with_options(options());
    let cancel = runner.cancel_handle();
    let mut seen = Vec::new();
    runner
        .run(|job| {
            seen.push((
                job.key.run_date,
                job.previous.map(|p| p.run_date),
                clock.now(),
            ));
            if job.key.run_date == day("2026-03-11") {
                cancel.cancel();
            }
            Ok::<_, String>(files(job))
        })
        .unwrap();
    assert_eq!(
        seen,
        [
            (day("2026-03-09"), Some(day("2026-03-05")), now),
            (
                day("2026-03-10"),
                Some(day("2026-03-09")),
                utc("2026-03-10T04:00:00Z")
            ),
            (
                day("2026-03-11"),
                Some(day("2026-03-10")),
                utc("2026-03-11T04:00:00Z")
            ),
        ]
    );
    // It slept in bounded steps and never past a midnight.
    let sleeps = clock.sleeps();
    assert!(
        sleeps.iter().all(|s| *s <= Duration::from_secs(600)),
        "{sleeps:?}"
    );
    assert_eq!(
        sleeps.iter().sum::<Duration>(),
        Duration::from_secs(38 * 3600)
    );
    let entries = journal(&ledger);
    assert_eq!(entries.len(), 8);
    assert!(
        entries
            .iter()
            .all(|(event, _, _)| !event.starts_with("failed"))
    );
}

#[test]
fn a_suspended_machine_delays_a_night_but_never_skips_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_a_delivery_before_the_outage(dir.path());
    let clock = ManualClock::new(utc("2026-03-05T06:00:00Z"));
    // The first sleep (asked: 10 minutes) ends three days later.
    clock.suspend_on_next_sleep(utc("2026-03-08T09:30:00Z"));
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let mut runner = Runner::new(plan, &clock, &ledger)
        .unwrap()
        .with_options(options());
    let cancel = runner.cancel_handle();
    let mut seen = Vec::new();
    runner
        .run(|job| {
            seen.push((job.key.run_date, clock.now()));
            cancel.cancel();
            Ok::<_, String>(files(job))
        })
        .unwrap();
    assert_eq!(seen, [(day("2026-03-08"), utc("2026-03-08T09:30:00Z"))]);
}

#[test]
fn the_first_file_goes_out_at_the_first_run_after_connection() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let connected = utc("2026-10-31T15:00:00Z");
    let plan = Plan {
        not_before: Some(connected),
        ..Plan::new(Schedule::default(), vec![stream()])
    };
    assert!(plan.due_runs(connected, &ledger).unwrap().is_empty());
    let due = plan.due_runs(utc("2026-11-01T04:00:00Z"), &ledger).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].key, stream().on(day("2026-11-01")));
}

#[test]
fn failed_deliveries_are_retried_within_the_night_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-11-01T03:00:00Z"));
    // Connected at 23:00 EDT: the first run is at midnight.
    let plan = Plan {
        not_before: Some(clock.now()),
        ..Plan::new(Schedule::default(), vec![stream()])
    };
    assert_eq!(plan.max_attempts, 3);
    let mut runner = Runner::new(plan, &clock, &ledger)
        .unwrap()
        .with_options(options());
    let cancel = runner.cancel_handle();
    runner
        .run(|job| {
            // 2026-11-01 always fails; 2026-11-02 fails once, then works.
            match (job.key.run_date.to_string().as_str(), job.attempt) {
                ("2026-11-02", 2) => {
                    cancel.cancel();
                    Ok(files(job))
                }
                _ => Err(format!(
                    "sftp: connection refused (attempt {})",
                    job.attempt
                )),
            }
        })
        .unwrap();
    let expected = [
        ("started 1", "2026-11-01", "2026-11-01T04:00:00Z"),
        (
            "failed: sftp: connection refused (attempt 1)",
            "2026-11-01",
            "2026-11-01T04:00:00Z",
        ),
        ("started 2", "2026-11-01", "2026-11-01T04:10:00Z"),
        (
            "failed: sftp: connection refused (attempt 2)",
            "2026-11-01",
            "2026-11-01T04:10:00Z",
        ),
        ("started 3", "2026-11-01", "2026-11-01T04:20:00Z"),
        (
            "failed: sftp: connection refused (attempt 3)",
            "2026-11-01",
            "2026-11-01T04:20:00Z",
        ),
        // Left failed; the next night (25 hours later: the clocks fell back) runs as usual.
        ("started 1", "2026-11-02", "2026-11-02T05:00:00Z"),
        (
            "failed: sftp: connection refused (attempt 1)",
            "2026-11-02",
            "2026-11-02T05:00:00Z",
        ),
        ("started 2", "2026-11-02", "2026-11-02T05:10:00Z"),
        ("delivered", "2026-11-02", "2026-11-02T05:10:00Z"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(journal(&ledger), expected);
    let status = ledger.status(&stream().on(day("2026-11-01"))).unwrap();
    assert_eq!(
        status.last_error.as_deref(),
        Some("sftp: connection refused (attempt 3)")
    );
}

#[test]
fn shutdown_mid_wait_stops_promptly_with_a_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(FileLedger::open(dir.path()).unwrap());
    let start = utc("2026-03-09T04:00:00Z");
    let clock = ManualClock::blocking(start);
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let mut runner = Runner::new(plan, clock.clone(), Arc::clone(&ledger)).unwrap();
    let cancel = runner.cancel_handle();
    let worker = std::thread::spawn(move || runner.run(|job| Ok::<_, String>(files(job))));
    // It delivers tonight's run, then waits for the next one.
    assert!(clock.wait_for_sleeper(Duration::from_secs(30)));
    cancel.cancel();
    worker.join().unwrap().unwrap();
    assert_eq!(clock.now(), start);
    assert_eq!(clock.sleeping(), 0);
    let status = ledger.status(&stream().on(day("2026-03-09"))).unwrap();
    assert!(status.delivered.is_some() && !status.in_progress);
    assert_eq!(journal(&ledger).len(), 2);
}

#[test]
fn shutdown_mid_wait_stops_promptly_with_the_system_clock() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    // Nothing due for a long time: the runner sleeps (60 s steps) until cancelled.
    let plan = Plan {
        not_before: Some(utc("2100-01-01T00:00:00Z")),
        ..Plan::new(Schedule::default(), vec![stream()])
    };
    let mut runner = Runner::new(plan, SystemClock, ledger).unwrap();
    let cancel = runner.cancel_handle();
    let worker = std::thread::spawn(move || runner.run(|_| Err::<Delivered, _>("not due")));
    std::thread::sleep(Duration::from_millis(20));
    cancel.cancel();
    worker.join().unwrap().unwrap();
}

#[test]
fn shutdown_mid_delivery_records_the_outcome_and_starts_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let pii = DeliveryId::new("acme", "17095", "pii");
    let clock = ManualClock::new(utc("2026-03-09T04:00:00Z"));
    let plan = Plan::new(Schedule::default(), vec![stream(), pii.clone()]);
    let mut runner = Runner::new(plan, &clock, &ledger).unwrap();
    let cancel = runner.cancel_handle();
    runner
        .run(|job| {
            cancel.cancel(); // SIGTERM arrives during the first upload
            assert!(job.cancel.is_cancelled());
            Err::<Delivered, _>("upload aborted: shutting down")
        })
        .unwrap();
    let device = ledger.status(&stream().on(day("2026-03-09"))).unwrap();
    assert!(!device.in_progress);
    assert_eq!(
        device.last_error.as_deref(),
        Some("upload aborted: shutting down")
    );
    assert_eq!(
        ledger.status(&pii.on(day("2026-03-09"))).unwrap().attempts,
        0
    );
}

#[test]
fn a_panicking_delivery_is_recorded_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-09T04:00:00Z"));
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let mut runner = Runner::new(plan, &clock, &ledger).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner.run_due(|_| -> Result<Delivered, String> { panic!("boom") })
    }));
    assert!(result.is_err());
    let status = ledger.status(&stream().on(day("2026-03-09"))).unwrap();
    assert!(!status.in_progress);
    assert_eq!(
        status.last_error.as_deref(),
        Some("the delivery panicked: boom")
    );
}

#[test]
fn forced_redelivery_and_already_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-09T04:00:00Z"));
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let mut runner = Runner::new(plan, &clock, &ledger).unwrap();
    let key = stream().on(day("2026-03-09"));
    let first = runner
        .deliver_now(&key, false, |job| Ok::<_, String>(files(job)))
        .unwrap();
    assert_eq!(first.result, AttemptResult::Delivered { attempt: 1 });
    let again = runner
        .deliver_now(&key, false, |job| Ok::<_, String>(files(job)))
        .unwrap();
    assert_eq!(again.result, AttemptResult::AlreadyDelivered);
    let forced = runner
        .deliver_now(&key, true, |job| {
            assert!(job.forced);
            assert_eq!(job.previous.unwrap().run_date, day("2026-03-09"));
            Ok::<_, String>(files(job))
        })
        .unwrap();
    assert_eq!(forced.result, AttemptResult::Delivered { attempt: 2 });
    // The runner itself never repeats it.
    assert!(
        runner
            .run_due(|job| Ok::<_, String>(files(job)))
            .unwrap()
            .is_empty()
    );
    // An invalid plan is refused.
    let bad = Plan {
        max_attempts: 0,
        ..Plan::default()
    };
    let err = Runner::new(bad, &clock, &ledger).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid plan: max_attempts is 0, so nothing would ever run: set it to 1 or more"
    );
}

#[test]
fn a_clock_set_backwards_never_sends_twice() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-09T04:00:00Z"));
    // After tonight's delivery the clock is corrected back by two hours, across the midnight.
    clock.suspend_on_next_sleep(utc("2026-03-09T02:00:00Z"));
    let plan = Plan::new(Schedule::default(), vec![stream()]);
    let mut runner = Runner::new(plan, &clock, &ledger)
        .unwrap()
        .with_options(options());
    let cancel = runner.cancel_handle();
    let mut seen = Vec::new();
    runner
        .run(|job| {
            seen.push((job.key.run_date, clock.now()));
            if seen.len() == 3 {
                cancel.cancel();
            }
            Ok::<_, String>(files(job))
        })
        .unwrap();
    // 2026-03-08's run (05:00Z) was before the jump back and is due again by the clock, but
    // the day after was delivered: it is superseded. Then the nights go on as usual.
    assert_eq!(
        seen,
        [
            (day("2026-03-09"), utc("2026-03-09T04:00:00Z")),
            (day("2026-03-10"), utc("2026-03-10T04:00:00Z")),
            (day("2026-03-11"), utc("2026-03-11T04:00:00Z")),
        ]
    );
}

#[test]
fn manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(utc("2026-03-09T04:00:00Z"));
    clock.advance(Duration::from_secs(90));
    assert_eq!(clock.now(), utc("2026-03-09T04:01:30Z"));
    clock.advance(chrono::TimeDelta::minutes(-2));
    assert_eq!(clock.now(), utc("2026-03-09T03:59:30Z"));
    clock.set(utc("2027-01-01T00:00:00Z"));
    let cancel = liveramp_scheduler::CancelHandle::new();
    clock.sleep(Duration::from_secs(5), &cancel);
    assert_eq!(clock.now(), utc("2027-01-01T00:00:05Z"));
    cancel.cancel();
    clock.sleep(Duration::from_secs(5), &cancel);
    assert_eq!(clock.now(), utc("2027-01-01T00:00:05Z"));
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(5), Duration::from_secs(5)]
    );
}
