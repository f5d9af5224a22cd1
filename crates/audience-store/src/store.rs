//! The storage contract every backend implements, and what its calls return.

use std::ops::AddAssign;
use std::time::Duration;

use crate::Error;
use crate::message::Message;
use crate::subject::{SubjectOutcome, SubjectRecord, SubjectRequest};

/// Durable audience membership: apply Firehose messages, list audiences, stream snapshots.
///
/// Every backend keeps the rules of the crate documentation and passes the same behavioural
/// test suite (`tests/suite` in this crate). Calls are synchronous and may come from many
/// threads at once.
pub trait AudienceStore: Send + Sync {
    /// Applies a batch of messages. When it returns `Ok`, the whole batch is durable; when it
    /// returns an error, none of it was applied (a batch is whole or absent). Messages whose
    /// id was applied before are skipped and counted as duplicates.
    fn apply(&self, batch: &[Message]) -> Result<ApplySummary, Error>;

    /// Every audience the store knows, sorted by id.
    fn audiences(&self) -> Result<Vec<AudienceInfo>, Error>;

    /// One audience, or `None` when the store does not know it.
    fn audience(&self, id: i64) -> Result<Option<AudienceInfo>, Error>;

    /// A consistent view of the present members of an audience (changes applied after this
    /// call are not in it), streamed in member-key byte order in constant memory. It can be
    /// moved to another thread. [`Error::UnknownAudience`] when the store does not know it.
    fn snapshot(&self, audience_id: i64) -> Result<Box<dyn Snapshot + Send>, Error>;

    /// Removes, in a bounded amount of work, what retention no longer needs: message ids,
    /// tombstones and the data of disconnected audiences older than `now_ms` minus the
    /// retention period. Call it again while [`PurgeSummary::more`] is true.
    fn purge(&self, now_ms: i64) -> Result<PurgeSummary, Error>;

    /// Row counts and bytes on disk. It counts rows, so it takes time in proportion to the
    /// store's size: for monitoring and benchmarks, not for every request.
    fn stats(&self) -> Result<StoreStats, Error>;

    /// Records a data subject request and, for an erasure, carries it out in the same
    /// transaction: every member whose identities match any of the request's (see the crate
    /// documentation, *Data subject requests*) is removed from every audience and every
    /// table, and from then on a membership change for them older than the request is
    /// ignored. When it returns `Ok`, the request and its effect are durable. A request whose
    /// id was recorded before changes nothing and returns the stored record
    /// ([`SubjectOutcome::duplicate`]). The request's identity values are never stored.
    fn record_subject_request(&self, request: &SubjectRequest) -> Result<SubjectOutcome, Error>;

    /// Every recorded request, oldest first (until purged after
    /// [`StoreOptions::dsr_retention_days`]).
    fn subject_requests(&self) -> Result<Vec<SubjectRecord>, Error>;

    /// What the store holds now for the subject of a recorded request, as one JSON document:
    /// `{"request":{"id":…,"type":…,"regulation":…,"timestamp_ms":…,"recorded_ms":…},
    /// "members":[{"key":…,"mpid":…,"user_identities":[…],"device_identities":[…],
    /// "audiences":[{"audience_id":…,"name":…,"member":true,"user_attributes":{…}}]}]}`.
    /// `None` when no request has that id. After an erasure, `members` is empty.
    fn export_subject(&self, request_id: &str) -> Result<Option<String>, Error>;
}

/// A streaming, consistent view of one audience's present members.
///
/// Each member is one line of profile JSON:
/// `{"mpid":"…","user_identities":[…],"device_identities":[…],"user_attributes":{…}}`
/// (`mpid` omitted when the member has none; `user_attributes` holds that audience's
/// attributes in key byte order).
pub trait Snapshot {
    /// Appends whole lines, each ending in `\n`, to `out` until about `max_bytes` were added
    /// (at least one line if any remain, however long), and returns how many members it
    /// appended; 0 means the snapshot is finished.
    fn read_into(&mut self, out: &mut Vec<u8>, max_bytes: usize) -> Result<u64, Error>;

