//! The nightly schedule (12am US Eastern across DST), catch-up of missed nights and a
//! crash-safe, locked run ledger.
//!
//! The connector uploads each audience to `LiveRamp` "nightly at 12am EST". This crate decides
//! *when* (a [`Schedule`]), *what* is due ([`Plan::due_runs`]: tonight's run plus catch-up of
//! missed nights), remembers *what happened* (a [`Ledger`], by default the [`FileLedger`]
//! journal), and runs the loop ([`Runner`]) with a [`Clock`] that tests replace by a
//! [`ManualClock`]. It knows nothing of file formats or SFTP: the caller's closure does the
//! delivery and reports file names, rows, bytes, SHA-256 and a header fingerprint as plain
//! strings and numbers.
//!
//! # "12am EST": US Eastern wall-clock midnight, not UTC-5
//!
//! The seed says "nightly at 12am EST". People writing "EST" mean US Eastern time as the
//! clocks on the wall show it, which is EST (UTC-5) in winter and EDT (UTC-4) in summer, so the
//! default schedule is `00:00` in `America/New_York`: the run is at 05:00 UTC in winter and
//! 04:00 UTC in summer, and it is always the start of the Eastern calendar date that goes in the
//! file names. A fixed offset is still available when spelled explicitly: `timezone = "EST"` is
//! the IANA zone `EST`, UTC-5 all year ([`chrono_tz::Tz::EST`]; since tzdata 2024b it is an
//! alias of `America/Panama`, UTC-5 without DST since 1908; `Etc/GMT+5` is the same offset with
//! no history at all), so in summer it runs at 01:00 EDT. `EST5EDT` is, like
//! `America/New_York`, the DST-observing US Eastern zone.
//!
//! ```
//! use liveramp_scheduler::{Schedule, chrono::{NaiveDate, Utc, DateTime}};
//!
//! let eastern = Schedule::default(); // 00:00 America/New_York
//! let fixed = Schedule::parse("00:00", "EST")?; // 00:00 at UTC-5 all year
//!
//! let winter = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
//! let summer = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
//! let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
//! assert_eq!(eastern.run_at(winter), Some(utc("2026-01-15T05:00:00Z"))); // 00:00 EST
//! assert_eq!(eastern.run_at(summer), Some(utc("2026-07-15T04:00:00Z"))); // 00:00 EDT
//! assert_eq!(fixed.run_at(winter), Some(utc("2026-01-15T05:00:00Z")));
//! assert_eq!(fixed.run_at(summer), Some(utc("2026-07-15T05:00:00Z"))); // 01:00 EDT
//!
//! // The next run after an instant, and the date it carries:
//! let t = utc("2026-03-08T12:00:00Z"); // the day the US springs forward
//! assert_eq!(eastern.next_run_after(t), utc("2026-03-09T04:00:00Z"));
//! assert_eq!(eastern.run_date(eastern.next_run_after(t)), NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
//! # Ok::<(), liveramp_scheduler::Error>(())
//! ```
//!
//! Across DST changes: a configured time that does not exist that night (e.g. `02:30` on
//! 2026-03-08 in New York) runs at the first instant after the gap (03:00 EDT = 07:00 UTC); a
//! time that exists twice (`01:30` on 2026-11-01) runs once, at the first occurrence (EDT).
//!
//! In the connector's TOML configuration a [`Schedule`] reads as
//! `[schedule]` `time = "00:00"` `timezone = "America/New_York"` (both optional); an unknown
//! zone is [`Error::UnknownTimezone`], naming it.
//!
//! # The ledger
//!
//! Every delivery is keyed by (configuration, audience, data type, run date) ([`RunKey`]) and
//! recorded as `started`, then `delivered` (files, rows, bytes, SHA-256, header fingerprint)
//! or `failed` (the error). A delivered run is never repeated unless forced. The
//! [`FileLedger`] keeps a JSON-lines journal in a state folder (one object per line, fsynced
//! per entry, readable by `jq`), survives a crash mid-write (a torn last line is set aside and
//! reported, never fatal) and holds an OS file lock per delivery so two processes never run
//! the same delivery at once. [`Ledger::last_delivered`] answers "which header did `LiveRamp`
//! see last for this stream".
//!
//! # Catch-up and retries
//!
//! [`Plan::due_runs`] returns the most recent scheduled night for every delivery that has not
//! delivered it: after downtime that is the last missed night only ([`CatchUp::MostRecent`],
//! since each upload is a full snapshot), or the last *n* with [`CatchUp::LastNights`]. A
//! failed run is retried by the [`Runner`] after [`RunnerOptions::retry_delay`] within the
//! night, up to [`Plan::max_attempts`], then left failed in the ledger for the next night.
//!
//! # Running
//!
//! ```
//! use liveramp_scheduler::{
//!     chrono::{DateTime, Utc}, AttemptResult, Delivered, DeliveredFile, DeliveryId, FileLedger,
//!     Ledger, ManualClock, Plan, Runner, Schedule,
//! };
//!
//! let state = tempfile::tempdir()?;
//! let ledger = FileLedger::open(state.path())?;
//! let stream = DeliveryId::new("acme", "17095", "device");
//! let plan = Plan::new(Schedule::default(), vec![stream.clone()]);
//! // A test clock at 2026-03-09 09:00 EST: the midnight run (05:00 UTC) was missed.
//! let clock = ManualClock::new("2026-03-09T14:00:00Z".parse::<DateTime<Utc>>()?);
//! let mut runner = Runner::new(plan, clock, ledger)?;
//!
//! let attempts = runner.run_due(|job| -> Result<Delivered, String> {
//!     // Build, encrypt and upload the files for job.key.run_date here.
//!     let name = format!("3242_{}-D_{}.csv", job.key.delivery.audience, job.key.run_date);
//!     Ok(Delivered {
//!         files: vec![DeliveredFile { name, rows: 25, bytes: 1000, sha256: "ab12".into() }],
//!         header_fingerprint: "IDFA".into(),
//!     })
//! })?;
//! assert_eq!(attempts[0].result, AttemptResult::Delivered { attempt: 1 });
//! assert_eq!(attempts[0].key.run_date.to_string(), "2026-03-09");
//!
//! // Delivered once: not due again, and the header LiveRamp saw is on record.
//! assert!(runner.run_due(|_| -> Result<Delivered, String> { unreachable!() })?.is_empty());
//! let last = runner.ledger().last_delivered(&stream)?.unwrap();
//! assert_eq!(last.delivered.header_fingerprint, "IDFA");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Runner::run`] loops until its [`CancelHandle`] is cancelled; wire that to SIGTERM/SIGINT
//! (e.g. `ctrlc::set_handler(move || handle.cancel())`). It sleeps in bounded steps and
//! re-reads the clock, so a suspended machine or a clock change delays a night, never skips
//! it; a delivery in hand when cancelled is finished and recorded before it returns.
#![deny(missing_docs)]

mod clock;
mod error;
mod file_ledger;
mod ledger;
#[cfg(feature = "postgres")]
mod pg_ledger;
mod plan;
mod runner;
mod schedule;

pub use chrono;
pub use chrono_tz;

pub use clock::{CancelHandle, Clock, ClockStep, ManualClock, SystemClock};
pub use error::Error;
pub use file_ledger::{FileLedger, JOURNAL_FILE, LOCKS_DIR, TORN_FILE, TornTail};
pub use ledger::{
    Begin, Claim, Delivered, DeliveredFile, DeliveredRecord, DeliveryId, Entry, Event, Fence,
    Ledger, MemoryLedger, Outcome, RunKey, RunStatus, next_ledger_id,
};
#[cfg(feature = "postgres")]
pub use pg_ledger::{LEDGER_COMPONENT, LEDGER_SCHEMA_VERSION, PgLedger, PgLedgerOptions};
pub use plan::{CatchUp, DueRun, Plan};
pub use runner::{Attempt, AttemptResult, Job, Night, NightsStep, Runner, RunnerOptions};
pub use schedule::{Run, Schedule, parse_time, parse_timezone};
