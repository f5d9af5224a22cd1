//! `Runner::nights_due` / `run_nights`: due runs grouped per audience and night, delivered by a
//! closure that claims and records them in the runner's ledger itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use liveramp_scheduler::{
    Begin, CatchUp, Clock, Delivered, DeliveredFile, DeliveryId, FileLedger, Ledger, ManualClock,
    Night, Outcome, Plan, Runner, RunnerOptions, Schedule,
};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn plan() -> Plan {
    let deliveries = ["17095", "200"]
        .iter()
        .flat_map(|a| {
            ["device", "pii"]
                .iter()
                .map(move |t| DeliveryId::new("acme", *a, *t))
        })
        .collect();
    Plan::new(Schedule::default(), deliveries)
}

fn options() -> RunnerOptions {
    RunnerOptions {
        max_sleep: Duration::from_secs(60),
        retry_delay: Duration::from_secs(600),
    }
}

/// Claims and records every run of the night, as the connector does: delivered, or failed
/// with `error` for the data types in `fail`.
fn record(ledger: &FileLedger, clock: &ManualClock, night: &Night<'_>, fail: &[&str]) {
    for run in &night.runs {
        let Begin::Claimed(claim) = ledger.begin(&run.key, clock.now(), false).unwrap() else {
            panic!("not claimed: {}", run.key);
        };
        let outcome = if fail.contains(&run.key.delivery.data_type.as_str()) {
            Outcome::Failed("the server refused".into())
        } else {
            Outcome::Delivered(Delivered {
                files: vec![DeliveredFile {
                    name: format!("{}-{}", run.key.delivery.audience, run.key.run_date),
                    rows: 25,
                    bytes: 1,
                    sha256: "00".into(),
                }],
                header_fingerprint: "H".into(),
            })
        };
        ledger.finish(claim, clock.now(), outcome).unwrap();
    }
}

#[test]
fn due_runs_come_one_night_per_audience_with_every_data_type() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-05T05:00:10Z"));
    let mut runner = Runner::new(plan(), &clock, &ledger)
        .unwrap()
        .with_options(options());
    let mut seen = Vec::new();
    let step = runner
        .nights_due(|night| {
            seen.push((
                night.audience.to_owned(),
                night.run_date,
                night
                    .runs
                    .iter()
                    .map(|r| r.key.delivery.data_type.clone())
                    .collect::<Vec<_>>(),
            ));
            record(&ledger, &clock, night, &[]);
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (
                "17095".to_owned(),
                day("2026-03-05"),
                vec!["device".to_owned(), "pii".to_owned()]
            ),
            (
                "200".to_owned(),
                day("2026-03-05"),
                vec!["device".to_owned(), "pii".to_owned()]
            ),
        ]
    );
    assert_eq!(step.nights.len(), 2);
    // Everything delivered: wake at the next night.
    assert_eq!(step.wake, utc("2026-03-06T05:00:00Z"));
    // And nothing is due again tonight.
    let step = runner.nights_due(|_| Ok::<(), String>(())).unwrap();
    assert!(step.nights.is_empty());
}