    /// The next member, or `None` at the end (the convenient, slower way; see also
    /// [`members`](trait.Snapshot.html#method.members) on `dyn Snapshot`).
    fn next_member(&mut self) -> Result<Option<SnapshotMember>, Error>;

    /// The audience, how many members were streamed so far, and the newest change the
    /// snapshot holds for the audience.
    fn summary(&self) -> SnapshotSummary;
}

impl dyn Snapshot + Send {
    /// The members as an iterator (stops after the first error).
    pub fn members(&mut self) -> Members<'_> {
        Members {
            snapshot: self,
            done: false,
        }
    }
}

/// The iterator of [`members`](trait.Snapshot.html#method.members).
pub struct Members<'a> {
    snapshot: &'a mut (dyn Snapshot + Send),
    done: bool,
}

impl Iterator for Members<'_> {
    type Item = Result<SnapshotMember, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.snapshot.next_member() {
            Ok(Some(member)) => Some(Ok(member)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// One member of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotMember {
    /// The member key (see [`member_key`](crate::member_key)).
    pub key: String,
    /// The member's profile line, without the final `\n`.
    pub profile_json: String,
}

impl SnapshotMember {
    /// A member from its parts.
    pub fn new(key: impl Into<String>, profile_json: impl Into<String>) -> SnapshotMember {
        SnapshotMember {
            key: key.into(),
            profile_json: profile_json.into(),
        }
    }
}

/// What a snapshot has streamed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotSummary {
    /// The audience.
    pub audience_id: i64,
    /// Members streamed so far (all of them once the snapshot is finished).
    pub members: u64,
    /// The newest `timestamp_ms` of the messages applied for this audience that the snapshot
    /// holds (see [`AudienceInfo::newest_change_ms`]).
    pub newest_change_ms: Option<i64>,
}

impl SnapshotSummary {
    /// A summary of nothing streamed yet.
    pub fn new(audience_id: i64, newest_change_ms: Option<i64>) -> SnapshotSummary {
        SnapshotSummary {
            audience_id,
            members: 0,
            newest_change_ms,
        }
    }
}

/// One audience as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudienceInfo {
    /// The mParticle audience id.
    pub id: i64,
    /// The newest name a subscription or membership message gave it.
    pub name: Option<String>,
    /// Whether its newest subscription change is a connect. Only connected audiences are
    /// delivered; membership is kept for the others too.
    pub connected: bool,
    /// Its present members now.
    pub members: u64,
    /// The newest `timestamp_ms` of the applied messages that carried an entry for it
    /// (subscription or membership, whether or not the entry won).
    pub newest_change_ms: Option<i64>,
    /// The `timestamp_ms` of the earliest connect ever applied: no night before it is
    /// delivered.
    pub first_connected_ms: Option<i64>,
    /// When disconnected, the `timestamp_ms` of that disconnect.
    pub disconnected_at_ms: Option<i64>,
}

impl AudienceInfo {
    /// An audience with nothing known about it yet.
    pub fn new(id: i64) -> AudienceInfo {
        AudienceInfo {
            id,
            name: None,
            connected: false,
            members: 0,
            newest_change_ms: None,
            first_connected_ms: None,
            disconnected_at_ms: None,
        }
    }
}

/// What [`AudienceStore::apply`] did. Entries are counted in applied messages whether or not
/// newer data superseded them; nothing of a skipped message is counted but the skip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplySummary {
    /// Messages applied.
    pub messages: u64,
    /// Messages skipped because their id was applied before.
    pub duplicates: u64,
    /// Messages skipped because they are older than the retention horizon of the last
    /// [`purge`](AudienceStore::purge): their id and the tombstones they could conflict with
    /// may be gone, so applying them could bring back deleted data.
    pub expired: u64,
    /// Profiles applied (those with a member key).
    pub profiles: u64,
    /// `add` entries.
    pub adds: u64,
    /// `delete` entries.
    pub deletes: u64,
    /// `attribute_update` entries.
    pub attribute_updates: u64,
    /// Subscription changes.
    pub subscriptions: u64,
    /// Profiles rejected because no member key could be derived (see
    /// [`member_key`](crate::member_key)); nothing of them was stored.
    pub rejected_profiles: u64,
    /// Profiles ignored because an erasure newer than their message covers the person
    /// ([`AudienceStore::record_subject_request`]); nothing of them was stored.
    pub erased_profiles: u64,
}

