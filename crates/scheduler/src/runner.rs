//! The loop: wait for the next run, run what is due, record outcomes, stop on request.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::{
    Begin, CancelHandle, Clock, Delivered, DeliveredRecord, DueRun, Error, Ledger, Outcome, Plan,
    RunKey,
};

/// How the [`Runner`] waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunnerOptions {
    /// The longest single sleep (default 60 s). The runner re-reads the clock after each, so
    /// a suspended machine or a clock change delays a run by at most this, never skips it.
    pub max_sleep: Duration,
    /// How long after a failed attempt the run is tried again (default 10 minutes), up to the
    /// plan's `max_attempts`. A run another process holds is tried again after `max_sleep`.
    pub retry_delay: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            max_sleep: Duration::from_secs(60),
            retry_delay: Duration::from_secs(600),
        }
    }
}

/// What the delivery closure is asked to do.
#[derive(Debug)]
pub struct Job<'a> {
    /// Which delivery and run date (the date in the file names).
    pub key: &'a RunKey,
    /// The attempt number (1-based).
    pub attempt: u32,
    /// Whether the run was already delivered and this is a forced repeat.
    pub forced: bool,
    /// The instant the run was scheduled for.
    pub scheduled_at: DateTime<Utc>,
    /// The latest earlier delivery of this stream (its header fingerprint is what `LiveRamp` saw
    /// last).
    pub previous: Option<&'a DeliveredRecord>,
    /// Cancelled when the runner is asked to stop: a long delivery may check it and give up
    /// early (returning an error, which is recorded as the attempt's failure).
    pub cancel: &'a CancelHandle,
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// Delivered and recorded.
    Delivered {
        /// The attempt number.
        attempt: u32,
    },
    /// Failed and recorded.
    Failed {
        /// The attempt number.
        attempt: u32,
        /// The error as recorded.
        error: String,
    },
    /// Already delivered: nothing done.
    AlreadyDelivered,
    /// Another process is running it: nothing done.
    Busy,
}

/// One attempt at one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Which run.
    pub key: RunKey,
    /// What happened.
    pub result: AttemptResult,
}

/// The runs of one audience due on one night (its data types), handed to the closure of
/// [`Runner::run_nights`], which claims and records each run in the runner's ledger itself (so
/// one pass over the audience's members can serve all of them).
#[derive(Debug)]
pub struct Night<'a> {
    /// The audience (the [`DeliveryId::audience`](crate::DeliveryId) of every run).
    pub audience: &'a str,
    /// The run date.
    pub run_date: NaiveDate,
    /// The due runs, in plan order: one per data type.
    pub runs: Vec<&'a DueRun>,
    /// Cancelled when the runner is asked to stop.
    pub cancel: &'a CancelHandle,
}

/// What one step of [`Runner::nights_due`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NightsStep {
    /// The nights handed to the closure, as `(audience, run date)`, in order.
    pub nights: Vec<(String, NaiveDate)>,
    /// When the next step is due (the next night, a retry, or a look at a busy run).
    pub wake: DateTime<Utc>,
}

/// Runs a [`Plan`] night after night, recording every outcome in a [`Ledger`].
#[derive(Debug)]
pub struct Runner<C, L> {
    plan: Plan,
    clock: C,
    ledger: L,
    options: RunnerOptions,
    cancel: CancelHandle,
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned())
}

impl<C: Clock, L: Ledger> Runner<C, L> {
    /// A runner for `plan`, reading time from `clock` and recording in `ledger`.
    pub fn new(plan: Plan, clock: C, ledger: L) -> Result<Self, Error> {
        plan.validate()?;
        Ok(Runner {
            plan,
            clock,
            ledger,
            options: RunnerOptions::default(),
            cancel: CancelHandle::new(),
        })
    }

    /// Replaces the waiting options.
    #[must_use]
    pub fn with_options(mut self, options: RunnerOptions) -> Self {
        self.options = options;
        self
    }

