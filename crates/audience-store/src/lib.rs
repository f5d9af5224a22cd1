//! Durable audience membership from mParticle's real-time stream: last-writer-wins merging,
//! group-committed SQLite storage and constant-memory snapshots.
//!
//! mParticle streams audience changes as they happen (Firehose messages: subscriptions, and
//! batches of user profiles entering or leaving audiences); every night the connector turns
//! each connected audience into `LiveRamp` files. This crate sits between the two: it keeps the
//! membership, durably, whatever order, batching and repetition the messages arrive in, and
//! streams a consistent snapshot of each audience as profile JSON lines, the shape the delivery
//! reads. It knows nothing of HTTP, of mParticle's JSON envelope or of `LiveRamp` files: the
//! connector converts parsed messages into this crate's plain [`Message`] values.
//!
//! The contract is the [`AudienceStore`] trait; [`SqliteStore`] implements it on one SQLite
//! file, and, with the `postgres` feature, `PgStore` on a PostgreSQL database that several
//! processes share (tested on PostgreSQL 15). Both pass the same behavioural suite
//! (`tests/suite` in this crate's repository, run by `tests/sqlite.rs` and `tests/postgres.rs`).
//!
//! ```
//! use liveramp_audience_store::{
//!     AudienceChange, AudienceStore, MemberChange, Message, SqliteStore, StoreOptions,
//!     SubscriptionAction,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("audiences.db"), StoreOptions::default())?;
//!
//! let connect = Message::subscription("m-1", 1_000, 456, "High-value customers", SubscriptionAction::Connect);
//! let jane = MemberChange::with_mpid("123")
//!     .user_identity("email", "raw", "Jane@x.com")
//!     .device_identity("ios_advertising_id", "raw", "66b728c2-f9a4-4d87-82ef-ce07414fe3f7")
//!     .audience(AudienceChange::add(456).upsert("$FirstName", "Jane").upsert_list("tags", ["a", "b"]));
//! let batch = [connect, Message::membership("m-2", 2_000, vec![jane])];
//! let summary = store.apply(&batch)?; // durable when it returns
//! assert_eq!((summary.messages, summary.adds, summary.subscriptions), (2, 1, 1));
//! // Applying the same messages again changes nothing: each id is applied once.
//! assert_eq!(store.apply(&batch)?.duplicates, 2);
//!
//! let info = store.audience(456)?.unwrap();
//! assert!(info.connected);
//! assert_eq!((info.members, info.first_connected_ms), (1, Some(1_000)));
//!
//! let mut snapshot = store.snapshot(456)?;
//! let mut lines = Vec::new();
//! while snapshot.read_into(&mut lines, 1 << 20)? > 0 {}
//! assert_eq!(
//!     String::from_utf8(lines)?,
//!     concat!(
//!         r#"{"mpid":"123","user_identities":[{"type":"email","encoding":"raw","value":"Jane@x.com"}],"#,
//!         r#""device_identities":[{"type":"ios_advertising_id","encoding":"raw","value":"66b728c2-f9a4-4d87-82ef-ce07414fe3f7"}],"#,
//!         r#""user_attributes":{"$FirstName":"Jane","tags":["a","b"]}}"#,
//!         "\n",
//!     )
//! );
//! assert_eq!(snapshot.summary().members, 1);
//! assert_eq!(snapshot.summary().newest_change_ms, Some(2_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The rules
//!
//! Every backend keeps these; the tests check each one.
//!
//! 1. **Member key.** A member is stored and delivered under its `mpid`. A profile without one
//!    gets a key derived from one of its identities: `~` and the SHA-256 of the first identity
//!    in the order customer id, email, mobile number, other user identities, device identities
//!    (see [`member_key`] for the exact rule). Such a key holds no PII, cannot collide with an
//!    mpid and sorts after them. A profile with neither (or whose mpid begins with `~`) is
//!    rejected and counted in [`ApplySummary::rejected_profiles`], never silently dropped.
//! 2. **Last writer wins on the version** (`timestamp_ms`, message `id`, `seq`) ([`Version`]),
//!    compared as that triple (ties of `timestamp_ms` go to the greater id in byte order), never
//!    on arrival order; `seq` numbers the entries within a message so that a later entry for
//!    the same thing (member, audience, attribute key) wins over an earlier one. Messages
//!    arrive late, twice and out of order: the state after any arrival order and any batching
//!    of the same messages is the same.
//! 3. **Membership** of (audience, member) is the newest `add` or `delete` for it.
//!    `attribute_update` never changes membership.
//! 4. **Attributes** are kept per (audience, member) and key: the newest upsert or deletion of a
//!    key wins (deletions are kept as versioned tombstones). An `add` upserts the attributes it
//!    carries and removes none. A `delete` removes every attribute of that audience for the
//!    member older than it, and attribute writes older than the newest delete are ignored even
//!    when they arrive later; attributes carried by a `delete` are ignored. List values stay
//!    lists. Attributes of non-members are kept (an `attribute_update` may come before the
//!    `add`) but not delivered.
//! 5. **Identities** (user and device, with encodings, as given) belong to the member across
//!    audiences: those of the newest profile that carried the member replace older ones
//!    wholesale. A profile without any audience entry changes nothing.
//! 6. **Subscriptions**: a connect (Firehose `add`/`update`) or disconnect (`remove`); the
//!    newest wins, as above. The audience name is the newest one any subscription or
//!    membership entry carried. Membership for an audience that is not (yet) connected is
//!    stored all the same. A disconnected audience is no longer delivered, and its data is
//!    purged once it has not changed for the retention period.
//! 7. **A message id is applied once.** Message ids, tombstones and disconnected audiences are
//!    kept for [`StoreOptions::retention_days`] (30 by default) and then removed by
//!    [`AudienceStore::purge`], a little at a time, so storage does not grow with history:
//!    message ids older than the horizon below; (audience, member) rows that are not members
//!    and hold nothing newer (delete tombstones, attributes of non-members); audiences that
//!    are not connected (disconnected, or never connected) and have had no change since the
//!    horizon, with all their rows; and members no audience holds any more. Attribute
//!    tombstones and delete floors older than the horizon are dropped whenever their row is
//!    next written.
//!    Purging moves a *horizon* (`now_ms` minus the retention period) forward; from then on a
//!    message older than the horizon is refused and counted in [`ApplySummary::expired`],
//!    because its id (and so a duplicate of it) may be forgotten and the tombstones that must
//!    hide it may be gone. A message either is applied once, or is a counted duplicate, or is a
//!    counted expired message: never applied twice, never resurrecting deleted data.
//! 8. **Durable and atomic.** When [`AudienceStore::apply`] returns `Ok`, the whole batch is on
//!    disk (WAL, `synchronous = FULL`); a batch is applied whole or not at all, whatever kills
//!    the process. Concurrent callers are group-committed: one writer thread takes every
//!    queued batch into one transaction, a savepoint each (a failing batch rolls back alone
//!    and only its caller gets the error), commits once (one fsync), then answers them all.
//! 9. **Snapshots** are consistent (one read transaction: changes applied meanwhile are not in
//!    it), run while applies continue (WAL readers do not block the writer), stream in
//!    constant memory, and list present members in member-key byte order.
//! 10. **Erasure** ([`AudienceStore::record_subject_request`], below): every member an erasure
//!     matches is removed from every audience and every table in the transaction that records
//!     the request; changes for that person older than the request are ignored from then on,
//!     newer ones applied; a request id is applied once.
//!
//! # Data subject requests
//!
//! mParticle forwards GDPR and CCPA requests (`dsr_processing_request`); the connector turns
//! each into a [`SubjectRequest`] (id, [`RequestKind`], regulation, time, identities) and
//! calls [`AudienceStore::record_subject_request`], which returns once the request is durable:
//!
//! - **Matching.** A member matches when any of its identities equals any identity of the
//!   request of the same class: email; phone (`mobile_number`, `phone_number_2`,
//!   `phone_number_3`); IDFA (`ios_advertising_id`); AAID (`android_advertising_id`,
//!   `google_advertising_id`); customer id; `mpid` (the member key); any other type by its
//!   name. Values are compared normalised (emails and phones as `LiveRamp` normalises them,
//!   device ids in lower case) and as hashes: a raw value in the request matches a member
//!   stored with its MD5, SHA-1 or SHA-256, and a hashed value in the request matches a member
//!   stored raw. Matching reads every member's identities once: it costs O(members) and holds
//!   the writer while it runs (other writes wait, none fail).
//! - **Erasure.** Every matched member is removed from every audience, with its identities and
//!   attributes, in the transaction that records the request: a crash leaves the request
//!   recorded and carried out, or neither. The store keeps only the proof: the request id,
//!   type, regulation, its times, the identity *types*, the counts (members matched and
//!   removed, memberships removed, audiences affected) and, as the tombstone, SHA-256 tokens of
//!   each identity form salted with a random secret of this store, never the values. (The salt
//!   lives in the store, so whoever can read the store can test a guessed value against a
//!   token; what the salt prevents is matching tokens against other data sets or precomputed
//!   hash tables.) A membership change older
//!   than the request that carries any identity with a tombstone token is ignored (counted in
//!   [`ApplySummary::erased_profiles`], nothing of it stored): a late or retried message cannot
//!   bring the person back. A newer one (the person signed up again) is applied.
//! - **Access and portability** are recorded (nothing removed); [`AudienceStore::export_subject`]
//!   returns what the store holds for the subject as JSON, for the operator to hand over.
//! - **Repeats.** A request id already recorded changes nothing and returns the stored record
//!   with [`SubjectOutcome::duplicate`] set (mParticle retries until answered).
//! - **Retention.** Records and their tokens are removed by [`AudienceStore::purge`] after
//!   [`StoreOptions::dsr_retention_days`] (365 by default). Their tokens then no longer hold
//!   back older messages, but those are older than the message retention and refused anyway.
//! - **No trace on disk.** SQLite: `secure_delete` is on while an erasure runs (freed pages are
//!   overwritten with zeros), pages freed earlier are wiped too, and the WAL is checkpointed
//!   into the file and truncated soon after (retried every half second while a snapshot reads),
//!   so neither the database file nor its `-wal` keeps the erased values. PostgreSQL: deleted
//!   rows are invisible at once to every node and absent from any `pg_dump`; their bytes stay
//!   in the table's pages until `VACUUM` (autovacuum, or run it after an erasure) reclaims
//!   them, and in WAL archives and backups for as long as those are kept: set their retention
//!   accordingly.
//!
//! Files already delivered to `LiveRamp` are not the store's to delete: the next night's full
//! snapshot no longer has the person.
//!
//! ```
//! use liveramp_audience_store::{
//!     AudienceChange, AudienceStore, MemberChange, Message, RequestKind, SqliteStore,
//!     StoreOptions, SubjectRequest,
//! };
//! use sha2::{Digest, Sha256};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("audiences.db"), StoreOptions::default())?;
//! // Jane is stored with the SHA-256 of her email, in two audiences.
//! let hashed = hex::encode(Sha256::digest(b"jane@x.com"));
//! let jane = MemberChange::with_mpid("123")
//!     .user_identity("email", "sha256", &hashed)
//!     .audience(AudienceChange::add(456))
//!     .audience(AudienceChange::add(789));
//! store.apply(&[Message::membership("m-1", 1_000, vec![jane.clone()])])?;
//!
//! // An erasure names her raw email, as typed.
//! let erasure = SubjectRequest::new("dsr-1", RequestKind::Erasure, 2_000)
//!     .regulation("gdpr")
//!     .identity("email", "raw", " Jane@X.com");
//! let outcome = store.record_subject_request(&erasure)?;
//! let r = &outcome.record;
//! assert_eq!((r.members_removed, r.memberships_removed, r.audiences_affected), (1, 2, 2));
//! assert_eq!(store.audience(456)?.unwrap().members, 0);
//!
//! // A message from before the request (late, retried) does not bring her back...
//! let late = store.apply(&[Message::membership("m-0", 1_500, vec![jane.clone()])])?;
//! assert_eq!(late.erased_profiles, 1);
//! assert_eq!(store.audience(456)?.unwrap().members, 0);
//! // ...a newer one (she signed up again) does.
//! store.apply(&[Message::membership("m-2", 3_000, vec![jane])])?;
//! assert_eq!(store.audience(456)?.unwrap().members, 1);
//!
//! // The same request again changes nothing; the audit holds no identity value.
//! assert!(store.record_subject_request(&erasure)?.duplicate);
//! assert_eq!(store.subject_requests()?[0].identity_types, ["email"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Snapshot lines
//!
//! One JSON object per present member, keys in this fixed order, byte-for-byte deterministic:
//!
//! ```text
//! {"mpid":"123","user_identities":[{"type":"email","encoding":"raw","value":"Jane@x.com"}],"device_identities":[…],"user_attributes":{"$FirstName":"Jane","tags":["a","b"]}}
//! ```
//!
//! `mpid` is omitted for a member without one; identities are in the order of the profile that
//! set them; `user_attributes` holds only that audience's attributes of the member, in key
//! byte order, list values as arrays; strings are escaped exactly as `serde_json` escapes them.
//! [`Snapshot::read_into`] appends whole lines to a buffer (the fast path);
//! [`members`](trait.Snapshot.html#method.members) iterates [`SnapshotMember`]s.
//!
//! # Errors
//!
//! One error type, [`Error`]; [`Error::is_transient`] separates what a retry can fix (busy or
//! locked file, disk full, I/O error, shutting down: a server answers 503 and mParticle
//! retries) from what needs someone to act (damaged file, newer schema, unknown audience).
//!
//! # SQLite
//!
//! [`SqliteStore::open`] creates the file and its folder on first use and checks the schema
//! version (`PRAGMA user_version`, [`SCHEMA_VERSION`]; the tables are [`SCHEMA`]). Other
//! processes may open the same file at the same time, e.g. a command listing audiences while
//! the server writes: readers always work; a second writer waits up to
//! [`StoreOptions::busy_timeout`] and then fails with the transient [`Error::Busy`]. The WAL is
//! copied into the database file by PASSIVE checkpoints on a thread of their own, so the
//! writer never waits for them (past [`StoreOptions::wal_limit_mib`] the writer checkpoints
//! itself, so that the WAL cannot grow without bound under continuous writes). A long snapshot keeps the WAL from being checkpointed past its
//! start, so the `-wal` file grows while it runs and is reused afterwards.
#![deny(missing_docs)]

mod error;
mod key;
mod message;
mod pair;
#[cfg(feature = "postgres")]
mod postgres;
mod prepare;
mod sqlite;
mod store;
mod subject;

pub use error::Error;
pub use key::{DERIVED_KEY_PREFIX, Version, member_key};
pub use message::{
    AttributeChange, AttributeValue, AudienceChange, Change, Identity, MemberChange,
    MembershipAction, Message, SubscriptionAction, SubscriptionChange,
};
#[cfg(feature = "postgres")]
pub use postgres::{PG_COMPONENT, PG_SCHEMA, PG_SCHEMA_VERSION, PgOptions, PgStore};
pub use sqlite::{SCHEMA, SCHEMA_V2, SCHEMA_VERSION, SqliteStore};
pub use store::{
    ApplySummary, AudienceInfo, AudienceStore, Members, PurgeSummary, Snapshot, SnapshotMember,
    SnapshotSummary, StoreOptions, StoreStats,
};
pub use subject::{RequestKind, SubjectOutcome, SubjectRecord, SubjectRequest};