#[test]
fn a_failed_run_is_retried_after_the_delay_with_only_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-05T05:00:10Z"));
    let mut plan = plan();
    plan.deliveries.truncate(2); // audience 17095 only
    let mut runner = Runner::new(plan, &clock, &ledger)
        .unwrap()
        .with_options(options());
    let step = runner
        .nights_due(|night| {
            record(&ledger, &clock, night, &["pii"]);
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(
        step.wake,
        utc("2026-03-05T05:10:10Z"),
        "the retry delay after the failure"
    );
    // Before the delay: nothing handed over.
    clock.advance(TimeDelta::minutes(5));
    let step = runner.nights_due(|_| Ok::<(), String>(())).unwrap();
    assert!(step.nights.is_empty());
    // After it: only the PII run, which is then delivered.
    clock.advance(TimeDelta::minutes(6));
    let mut types = Vec::new();
    let step = runner
        .nights_due(|night| {
            types.extend(night.runs.iter().map(|r| r.key.delivery.data_type.clone()));
            record(&ledger, &clock, night, &[]);
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(step.nights, vec![("17095".to_owned(), day("2026-03-05"))]);
    assert_eq!(types, vec!["pii".to_owned()]);
}

#[test]
fn an_error_before_anything_is_recorded_waits_the_retry_delay_and_keeps_the_runs_due() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-05T05:00:10Z"));
    let mut runner = Runner::new(plan(), &clock, &ledger)
        .unwrap()
        .with_options(options());
    let step = runner
        .nights_due(|_| Err("the members file is missing".to_owned()))
        .unwrap();
    assert_eq!(step.nights.len(), 2);
    assert_eq!(
        step.wake,
        utc("2026-03-05T05:10:10Z"),
        "nothing recorded: the retry delay"
    );
    let mut catch_up = plan();
    catch_up.catch_up = CatchUp::LastNights(1);
    assert_eq!(catch_up.due_runs(clock.now(), &ledger).unwrap().len(), 4);
}

#[test]
fn run_nights_stops_when_cancelled_after_the_night_in_hand() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-05T05:00:10Z"));
    let mut runner = Runner::new(plan(), &clock, &ledger)
        .unwrap()
        .with_options(options());
    let cancel = runner.cancel_handle();
    let mut nights = 0;
    runner
        .run_nights(|night| {
            nights += 1;
            record(&ledger, &clock, night, &[]);
            cancel.cancel();
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(nights, 1, "the second audience's night was not started");
}

#[test]
fn a_run_another_process_holds_is_looked_at_again_after_max_sleep() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    let other = FileLedger::open(dir.path()).unwrap();
    let clock = ManualClock::new(utc("2026-03-05T05:00:10Z"));
    let mut plan = plan();
    plan.deliveries.truncate(1);
    let Begin::Claimed(held) = other
        .begin(
            &plan.deliveries[0].on(day("2026-03-05")),
            clock.now(),
            false,
        )
        .unwrap()
    else {
        panic!("not claimed");
    };
    let mut runner = Runner::new(plan, &clock, &ledger)
        .unwrap()
        .with_options(options());
    let step = runner
        .nights_due(|night| {
            let begin = ledger
                .begin(&night.runs[0].key, clock.now(), false)
                .unwrap();
            assert!(matches!(begin, Begin::Busy));
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(step.wake, utc("2026-03-05T05:01:10Z"));
    drop(held);
}

#[test]
fn an_audience_is_not_delivered_for_a_night_before_it_was_connected() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(dir.path()).unwrap();
    // Connected at 15:00 New York on 2026-03-04; the machine was off until the 6th.
    let mut plan = plan();
    plan.catch_up = CatchUp::LastNights(5);
    plan.connected_at
        .insert("200".to_owned(), utc("2026-03-04T20:00:00Z"));
    let clock = ManualClock::new(utc("2026-03-06T06:00:00Z"));
    let due = plan.due_runs(clock.now(), &ledger).unwrap();
    let nights = |audience: &str| -> Vec<NaiveDate> {
        let mut d: Vec<NaiveDate> = due
            .iter()
            .filter(|r| r.key.delivery.audience == audience && r.key.delivery.data_type == "pii")
            .map(|r| r.key.run_date)
            .collect();
        d.dedup();
        d
    };
    assert_eq!(
        nights("17095"),
        [
            "2026-03-02",
            "2026-03-03",
            "2026-03-04",
            "2026-03-05",
            "2026-03-06"
        ]
        .map(day)
    );
    // "The first file(s) will be sent at 12am EST" after connecting: the 5th, then the 6th.
    assert_eq!(nights("200"), ["2026-03-05", "2026-03-06"].map(day));
}