    /// Uses `cancel` as this runner's cancellation handle (e.g. one shared with other loops).
    #[must_use]
    pub fn with_cancel_handle(mut self, cancel: CancelHandle) -> Self {
        self.cancel = cancel;
        self
    }

    /// A handle that stops [`run`](Self::run): call [`CancelHandle::cancel`] from a signal
    /// handler (SIGTERM/SIGINT) or another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan, to change the deliveries between steps.
    pub fn plan_mut(&mut self) -> &mut Plan {
        &mut self.plan
    }

    /// The ledger.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs until cancelled: each step runs the due runs that are ready, then sleeps (at most
    /// [`RunnerOptions::max_sleep`]) towards the next run or retry and re-reads the clock.
    ///
    /// On cancellation it finishes (and records) the delivery in hand, starts no other, and
    /// returns `Ok(())`. It returns an error only when the ledger cannot record, since going
    /// on could send a file twice.
    pub fn run<F, E>(&mut self, mut deliver: F) -> Result<(), Error>
    where
        F: FnMut(&Job<'_>) -> Result<Delivered, E>,
        E: Display,
    {
        tracing::info!(schedule = %self.plan.schedule, deliveries = self.plan.deliveries.len(), "scheduler started");
        while !self.cancel.is_cancelled() {
            let (_, wake) = self.pass(&mut deliver)?;
            if self.cancel.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            if wake > now {
                let until = (wake - now).to_std().unwrap_or(Duration::ZERO);
                self.clock
                    .sleep(until.min(self.options.max_sleep), &self.cancel);
            }
        }
        tracing::info!("scheduler stopped");
        Ok(())
    }

    /// One step: attempts every due run that is ready now (see [`Plan::due_runs`]), in order,
    /// stopping early if cancelled.
    pub fn run_due<F, E>(&mut self, mut deliver: F) -> Result<Vec<Attempt>, Error>
    where
        F: FnMut(&Job<'_>) -> Result<Delivered, E>,
        E: Display,
    {
        self.pass(&mut deliver).map(|(attempts, _)| attempts)
    }

    /// Runs one delivery now, whether or not it is due; with `force`, even if it was delivered
    /// (for an operator's explicit re-send).
    pub fn deliver_now<F, E>(
        &mut self,
        key: &RunKey,
        force: bool,
        mut deliver: F,
    ) -> Result<Attempt, Error>
    where
        F: FnMut(&Job<'_>) -> Result<Delivered, E>,
        E: Display,
    {
        let scheduled_at = self
            .plan
            .schedule
            .run_at(key.run_date)
            .unwrap_or_else(|| self.clock.now());
        self.attempt(key, scheduled_at, force, &mut deliver)
    }

    /// Runs until cancelled, like [`run`](Self::run), but hands the due runs to `deliver` a
    /// [`Night`] at a time (all due runs of one audience and run date, oldest night first,
    /// then by audience), and `deliver` claims and records each run in this runner's ledger
    /// itself. A run that failed is retried after [`RunnerOptions::retry_delay`] up to the
    /// plan's attempts; a run another process holds is looked at again after
    /// [`RunnerOptions::max_sleep`]. An `Err` from `deliver` is logged and the night is
    /// looked at again after the retry delay; what is recorded in the ledger decides.
    ///
    /// On cancellation it lets the night in hand finish and returns `Ok(())`; it returns an
    /// error only when the ledger cannot be read.
    pub fn run_nights<F, E>(&mut self, deliver: F) -> Result<(), Error>
    where
        F: FnMut(&Night<'_>) -> Result<(), E>,
        E: Display,
    {
        self.run_nights_with(|_| {}, deliver)
    }

    /// [`run_nights`](Self::run_nights), calling `refresh` on the plan before each step: for
    /// a set of deliveries that changes while the loop runs (audiences connected to, or
    /// disconnected from, the membership store).
    pub fn run_nights_with<P, F, E>(&mut self, mut refresh: P, mut deliver: F) -> Result<(), Error>
    where
        P: FnMut(&mut Plan),
        F: FnMut(&Night<'_>) -> Result<(), E>,
        E: Display,
    {
        tracing::info!(schedule = %self.plan.schedule, deliveries = self.plan.deliveries.len(), "scheduler started");
        while !self.cancel.is_cancelled() {
            refresh(&mut self.plan);
            let wake = match self.pass_nights(&mut deliver) {
                Ok(step) => step.wake,
                // The shared ledger's database is away: look again soon; the nights due stay
                // due and are caught up once it is back.
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "the ledger cannot be reached; trying again in 5 s");
                    self.clock.now() + chrono::TimeDelta::seconds(5)
                }
                Err(e) => return Err(e),
            };
            if self.cancel.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            if wake > now {
                let until = (wake - now).to_std().unwrap_or(Duration::ZERO);
                self.clock
                    .sleep(until.min(self.options.max_sleep), &self.cancel);
            }
        }
        tracing::info!("scheduler stopped");
        Ok(())
    }

    /// One step of [`run_nights`](Self::run_nights): hands every ready due night to `deliver`;
    /// returns the nights handed over and when to wake up next.
    pub fn nights_due<F, E>(&mut self, mut deliver: F) -> Result<NightsStep, Error>
    where
        F: FnMut(&Night<'_>) -> Result<(), E>,
        E: Display,
    {
        self.pass_nights(&mut deliver)
    }

    fn pass_nights<F, E>(&mut self, deliver: &mut F) -> Result<NightsStep, Error>
    where
        F: FnMut(&Night<'_>) -> Result<(), E>,
        E: Display,
    {
        let now = self.clock.now();
        let mut wake = self.plan.schedule.next_run_after(now);
        let retry = to_delta(self.options.retry_delay);
        let due = self.plan.due_runs(now, &self.ledger)?;
        let mut nights: BTreeMap<(NaiveDate, &str), Vec<&DueRun>> = BTreeMap::new();
        for run in &due {
            if run.status.last_error.is_some()
                && let Some(ready) = run
                    .status
                    .last_finished_at
                    .and_then(|t| t.checked_add_signed(retry))
                && ready > now
            {
                wake = wake.min(ready);
                continue;
            }
            nights
                .entry((run.key.run_date, run.key.delivery.audience.as_str()))
                .or_default()
                .push(run);
        }
        let mut handed = Vec::new();
        for ((run_date, audience), runs) in nights {
            if self.cancel.is_cancelled() {
                break;
            }
            let night = Night {
                audience,
                run_date,
                runs,
                cancel: &self.cancel,
            };
            let failed = deliver(&night).err();
            handed.push((audience.to_owned(), run_date));
            // What the ledger now says decides when to look again.
            let after = self.clock.now();
            let failed = failed.is_some_and(|e| {
                tracing::warn!(audience, %run_date, error = %e, "the night's delivery failed");
                true
            });
            if failed {
                wake = wake.min(after.checked_add_signed(retry).unwrap_or(after));
            }
            for run in &night.runs {
                let status = self.ledger.status(&run.key)?;
                if status.delivered.is_some() {
                    continue;
                }
                let next = if status.last_error.is_some() {
                    if status.attempts >= self.plan.max_attempts {
                        tracing::warn!(run = %run.key, attempts = status.attempts, "delivery failed on its last attempt tonight; left failed in the ledger for the next night");
                        continue;
                    }
                    status
                        .last_finished_at
                        .unwrap_or(after)
                        .checked_add_signed(retry)
                } else if failed {
                    // Not recorded because the night failed before claiming: the retry delay.
                    continue;
                } else {
                    // Not recorded: another process holds it.
                    after.checked_add_signed(to_delta(self.options.max_sleep))
                };
                wake = wake.min(next.unwrap_or(after));
            }
        }
        Ok(NightsStep {
            nights: handed,
            wake,
        })
    }

    /// Attempts the ready due runs; returns them and when to wake up next.
    fn pass<F, E>(&mut self, deliver: &mut F) -> Result<(Vec<Attempt>, DateTime<Utc>), Error>
    where
        F: FnMut(&Job<'_>) -> Result<Delivered, E>,
        E: Display,
    {
        let now = self.clock.now();
        let mut wake = self.plan.schedule.next_run_after(now);
        let retry = to_delta(self.options.retry_delay);
        let recheck = now
            .checked_add_signed(to_delta(self.options.max_sleep))
            .unwrap_or(now);
        let mut attempts = Vec::new();
        for due in self.plan.due_runs(now, &self.ledger)? {
            if self.cancel.is_cancelled() {
                break;
            }
            if due.status.last_error.is_some()
                && let Some(ready) = due
                    .status
                    .last_finished_at
                    .and_then(|t| t.checked_add_signed(retry))
                && ready > now
            {
                wake = wake.min(ready);
                continue;
            }
            let attempt = self.attempt(&due.key, due.scheduled_at, false, deliver)?;
            match &attempt.result {
                AttemptResult::Failed { attempt: n, .. } => {
                    if *n < self.plan.max_attempts {
                        let after = self.clock.now().checked_add_signed(retry).unwrap_or(now);
                        wake = wake.min(after);
                    } else {
                        tracing::warn!(run = %due.key, attempts = n, "delivery failed on its last attempt tonight; left failed in the ledger for the next night");
                    }
                }
                AttemptResult::Busy => wake = wake.min(recheck),
                AttemptResult::Delivered { .. } | AttemptResult::AlreadyDelivered => {}
            }
            attempts.push(attempt);
        }
        Ok((attempts, wake))
    }

    fn attempt<F, E>(
        &mut self,
        key: &RunKey,
        scheduled_at: DateTime<Utc>,
        force: bool,
        deliver: &mut F,
    ) -> Result<Attempt, Error>
    where
        F: FnMut(&Job<'_>) -> Result<Delivered, E>,
        E: Display,
    {
        let previous = self.ledger.last_delivered(&key.delivery)?;
        let claim = match self.ledger.begin(key, self.clock.now(), force)? {
            Begin::Claimed(claim) => claim,
            Begin::AlreadyDelivered(_) => {
                return Ok(Attempt {
                    key: key.clone(),
                    result: AttemptResult::AlreadyDelivered,
                });
            }
            Begin::Busy => {
                tracing::info!(run = %key, "another process is running this delivery; will look again later");
                return Ok(Attempt {
                    key: key.clone(),
                    result: AttemptResult::Busy,
                });
            }
        };
        let n = claim.attempt();
        tracing::info!(run = %key, attempt = n, forced = force, "delivery started");
        let job = Job {
            key,
            attempt: n,
            forced: force,
            scheduled_at,
            previous: previous.as_ref(),
            cancel: &self.cancel,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| deliver(&job)));
        let (recorded, result, panic) = match outcome {
            Ok(Ok(delivered)) => (
                Outcome::Delivered(delivered),
                AttemptResult::Delivered { attempt: n },
                None,
            ),
            Ok(Err(error)) => {
                let error = error.to_string();
                (
                    Outcome::Failed(error.clone()),
                    AttemptResult::Failed { attempt: n, error },
                    None,
                )
            }
            Err(payload) => {
                let error = format!("the delivery panicked: {}", panic_text(payload.as_ref()));
                (
                    Outcome::Failed(error.clone()),
                    AttemptResult::Failed { attempt: n, error },
                    Some(payload),
                )
            }
        };
        self.ledger.finish(claim, self.clock.now(), recorded)?;
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        match &result {
            AttemptResult::Delivered { .. } => {
                tracing::info!(run = %key, attempt = n, "delivered");
            }
            AttemptResult::Failed { error, .. } => {
                tracing::warn!(run = %key, attempt = n, error = %error, "delivery failed");
            }
            AttemptResult::AlreadyDelivered | AttemptResult::Busy => {}
        }
        Ok(Attempt {
            key: key.clone(),
            result,
        })
    }
}
