//! The counters behind `GET /metrics`, and their Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use liveramp_audience_store::{ApplySummary, AudienceInfo, SubjectOutcome};

/// Upper bounds of the `liveramp_firehose_apply_seconds` buckets.
const APPLY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
pub(crate) struct Metrics {
    /// (message type or `none`, HTTP status) -> requests.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    pub(crate) in_flight: AtomicI64,
    messages: AtomicU64,
    duplicates: AtomicU64,
    expired: AtomicU64,
    profiles: AtomicU64,
    rejected_profiles: AtomicU64,
    erased_profiles: AtomicU64,
    subject_requests: AtomicU64,
    members_erased: AtomicU64,
    adds: AtomicU64,
    deletes: AtomicU64,
    attribute_updates: AtomicU64,
    subscriptions: AtomicU64,
    apply_buckets: [AtomicU64; APPLY_BUCKETS.len()],
    apply_count: AtomicU64,
    apply_nanos: AtomicU64,
    /// Membership changes applied, per minute, over the last hour.
    pub(crate) ingest: IngestHistory,
}

impl Metrics {
    pub(crate) fn request(&self, message_type: &'static str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests.entry((message_type, status)).or_default() += 1;
    }

    /// One `apply` call that took `took` (whether or not it succeeded).
    pub(crate) fn apply_time(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, count) in APPLY_BUCKETS.iter().zip(&self.apply_buckets) {
            if seconds <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.apply_count.fetch_add(1, Relaxed);
        self.apply_nanos
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    pub(crate) fn applied(&self, s: &ApplySummary) {
        self.messages.fetch_add(s.messages, Relaxed);
        self.duplicates.fetch_add(s.duplicates, Relaxed);
        self.expired.fetch_add(s.expired, Relaxed);
        self.profiles.fetch_add(s.profiles, Relaxed);
        self.rejected_profiles
            .fetch_add(s.rejected_profiles, Relaxed);
        self.erased_profiles.fetch_add(s.erased_profiles, Relaxed);
        self.adds.fetch_add(s.adds, Relaxed);
        self.deletes.fetch_add(s.deletes, Relaxed);
        self.attribute_updates
            .fetch_add(s.attribute_updates, Relaxed);
        self.subscriptions.fetch_add(s.subscriptions, Relaxed);
        self.ingest
            .record(SystemTime::now(), s.adds + s.deletes + s.attribute_updates);
    }

    /// One data subject request recorded (counts only: no identity reaches a metric).
    pub(crate) fn subject_request(&self, outcome: &SubjectOutcome) {
        self.subject_requests.fetch_add(1, Relaxed);
        if !outcome.duplicate {
            self.members_erased
                .fetch_add(outcome.record.members_removed, Relaxed);
        }
    }

    /// The Prometheus text: this server's counters, then one gauge per connected audience
    /// (`None`: the store could not be read).
    pub(crate) fn render(&self, audiences: Option<&[AudienceInfo]>) -> String {
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "liveramp_firehose_requests_total",
            "counter",
            "POST /firehose requests answered, by message type (none: refused before the type \
             was known) and HTTP status.",
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for ((ty, status), n) in &requests {
            let _ = writeln!(
                out,
                "liveramp_firehose_requests_total{{type=\"{ty}\",status=\"{status}\"}} {n}"
            );
        }
        single(
            &mut out,
            "liveramp_firehose_in_flight_requests",
            "gauge",
            "POST /firehose requests being handled now.",
            &self.in_flight.load(Relaxed).to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP liveramp_firehose_changes_applied_total Entries of applied messages, by \
             kind (add, delete, attribute_update, subscription).\n\
             # TYPE liveramp_firehose_changes_applied_total counter"
        );
        for (change, counter) in [
            ("add", &self.adds),
            ("delete", &self.deletes),
            ("attribute_update", &self.attribute_updates),
            ("subscription", &self.subscriptions),
        ] {
            let _ = writeln!(
                out,
                "liveramp_firehose_changes_applied_total{{change=\"{change}\"}} {}",
                counter.load(Relaxed)
            );
        }
        for (name, help, counter) in [
            (
                "liveramp_firehose_messages_applied_total",
                "Messages applied to the store (durable).",
                &self.messages,
            ),
            (
                "liveramp_firehose_duplicate_messages_total",
                "Messages skipped because their id was applied before (mParticle retries).",
                &self.duplicates,
            ),
            (
                "liveramp_firehose_expired_messages_total",
                "Messages refused because they are older than the store's retention horizon.",
                &self.expired,
            ),
            (
                "liveramp_firehose_profiles_applied_total",
                "User profiles applied.",
                &self.profiles,
            ),
            (
                "liveramp_firehose_rejected_profiles_total",
                "User profiles rejected by the store: no mpid and no identity to key them by.",
                &self.rejected_profiles,
            ),
            (
                "liveramp_firehose_erased_profiles_total",
                "User profiles ignored because a newer erasure covers the person.",
                &self.erased_profiles,
            ),
            (
                "liveramp_firehose_subject_requests_total",
                "Data subject requests recorded (repeats included).",
                &self.subject_requests,
            ),
            (
                "liveramp_firehose_members_erased_total",
                "Members removed by erasure requests.",
                &self.members_erased,
            ),
        ] {
            single(
                &mut out,
                name,
                "counter",
                help,
                &counter.load(Relaxed).to_string(),
            );
        }
        family(
            &mut out,
            "liveramp_firehose_apply_seconds",
            "histogram",
            "Time the store took to make a request's changes durable.",
        );
        for (bound, count) in APPLY_BUCKETS.iter().zip(&self.apply_buckets) {
            let _ = writeln!(
                out,
                "liveramp_firehose_apply_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Relaxed)
            );
        }
        let count = self.apply_count.load(Relaxed);
        #[allow(clippy::cast_precision_loss)] // a sum of seconds for monitoring
        let sum = self.apply_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "liveramp_firehose_apply_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             liveramp_firehose_apply_seconds_sum {sum}\n\
             liveramp_firehose_apply_seconds_count {count}"
        );
        single(
            &mut out,
            "liveramp_firehose_store_up",
            "gauge",
            "1 when the store could be read for this scrape, 0 otherwise.",
            &u8::from(audiences.is_some()).to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP liveramp_audience_members Present members of each connected audience.\n\
             # TYPE liveramp_audience_members gauge"
        );
        for audience in audiences.unwrap_or_default() {
            if audience.connected {
                let _ = writeln!(
                    out,
                    "liveramp_audience_members{{audience=\"{}\"}} {}",
                    audience.id, audience.members
                );
            }
        }
        out
    }
}

