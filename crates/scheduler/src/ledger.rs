//! What happened to each delivery: the records, the [`Ledger`] trait and an in-memory ledger.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// One delivery stream: a configuration sending one data type of one audience.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeliveryId {
    /// The integration configuration's name.
    pub configuration: String,
    /// The audience's id.
    pub audience: String,
    /// The data type, e.g. `"device"` or `"pii"`.
    pub data_type: String,
}

impl DeliveryId {
    /// A delivery id from its three parts.
    pub fn new(
        configuration: impl Into<String>,
        audience: impl Into<String>,
        data_type: impl Into<String>,
    ) -> Self {
        DeliveryId {
            configuration: configuration.into(),
            audience: audience.into(),
            data_type: data_type.into(),
        }
    }

    /// The run of this delivery for `run_date`.
    pub fn on(&self, run_date: NaiveDate) -> RunKey {
        RunKey {
            delivery: self.clone(),
            run_date,
        }
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.configuration, self.audience, self.data_type
        )
    }
}

/// The ledger's key: one delivery on one run date.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    /// Which delivery.
    pub delivery: DeliveryId,
    /// The run date (the date in the file names).
    pub run_date: NaiveDate,
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.delivery, self.run_date)
    }
}

/// One uploaded file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveredFile {
    /// The file name as uploaded.
    pub name: String,
    /// Data rows (without the header).
    pub rows: u64,
    /// Size in bytes as uploaded.
    pub bytes: u64,
    /// SHA-256 of the uploaded bytes, lowercase hex.
    pub sha256: String,
}

/// What a successful delivery sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Delivered {
    /// The files, in upload order.
    pub files: Vec<DeliveredFile>,
    /// A fingerprint of the header row (`LiveRamp` pauses files whose headers change).
    pub header_fingerprint: String,
}

/// What happened, in one journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A delivery attempt began.
    Started {
        /// 1 for the first attempt of this run, then 2, 3, ...
        attempt: u32,
        /// Whether it was forced although the run was already delivered.
        forced: bool,
    },
    /// The attempt succeeded.
    Delivered(Delivered),
    /// The attempt failed.
    Failed {
        /// Why, as text.
        error: String,
    },
}

/// One line of the ledger journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Which run.
    pub key: RunKey,
    /// What happened.
    pub event: Event,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Started,
    Delivered,
    Failed,
}

/// The journal's line format: one flat JSON object per line, easy to query with `jq`.
#[derive(Serialize, Deserialize)]
struct Wire {
    at: DateTime<Utc>,
    configuration: String,
    audience: String,
    data_type: String,
    run_date: NaiveDate,
    event: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    forced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<Vec<DeliveredFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Entry {
    /// The entry as one line of JSON (without the newline), e.g.
    /// `{"at":"2026-03-09T05:00:00Z","configuration":"acme","audience":"17095",
    /// "data_type":"device","run_date":"2026-03-09","event":"started","attempt":1}`.
    pub fn to_json_line(&self) -> String {
        let mut wire = Wire {
            at: self.at,
            configuration: self.key.delivery.configuration.clone(),
            audience: self.key.delivery.audience.clone(),
            data_type: self.key.delivery.data_type.clone(),
            run_date: self.key.run_date,
            event: Kind::Started,
            attempt: None,
            forced: false,
            files: None,
            header_fingerprint: None,
            error: None,
        };
        match &self.event {
            Event::Started { attempt, forced } => {
                wire.attempt = Some(*attempt);
                wire.forced = *forced;
            }
            Event::Delivered(delivered) => {
                wire.event = Kind::Delivered;
                wire.files = Some(delivered.files.clone());
                wire.header_fingerprint = Some(delivered.header_fingerprint.clone());
            }
            Event::Failed { error } => {
                wire.event = Kind::Failed;
                wire.error = Some(error.clone());
            }
        }
        // Serialising plain strings, numbers and dates cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads one journal line (with or without its newline).
    ///
    /// Unknown fields are ignored, so newer writers can add fields.
    pub fn from_json_line(line: &[u8]) -> Result<Entry, String> {
        let wire: Wire = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let event = match wire.event {
            Kind::Started => Event::Started {
                attempt: wire.attempt.ok_or("a started entry needs \"attempt\"")?,
                forced: wire.forced,
            },
            Kind::Delivered => Event::Delivered(Delivered {
                files: wire.files.ok_or("a delivered entry needs \"files\"")?,
                header_fingerprint: wire
                    .header_fingerprint
                    .ok_or("a delivered entry needs \"header_fingerprint\"")?,
            }),
            Kind::Failed => Event::Failed {
                error: wire.error.ok_or("a failed entry needs \"error\"")?,
            },
        };
        Ok(Entry {
            at: wire.at,
            key: RunKey {
                delivery: DeliveryId {
                    configuration: wire.configuration,
                    audience: wire.audience,
                    data_type: wire.data_type,
                },
                run_date: wire.run_date,
            },
            event,
        })
    }
}

/// A delivered run, as remembered by the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveredRecord {
    /// The run date that was delivered.
    pub run_date: NaiveDate,
    /// When the delivery was recorded.
    pub at: DateTime<Utc>,
    /// What was sent.
    pub delivered: Delivered,
}

/// Everything the ledger knows about one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStatus {
    /// Attempts started so far (including forced ones and ones that never recorded an outcome).
    pub attempts: u32,
    /// An attempt started and has no outcome yet: it is running now, or its process died.
    pub in_progress: bool,
    /// The latest successful delivery, if any.
    pub delivered: Option<DeliveredRecord>,
    /// The error of the latest attempt, if it failed.
    pub last_error: Option<String>,
    /// When the latest attempt started.
    pub last_started_at: Option<DateTime<Utc>>,
    /// When the latest attempt recorded its outcome.
    pub last_finished_at: Option<DateTime<Utc>>,
}

