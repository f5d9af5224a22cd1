//! Which deliveries are due: tonight's, plus catch-up of missed nights.

use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::{DeliveryId, Error, Ledger, RunKey, RunStatus, Schedule};

/// How many missed nights to catch up after downtime.
///
/// Each upload is a full snapshot of the audience, so a newer night supersedes older ones: by
/// default only the most recent scheduled night is delivered. In configuration files:
/// `catch_up = "most_recent"` or `catch_up = { last_nights = 3 }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Only the most recent scheduled night (tonight's, or the last one missed).
    #[default]
    MostRecent,
    /// Up to this many most recent scheduled nights (oldest first); `0` and `1` mean
    /// [`MostRecent`](Self::MostRecent). Nights older than the latest delivered one are never
    /// sent.
    LastNights(u32),
}

impl CatchUp {
    /// How many scheduled nights are considered (at least 1).
    pub fn nights(self) -> u32 {
        match self {
            CatchUp::MostRecent => 1,
            CatchUp::LastNights(n) => n.max(1),
        }
    }
}

/// What the scheduler runs: the schedule, the delivery streams and the catch-up and retry rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// When the nightly run happens.
    pub schedule: Schedule,
    /// The delivery streams, each run once per night, in this order.
    pub deliveries: Vec<DeliveryId>,
    /// How many missed nights to catch up.
    pub catch_up: CatchUp,
    /// Attempts per run (per delivery and night) before it is left failed for the next night.
    /// Default 3; must be at least 1.
    pub max_attempts: u32,
    /// Runs scheduled before this instant are never due: set it to when the delivery was
    /// connected, so the first files go out at the first scheduled run after that (as the seed
    /// says: "the first file(s) will be sent at 12am EST"), not at once. `None`: no limit.
    pub not_before: Option<DateTime<Utc>>,
    /// Per audience (the [`DeliveryId::audience`]): runs scheduled before this instant are
    /// never due, like [`not_before`](Self::not_before) for one audience. Set it to when an
    /// audience of the membership store was first connected.
    pub connected_at: BTreeMap<String, DateTime<Utc>>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            schedule: Schedule::default(),
            deliveries: Vec::new(),
            catch_up: CatchUp::default(),
            max_attempts: 3,
            not_before: None,
            connected_at: BTreeMap::new(),
        }
    }
}

/// A run that is due now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueRun {
    /// Which delivery, which night.
    pub key: RunKey,
    /// The instant it was scheduled for.
    pub scheduled_at: DateTime<Utc>,
    /// What the ledger knows of it so far (earlier failed attempts, ...).
    pub status: RunStatus,
}

impl Plan {
    /// A plan with the default schedule, catch-up and retry rules.
    pub fn new(schedule: Schedule, deliveries: Vec<DeliveryId>) -> Self {
        Plan {
            schedule,
            deliveries,
            ..Plan::default()
        }
    }

    /// Checks the plan can work.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_attempts == 0 {
            return Err(Error::InvalidPlan {
                reason: "max_attempts is 0, so nothing would ever run: set it to 1 or more".into(),
            });
        }
        Ok(())
    }

    /// The runs due at `now`: for each delivery, the most recent scheduled night (and, with
    /// [`CatchUp::LastNights`], the nights before it), oldest first, leaving out runs that
    /// are delivered, superseded by a later delivered night, scheduled before
    /// [`not_before`](Self::not_before), or that used up their [`max_attempts`](Self::max_attempts).
    ///
    /// A run that failed is still due (until its attempts are used up); the
    /// [`Runner`](crate::Runner) waits its retry delay before trying it again.
    pub fn due_runs<L: Ledger + ?Sized>(
        &self,
        now: DateTime<Utc>,
        ledger: &L,
    ) -> Result<Vec<DueRun>, Error> {
        let Some(latest) = self.schedule.latest_run(now) else {
            return Ok(Vec::new());
        };
        let nights = u64::from(self.catch_up.nights());
        let mut due = Vec::new();
        for delivery in &self.deliveries {
            let last = ledger.last_delivered(delivery)?;
            for back in (0..nights).rev() {
                let Some(date) = latest.date.checked_sub_days(Days::new(back)) else {
                    continue;
                };
                let Some(at) = self.schedule.run_at(date) else {
                    continue;
                };
                if at > now
                    || self.not_before.is_some_and(|limit| at < limit)
                    || self
                        .connected_at
                        .get(&delivery.audience)
                        .is_some_and(|limit| at < *limit)
                {
                    continue;
                }
                if last.as_ref().is_some_and(|record| record.run_date >= date) {
                    continue;
                }
                let key = delivery.on(date);
                let status = ledger.status(&key)?;
                if status.delivered.is_some() || status.attempts >= self.max_attempts {
                    continue;
                }
                due.push(DueRun {
                    key,
                    scheduled_at: at,
                    status,
                });
            }
        }
        due.sort_by_key(|run| run.scheduled_at);
        Ok(due)
    }
}