/// Minutes kept by an [`IngestHistory`].
const MINUTES: usize = 60;

/// The membership changes (adds, deletes, attribute updates) a server applied, per minute of
/// the wall clock, for the last hour: a ring of 60 counters, cheap to clone (clones share it).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use liveramp_firehose_server::IngestHistory;
///
/// let history = IngestHistory::default();
/// let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000); // 08:00:00 UTC, a minute's start
/// history.record(t, 5);
/// history.record(t + Duration::from_secs(59), 2);
/// history.record(t + Duration::from_secs(60), 1);
/// let hour = history.last_hour_at(t + Duration::from_secs(90));
/// assert_eq!(hour.len(), 60);
/// assert_eq!(hour[58].start, t);
/// assert_eq!((hour[58].changes, hour[59].changes), (7, 1));
/// assert_eq!(hour.iter().map(|m| m.changes).sum::<u64>(), 8);
/// // An hour later, those minutes are gone.
/// let later = history.last_hour_at(t + Duration::from_secs(3_660));
/// assert_eq!(later.iter().map(|m| m.changes).sum::<u64>(), 0);
/// ```
#[derive(Clone)]
pub struct IngestHistory {
    /// `(minute since the epoch, changes)`; a slot of another minute counts as 0.
    ring: Arc<Mutex<[(u64, u64); MINUTES]>>,
}

impl Default for IngestHistory {
    fn default() -> Self {
        IngestHistory {
            ring: Arc::new(Mutex::new([(u64::MAX, 0); MINUTES])),
        }
    }
}

impl std::fmt::Debug for IngestHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: u64 = self.last_hour().iter().map(|m| m.changes).sum();
        f.debug_struct("IngestHistory")
            .field("last_hour", &total)
            .finish()
    }
}

/// The changes applied in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestedMinute {
    /// The start of the minute.
    pub start: SystemTime,
    /// Membership changes applied in it.
    pub changes: u64,
}

fn minute_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60)
}

impl IngestHistory {
    /// Counts `changes` applied at `at`.
    pub fn record(&self, at: SystemTime, changes: u64) {
        if changes == 0 {
            return;
        }
        let minute = minute_of(at);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut ring[usize::try_from(minute % MINUTES as u64).unwrap_or(0)];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 = slot.1.saturating_add(changes);
    }

    /// The 60 minutes up to now, oldest first, the current one last.
    pub fn last_hour(&self) -> Vec<IngestedMinute> {
        self.last_hour_at(SystemTime::now())
    }

    /// The 60 minutes up to `now`, oldest first, `now`'s minute last.
    pub fn last_hour_at(&self, now: SystemTime) -> Vec<IngestedMinute> {
        let current = minute_of(now);
        let ring = *self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        (0..MINUTES as u64)
            .rev()
            .filter_map(|back| current.checked_sub(back))
            .map(|minute| {
                let (held, n) = ring[usize::try_from(minute % MINUTES as u64).unwrap_or(0)];
                IngestedMinute {
                    start: UNIX_EPOCH + Duration::from_secs(minute * 60),
                    changes: if held == minute { n } else { 0 },
                }
            })
            .collect()
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A family of one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: &str) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}