/// The outcome of one attempt, handed to [`Ledger::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The files were uploaded.
    Delivered(Delivered),
    /// The attempt failed, with the error as text.
    Failed(String),
}

/// Whether a [`Claim`] still holds its delivery: check it before every write to the
/// destination and right before publishing, and stop (without removing anything at the
/// destination) once it fails.
///
/// A claim of a ledger kept by one machine ([`FileLedger`](crate::FileLedger),
/// [`MemoryLedger`]) holds until it is finished or dropped: its fence never fails. A claim of
/// the shared [`PgLedger`](crate::PgLedger) is a lease: its fence fails once the lease may
/// have run out without a renewal, measured on this process's monotonic clock from the moment
/// the last successful renewal was *sent*, and ended a safety margin (a quarter of the lease)
/// early. Another node takes the delivery over only once the database's clock says the lease
/// expired, which is later, so by then this process has stopped writing (it checks before
/// every block) and will not publish.
#[derive(Clone, Debug)]
pub struct Fence {
    key: String,
    lease: Option<Arc<LeaseState>>,
}

/// What the renewals of a lease have established.
#[derive(Debug)]
pub(crate) struct LeaseState {
    /// Taken over, or given up.
    pub(crate) lost: std::sync::atomic::AtomicBool,
    /// This process may act on the lease until then.
    pub(crate) valid_until: Mutex<std::time::Instant>,
}

impl LeaseState {
    pub(crate) fn new(valid_until: std::time::Instant) -> Arc<LeaseState> {
        Arc::new(LeaseState {
            lost: std::sync::atomic::AtomicBool::new(false),
            valid_until: Mutex::new(valid_until),
        })
    }

    pub(crate) fn extend(&self, valid_until: std::time::Instant) {
        let mut until = lock(&self.valid_until);
        if valid_until > *until {
            *until = valid_until;
        }
    }

    pub(crate) fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }
}

impl Fence {
    /// A fence that never fails (a claim that holds until it is released).
    pub fn held(key: &RunKey) -> Fence {
        Fence {
            key: key.to_string(),
            lease: None,
        }
    }

    pub(crate) fn leased(key: &RunKey, lease: Arc<LeaseState>) -> Fence {
        Fence {
            key: key.to_string(),
            lease: Some(lease),
        }
    }