impl AddAssign for ApplySummary {
    fn add_assign(&mut self, o: ApplySummary) {
        self.messages += o.messages;
        self.duplicates += o.duplicates;
        self.expired += o.expired;
        self.profiles += o.profiles;
        self.adds += o.adds;
        self.deletes += o.deletes;
        self.attribute_updates += o.attribute_updates;
        self.subscriptions += o.subscriptions;
        self.rejected_profiles += o.rejected_profiles;
        self.erased_profiles += o.erased_profiles;
    }
}

/// What one [`AudienceStore::purge`] call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeSummary {
    /// Everything older than this `timestamp_ms` is refused from now on and may be removed.
    pub horizon_ms: i64,
    /// Message ids removed.
    pub message_ids: u64,
    /// (audience, member) rows removed: left members (delete tombstones) and non-members'
    /// attributes with nothing newer than the horizon, and rows of purged audiences.
    pub memberships: u64,
    /// Members (identities) removed because no audience holds them any more.
    pub members: u64,
    /// Disconnected audiences removed whole.
    pub audiences: u64,
    /// Data subject request records (and their tokens) older than
    /// [`StoreOptions::dsr_retention_days`] removed.
    pub subject_requests: u64,
    /// Whether work remains: call `purge` again.
    pub more: bool,
}

/// Row counts and bytes on disk, from [`AudienceStore::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Audiences known.
    pub audiences: u64,
    /// Members (identity rows).
    pub members: u64,
    /// (audience, member) rows, present or not.
    pub memberships: u64,
    /// Present (audience, member) pairs.
    pub present: u64,
    /// Message ids remembered for duplicate detection.
    pub message_ids: u64,
    /// Bytes the store's files take on disk (for SQLite: the file plus its WAL).
    pub bytes_on_disk: u64,
    /// Transactions committed by this handle since it was opened.
    pub commits: u64,
    /// Batches applied (or failed) by this handle since it was opened: more batches than
    /// commits means concurrent batches shared commits (group commit).
    pub batches: u64,
    /// Batches handed to this handle and not answered yet.
    pub pending: u64,
}

/// Settings of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How long message ids, tombstones and disconnected audiences are kept (default 30).
    pub retention_days: u32,
    /// How long a write waits for another process's write lock before failing with
    /// [`Error::Busy`] (default 5 s).
    pub busy_timeout: Duration,
    /// At most this many rows removed per [`AudienceStore::purge`] call (default 5,000).
    pub purge_rows: u32,
    /// Page cache of the writing connection, KiB (default 64 MiB).
    pub cache_kib: u32,
    /// How much of the store file is read through a memory map, MiB (default 0: none). A map
    /// saves a system call and a copy per page read from the OS cache; an I/O error on the file
    /// then kills the process instead of returning an error.
    pub mmap_mib: u64,
    /// When the WAL file grows past this many MiB (default 128), the writer checkpoints it
    /// itself instead of leaving that to the checkpoint thread, and SQLite truncates the file
    /// back to this size when it starts it over.
    pub wal_limit_mib: u64,
    /// SQLite page size of a new store file, bytes: a power of two from 512 to 65,536
    /// (default 4,096). An existing file keeps the page size it was created with.
    pub page_size: u32,
    /// At most this many queued batches share one commit (default 256).
    pub max_group_batches: usize,
    /// How long the audit record of a data subject request (its id, type, regulation, times,
    /// counts and the salted tokens of the erased identities) is kept (default 365 days).
    /// After it, an erased person's older membership changes are no longer recognised, but
    /// those are older than the message retention and refused anyway.
    pub dsr_retention_days: u32,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            retention_days: 30,
            busy_timeout: Duration::from_secs(5),
            purge_rows: 5_000,
            cache_kib: 65_536,
            page_size: 4096,
            mmap_mib: 0,
            wal_limit_mib: 128,
            max_group_batches: 256,
            dsr_retention_days: 365,
        }
    }
}

impl StoreOptions {
    /// The retention period in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::from(self.retention_days) * 86_400_000
    }
}