    /// Whether the claim may still write and publish.
    pub fn is_held(&self) -> bool {
        match &self.lease {
            None => true,
            Some(lease) => {
                !lease.lost.load(Ordering::SeqCst)
                    && std::time::Instant::now() < *lock(&lease.valid_until)
            }
        }
    }

    /// `Ok` while the claim holds, else [`Error::LeaseLost`].
    pub fn check(&self) -> Result<(), Error> {
        if self.is_held() {
            Ok(())
        } else {
            Err(Error::LeaseLost {
                key: self.key.clone(),
            })
        }
    }

    /// Whether this is a lease that can be lost (the ledger is shared by several nodes).
    pub fn is_lease(&self) -> bool {
        self.lease.is_some()
    }
}

/// The right to run one delivery now: proof that this process holds the delivery's lock and
/// recorded the `started` entry. Hand it back to [`Ledger::finish`] with the outcome; dropping
/// it instead releases the lock and leaves the attempt without an outcome (the next
/// [`Ledger::begin`] records it as interrupted).
#[must_use = "finish the claim with the delivery's outcome"]
pub struct Claim {
    key: RunKey,
    attempt: u32,
    forced: bool,
    issuer: u64,
    fence: Fence,
    _guard: Box<dyn Any + Send>,
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("key", &self.key)
            .field("attempt", &self.attempt)
            .field("forced", &self.forced)
            .finish_non_exhaustive()
    }
}

impl Claim {
    /// A claim, for [`Ledger`] implementations: `issuer` identifies the ledger instance (see
    /// [`next_ledger_id`]) and `guard` is whatever keeps the delivery locked until dropped.
    pub fn new(
        key: RunKey,
        attempt: u32,
        forced: bool,
        issuer: u64,
        guard: impl Any + Send,
    ) -> Self {
        Claim {
            fence: Fence::held(&key),
            key,
            attempt,
            forced,
            issuer,
            _guard: Box::new(guard),
        }
    }

    /// The claim with `fence` instead of one that never fails (for [`Ledger`]
    /// implementations with leases).
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// Whether this claim still holds its delivery (see [`Fence`]): a clone to check from
    /// the threads that write the delivery's files.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }
    /// The run claimed.
    pub fn key(&self) -> &RunKey {
        &self.key
    }
    /// The attempt number recorded in its `started` entry (1-based).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    /// Whether the attempt was forced over an earlier delivery.
    pub fn forced(&self) -> bool {
        self.forced
    }
    /// The id of the ledger instance that issued it.
    pub fn issuer(&self) -> u64 {
        self.issuer
    }
}

/// A fresh id for a ledger instance (for [`Claim::new`]).
pub fn next_ledger_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The answer of [`Ledger::begin`].
#[derive(Debug)]
pub enum Begin {
    /// Go ahead: run the delivery, then [`Ledger::finish`] the claim.
    Claimed(Claim),
    /// Already delivered (and not forced): do nothing.
    AlreadyDelivered(DeliveredRecord),
    /// Another process (or thread) is running this delivery now: do nothing, try later.
    Busy,
}

/// Where delivery outcomes are recorded, keyed by (configuration, audience, data type, run date).
///
/// Implementations make [`begin`](Self::begin) exclusive per [`DeliveryId`]: while one
/// [`Claim`] is alive, every other `begin` for the same delivery answers [`Begin::Busy`].
pub trait Ledger {
    /// Claims a run: locks its delivery, records `started`, and returns the claim; or says it
    /// was already delivered (unless `force`), or that someone else is running it.
    ///
    /// If an earlier attempt has no outcome (its process died), it is first recorded as failed
    /// ("interrupted").
    fn begin(&self, key: &RunKey, at: DateTime<Utc>, force: bool) -> Result<Begin, Error>;

    /// Records the outcome of a claimed attempt and releases the delivery's lock.
    fn finish(&self, claim: Claim, at: DateTime<Utc>, outcome: Outcome) -> Result<(), Error>;

    /// Everything known about one run (the default status if nothing is).
    fn status(&self, key: &RunKey) -> Result<RunStatus, Error>;

    /// The most recently recorded delivery of a delivery stream, whatever its run date: the
    /// header fingerprint `LiveRamp` last saw comes from here.
    fn last_delivered(&self, delivery: &DeliveryId) -> Result<Option<DeliveredRecord>, Error>;

    /// Whether a claim is a lease that can be lost while held (a ledger shared by several
    /// machines): whoever writes a delivery's files must then check the claim's
    /// [`Fence`](Claim::fence) before every write and before publishing. `false` by default.
    fn leases(&self) -> bool {
        false
    }
}

impl<L: Ledger + ?Sized> Ledger for &L {
    fn begin(&self, key: &RunKey, at: DateTime<Utc>, force: bool) -> Result<Begin, Error> {
        (**self).begin(key, at, force)
    }
    fn finish(&self, claim: Claim, at: DateTime<Utc>, outcome: Outcome) -> Result<(), Error> {
        (**self).finish(claim, at, outcome)
    }
    fn status(&self, key: &RunKey) -> Result<RunStatus, Error> {
        (**self).status(key)
    }
    fn last_delivered(&self, delivery: &DeliveryId) -> Result<Option<DeliveredRecord>, Error> {
        (**self).last_delivered(delivery)
    }
    fn leases(&self) -> bool {
        (**self).leases()
    }
}

impl<L: Ledger + ?Sized> Ledger for Arc<L> {
    fn begin(&self, key: &RunKey, at: DateTime<Utc>, force: bool) -> Result<Begin, Error> {
        (**self).begin(key, at, force)
    }
    fn finish(&self, claim: Claim, at: DateTime<Utc>, outcome: Outcome) -> Result<(), Error> {
        (**self).finish(claim, at, outcome)
    }
    fn status(&self, key: &RunKey) -> Result<RunStatus, Error> {
        (**self).status(key)
    }
    fn last_delivered(&self, delivery: &DeliveryId) -> Result<Option<DeliveredRecord>, Error> {
        (**self).last_delivered(delivery)
    }
    fn leases(&self) -> bool {
        (**self).leases()
    }
}

/// Timestamps are kept to the millisecond, so the journal and memory agree exactly.
pub(crate) fn stamp(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at)
}

/// The replayed state of a journal.
#[derive(Debug, Default)]
pub(crate) struct State {
    runs: HashMap<RunKey, RunStatus>,
    latest: HashMap<DeliveryId, DeliveredRecord>,
    pub(crate) entries: u64,
}

impl State {
    pub(crate) fn apply(&mut self, entry: Entry) {
        self.entries += 1;
        let Entry { at, key, event } = entry;
        let status = match self.runs.get_mut(&key) {
            Some(status) => status,
            None => self.runs.entry(key.clone()).or_default(),
        };
        match event {
            Event::Started { attempt, .. } => {
                status.attempts = (status.attempts + 1).max(attempt);
                status.in_progress = true;
                status.last_started_at = Some(at);
            }
            Event::Delivered(delivered) => {
                let record = DeliveredRecord {
                    run_date: key.run_date,
                    at,
                    delivered,
                };
                status.in_progress = false;
                status.last_error = None;
                status.last_finished_at = Some(at);
                status.delivered = Some(record.clone());
                self.latest.insert(key.delivery, record);
            }
            Event::Failed { error } => {
                status.in_progress = false;
                status.last_error = Some(error);
                status.last_finished_at = Some(at);
            }
        }
    }

    pub(crate) fn status(&self, key: &RunKey) -> RunStatus {
        self.runs.get(key).cloned().unwrap_or_default()
    }

    pub(crate) fn last_delivered(&self, delivery: &DeliveryId) -> Option<DeliveredRecord> {
        self.latest.get(delivery).cloned()
    }

    /// The entries `begin` must append, or the delivery that makes it unnecessary.
    pub(crate) fn begin_entries(
        &self,
        key: &RunKey,
        at: DateTime<Utc>,
        force: bool,
    ) -> Result<(Vec<Entry>, u32), DeliveredRecord> {
        let status = self.runs.get(key);
        if let Some(delivered) = status.and_then(|s| s.delivered.as_ref())
            && !force
        {
            return Err(delivered.clone());
        }
        let mut entries = Vec::with_capacity(2);
        let attempts = status.map_or(0, |s| s.attempts);
        if let Some(status) = status.filter(|s| s.in_progress) {
            let since = status
                .last_started_at
                .map(|t| format!(" (started {})", t.to_rfc3339()))
                .unwrap_or_default();
            entries.push(Entry {
                at,
                key: key.clone(),
                event: Event::Failed {
                    error: format!(
                        "interrupted: attempt {attempts}{since} recorded no outcome (its process \
                         stopped or crashed); check whether its files reached LiveRamp"
                    ),
                },
            });
        }
        let attempt = attempts + 1;
        entries.push(Entry {
            at,
            key: key.clone(),
            event: Event::Started {
                attempt,
                forced: force,
            },
        });
        Ok((entries, attempt))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A ledger kept in memory: for tests and for embedders that persist outcomes elsewhere.
///
/// It has the same rules as [`FileLedger`](crate::FileLedger) within one process (one claim per
/// delivery at a time) and keeps the entries it recorded ([`entries`](Self::entries)).
#[derive(Debug, Clone)]
pub struct MemoryLedger {
    id: u64,
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    state: State,
    entries: Vec<Entry>,
    claimed: HashSet<DeliveryId>,
}

struct MemoryGuard {
    inner: Arc<Mutex<MemoryInner>>,
    delivery: DeliveryId,
}

impl Drop for MemoryGuard {
    fn drop(&mut self) {
        lock(&self.inner).claimed.remove(&self.delivery);
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        MemoryLedger {
            id: next_ledger_id(),
            inner: Arc::default(),
        }
    }

    /// A ledger holding `entries`, applied in order.
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let ledger = Self::new();
        {
            let mut inner = lock(&ledger.inner);
            for entry in entries {
                inner.state.apply(entry.clone());
                inner.entries.push(entry);
            }
        }
        ledger
    }

    /// Every entry recorded, in order.
    pub fn entries(&self) -> Vec<Entry> {
        lock(&self.inner).entries.clone()
    }
}

impl Ledger for MemoryLedger {
    fn begin(&self, key: &RunKey, at: DateTime<Utc>, force: bool) -> Result<Begin, Error> {
        let at = stamp(at);
        let mut inner = lock(&self.inner);
        if inner.claimed.contains(&key.delivery) {
            return Ok(Begin::Busy);
        }
        match inner.state.begin_entries(key, at, force) {
            Err(record) => Ok(Begin::AlreadyDelivered(record)),
            Ok((entries, attempt)) => {
                for entry in entries {
                    inner.state.apply(entry.clone());
                    inner.entries.push(entry);
                }
                inner.claimed.insert(key.delivery.clone());
                let guard = MemoryGuard {
                    inner: Arc::clone(&self.inner),
                    delivery: key.delivery.clone(),
                };
                Ok(Begin::Claimed(Claim::new(
                    key.clone(),
                    attempt,
                    force,
                    self.id,
                    guard,
                )))
            }
        }
    }

    fn finish(&self, claim: Claim, at: DateTime<Utc>, outcome: Outcome) -> Result<(), Error> {
        if claim.issuer != self.id {
            return Err(Error::ForeignClaim {
                key: claim.key.to_string(),
            });
        }
        let entry = outcome_entry(&claim, stamp(at), outcome);
        {
            let mut inner = lock(&self.inner);
            inner.state.apply(entry.clone());
            inner.entries.push(entry);
        }
        drop(claim);
        Ok(())
    }

    fn status(&self, key: &RunKey) -> Result<RunStatus, Error> {
        Ok(lock(&self.inner).state.status(key))
    }

    fn last_delivered(&self, delivery: &DeliveryId) -> Result<Option<DeliveredRecord>, Error> {
        Ok(lock(&self.inner).state.last_delivered(delivery))
    }
}

pub(crate) fn outcome_entry(claim: &Claim, at: DateTime<Utc>, outcome: Outcome) -> Entry {
    Entry {
        at,
        key: claim.key.clone(),
        event: match outcome {
            Outcome::Delivered(delivered) => Event::Delivered(delivered),
            Outcome::Failed(error) => Event::Failed { error },
        },
    }
}
