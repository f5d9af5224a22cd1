//! The PostgreSQL backend: one database shared by several nodes, a transaction per batch
//! (row locks taken in one global order, conflicts retried), snapshots through a cursor of one
//! `REPEATABLE READ` transaction.

mod snapshot;
mod subject;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use liveramp_postgres::postgres::{self, Transaction};
use liveramp_postgres::{Migration, Pool, PoolOptions};

use crate::pair::{AudienceDelta, PairState, V, Ver, decode_attrs, encode_attrs, newer, seq_sql};
use crate::prepare::{POp, Prepared};
use crate::store::{ApplySummary, AudienceInfo, AudienceStore, PurgeSummary, Snapshot, StoreStats};
use crate::subject::{SubjectOutcome, SubjectRecord, SubjectRequest, Tokens};
use crate::{Error, Message};

/// The component name of the store's schema in the `liveramp_schema` table.
pub const PG_COMPONENT: &str = "audience-store";

/// The schema version this crate reads and writes in PostgreSQL.
pub const PG_SCHEMA_VERSION: i32 = 2;

/// The PostgreSQL schema, version 1 (migration 1; migration 2 adds the records and tokens
/// of data subject requests).
///
/// Strings that come from messages (member keys, message ids, names) are `bytea`, so they sort
/// in byte order, as in SQLite, whatever the database's collation, and any text is accepted.
pub const PG_SCHEMA: &str = "
CREATE TABLE audiences (
    id bigint PRIMARY KEY,
    name bytea,
    name_ts bigint, name_mid bytea, name_seq bigint,
    connected boolean NOT NULL DEFAULT false,
    sub_ts bigint, sub_mid bytea,
    first_connected_ms bigint,
    disconnected_at_ms bigint,
    members bigint NOT NULL DEFAULT 0,
    newest_change_ms bigint NOT NULL
);
CREATE TABLE members (
    key bytea PRIMARY KEY,
    ts bigint NOT NULL, mid bytea NOT NULL, seq bigint NOT NULL,
    identities bytea NOT NULL
);
CREATE TABLE memberships (
    audience bigint NOT NULL,
    member bytea NOT NULL,
    present boolean NOT NULL,
    ts bigint, mid bytea, seq bigint,
    del_ts bigint, del_mid bytea, del_seq bigint,
    attributes bytea,
    gone_ms bigint,
    PRIMARY KEY (audience, member)
);
CREATE INDEX memberships_gone ON memberships (gone_ms) WHERE gone_ms IS NOT NULL;
CREATE TABLE messages (
    id bytea PRIMARY KEY,
    ts bigint NOT NULL
);
CREATE INDEX messages_ts ON messages (ts);
CREATE TABLE store_settings (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO store_settings (name, value) VALUES ('horizon_ms', -9223372036854775808);
";

const MIGRATIONS: [Migration; 2] = [
    Migration::new(1, PG_SCHEMA),
    Migration::new(2, subject::PG_SCHEMA_V2),
];

/// How often a batch that lost a deadlock or serialization conflict is tried again.
const CONFLICT_RETRIES: u32 = 8;

/// Settings of a [`PgStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// How long message ids, tombstones and disconnected audiences are kept (default 30).
    pub retention_days: u32,
    /// At most this many rows removed per [`AudienceStore::purge`] call (default 5,000).
    pub purge_rows: u32,
    /// At most this many connections (default 8); a running snapshot holds one.
    pub pool_size: usize,
    /// Statements running longer are cancelled, a transient error (default 30 s; zero: none).
    pub statement_timeout: Duration,
    /// How long a connection attempt may take when the URL does not say (default 5 s).
    pub connect_timeout: Duration,
    /// How long data subject request records are kept (default 365 days; see
    /// [`StoreOptions::dsr_retention_days`](crate::StoreOptions::dsr_retention_days)).
    pub dsr_retention_days: u32,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            retention_days: 30,
            purge_rows: 5_000,
            pool_size: 8,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            dsr_retention_days: 365,
        }
    }
}

/// The PostgreSQL [`AudienceStore`]: any number of processes may open the same database and
/// apply batches at once; they converge to the same state as one SQLite store would hold.
///
/// Each batch is one transaction (committed with the server's `synchronous_commit`, durable
/// when `apply` returns). Rows are locked in one order (message ids, members, memberships,
/// audiences, each sorted), and a batch that still loses a deadlock or serialization conflict
/// is retried whole. `purge` takes the retention horizon's row exclusively, so it never runs
/// beside an apply that read the old horizon.
///
/// ```no_run
/// use liveramp_audience_store::{AudienceChange, AudienceStore, MemberChange, Message, PgOptions, PgStore};
///
/// let url = std::env::var("LIVERAMP_DATABASE_URL")?; // postgres://USER:PASSWORD@HOST:PORT/DB
/// let store = PgStore::open(&url, &PgOptions::default())?;
/// println!("{} schema {}", store.database(), store.schema_version()); // no password
/// let jane = MemberChange::with_mpid("123").audience(AudienceChange::add(456));
/// store.apply(&[Message::membership("m-1", 1_000, vec![jane])])?;
/// assert_eq!(store.audience(456)?.map(|a| a.members), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PgStore {
    pool: Pool,
    retention_ms: i64,
    purge_rows: u32,
    schema_version: i32,
    commits: AtomicU64,
    batches: AtomicU64,
    pending: Arc<AtomicU64>,
    tokens: Tokens,
    dsr_retention_ms: i64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.pool.database())
            .finish_non_exhaustive()
    }
}

/// A failure inside a transaction: the client's (to tell conflicts apart) or ours.
enum Fail {
    Pg(postgres::Error),
    Store(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DBNAME`,
    /// `?sslmode=require` for TLS), applies the embedded migrations under an advisory lock,
    /// and refuses a schema newer than [`PG_SCHEMA_VERSION`].
    pub fn open(url: &str, options: &PgOptions) -> Result<PgStore, Error> {
        let mut pool_options = PoolOptions::default();
        pool_options.size = options.pool_size.max(1);
        pool_options.statement_timeout = options.statement_timeout;
        pool_options.connect_timeout = options.connect_timeout;
        let pool = Pool::connect(url, pool_options)?;
        let schema_version = pool.migrate(PG_COMPONENT, &MIGRATIONS)?;
        let salt: Vec<u8> = {
            let mut conn = pool.get()?;
            conn.query_one(
                "SELECT value FROM store_secrets WHERE name = 'subject_salt'",
                &[],
            )
            .and_then(|r| r.try_get(0))
            .map_err(|e| Error::Postgres(pool.error(&e)))?
        };
        Ok(PgStore {
            tokens: Tokens::new(salt),
            dsr_retention_ms: i64::from(options.dsr_retention_days) * 86_400_000,
            pool,
            retention_ms: i64::from(options.retention_days) * 86_400_000,
            purge_rows: options.purge_rows.max(1),
            schema_version,
            commits: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            pending: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The database, without its password (`postgres://USER@HOST:PORT/DBNAME`).
    pub fn database(&self) -> &str {
        self.pool.database()
    }

    /// The schema version found (after migrating) when the store was opened.
    pub fn schema_version(&self) -> i32 {
        self.schema_version
    }

    fn fail(&self, f: Fail) -> Error {
        match f {
            Fail::Pg(e) => Error::Postgres(self.pool.error(&e)),
            Fail::Store(e) => e,
        }
    }

    fn corrupt(&self, detail: &str) -> Fail {
        Fail::Store(Error::Postgres(liveramp_postgres::Error::Failed {
            database: self.pool.database().to_owned(),
            detail: format!("damaged data: {detail}"),
        }))
    }

    /// Runs `f` in a transaction, retrying deadlocks and serialization failures.
    fn transaction<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, Error> {
        let mut attempt = 0;
        loop {
            let mut conn = self.pool.get()?;
            let result = (|| {
                let mut tx = conn.transaction()?;
                let value = f(&mut tx)?;
                tx.commit()?;
                Ok(value)
            })();
            match result {
                Ok(value) => return Ok(value),
                Err(Fail::Pg(e))
                    if attempt < CONFLICT_RETRIES
                        && e.code()
                            .is_some_and(|c| matches!(c.code(), "40001" | "40P01")) =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(2 << attempt.min(6)));
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }
}

struct Pending(Arc<AtomicU64>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The version in columns `ts`, `mid`, `seq` of a row (`seq` 0 when `None`).
fn stored_version(
    row: &postgres::Row,
    ts: usize,
    mid: usize,
    seq: Option<usize>,
) -> Result<Option<Ver>, postgres::Error> {
    let ts: Option<i64> = row.try_get(ts)?;
    let mid: Option<Vec<u8>> = row.try_get(mid)?;
    let seq: Option<i64> = match seq {
        Some(i) => row.try_get(i)?,
        None => Some(0),
    };
    Ok(match (ts, text(mid), seq) {
        (Some(ts), Some(mid), Some(seq)) => {
            Some(Ver::new(ts, mid, u64::try_from(seq).unwrap_or(0)))
        }
        _ => None,
    })
}

const AUDIENCE_COLUMNS: &str = "SELECT id, name, connected, members, newest_change_ms,
    first_connected_ms, disconnected_at_ms FROM audiences";

fn audience_row(r: &postgres::Row) -> Result<AudienceInfo, postgres::Error> {
    let mut info = AudienceInfo::new(r.try_get(0)?);
    info.name = text(r.try_get(1)?);
    info.connected = r.try_get(2)?;
    info.members = u64::try_from(r.try_get::<_, i64>(3)?).unwrap_or(0);
    info.newest_change_ms = r.try_get(4)?;
    info.first_connected_ms = r.try_get(5)?;
    info.disconnected_at_ms = r.try_get(6)?;
    Ok(info)
}

/// Writes back merged membership rows, one `unnest` row each (columns as
/// [`MembershipRows::params`]).
const UPDATE_MEMBERSHIPS: &str = "UPDATE memberships m SET present = u.present, ts = u.ts,
        mid = u.mid, seq = u.seq, del_ts = u.del_ts, del_mid = u.del_mid, del_seq = u.del_seq,
        attributes = u.attributes, gone_ms = u.gone_ms
    FROM unnest($1::bigint[], $2::bytea[], $3::boolean[], $4::bigint[], $5::bytea[],
        $6::bigint[], $7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[], $11::bigint[])
        AS u(audience, member, present, ts, mid, seq, del_ts, del_mid, del_seq, attributes,
            gone_ms)
    WHERE m.audience = u.audience AND m.member = u.member";

/// Inserts new membership rows, leaving any another node inserted meanwhile.
const INSERT_MEMBERSHIPS: &str = "INSERT INTO memberships (audience, member, present, ts, mid,
        seq, del_ts, del_mid, del_seq, attributes, gone_ms)
    SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::boolean[], $4::bigint[], $5::bytea[],
        $6::bigint[], $7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[], $11::bigint[])
    ON CONFLICT (audience, member) DO NOTHING";

/// The identity rows of a batch, as columns for one `unnest` statement.
#[derive(Default)]
struct IdentityRows<'a> {
    keys: Vec<&'a [u8]>,
    ts: Vec<i64>,
    mids: Vec<&'a [u8]>,
    seqs: Vec<i64>,
    fragments: Vec<&'a [u8]>,
}

impl<'a> IdentityRows<'a> {
    fn push(&mut self, key: &'a str, v: V<'a>, fragment: &'a str) {
        self.keys.push(key.as_bytes());
        self.ts.push(v.ts);
        self.mids.push(v.mid.as_bytes());
        self.seqs.push(seq_sql(v.seq));
        self.fragments.push(fragment.as_bytes());
    }
}

/// Membership rows to write, as columns for one `unnest` statement.
#[derive(Default)]
struct MembershipRows<'a> {
    audiences: Vec<i64>,
    members: Vec<&'a [u8]>,
    present: Vec<bool>,
    ts: Vec<Option<i64>>,
    mids: Vec<Option<Vec<u8>>>,
    seqs: Vec<Option<i64>>,
    del_ts: Vec<Option<i64>>,
    del_mids: Vec<Option<Vec<u8>>>,
    del_seqs: Vec<Option<i64>>,
    attributes: Vec<Option<Vec<u8>>>,
    gone: Vec<Option<i64>>,
}

impl<'a> MembershipRows<'a> {
    fn push(&mut self, audience: i64, key: &'a str, state: &PairState) {
        let m = state.membership.as_ref();
        let f = state.delete_floor.as_ref();
        self.audiences.push(audience);
        self.members.push(key.as_bytes());
        self.present.push(state.present);
        self.ts.push(m.map(|v| v.ts));
        self.mids.push(m.map(|v| v.mid.as_bytes().to_vec()));
        self.seqs.push(m.map(|v| seq_sql(v.seq)));
        self.del_ts.push(f.map(|v| v.ts));
        self.del_mids.push(f.map(|v| v.mid.as_bytes().to_vec()));
        self.del_seqs.push(f.map(|v| seq_sql(v.seq)));
        self.attributes.push(encode_attrs(&state.attrs));
        self.gone.push(state.gone_ms());
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 11] {
        [
            &self.audiences,
            &self.members,
            &self.present,
            &self.ts,
            &self.mids,
            &self.seqs,
            &self.del_ts,
            &self.del_mids,
            &self.del_seqs,
            &self.attributes,
            &self.gone,
        ]
    }
}

impl PgStore {
    fn apply_in(&self, tx: &mut Transaction<'_>, batch: &Prepared) -> Result<ApplySummary, Fail> {
        // Shared lock on the horizon: a purge (which moves it) waits for this batch, and this
        // batch for a running purge.
        let head = tx.query_one(
            "SELECT value, (SELECT max(ts) FROM subject_tokens WHERE tombstone)
             FROM store_settings WHERE name = 'horizon_ms' FOR SHARE",
            &[],
        )?;
        let horizon: i64 = head.try_get(0)?;
        let newest_erasure_ms: Option<i64> = head.try_get(1)?;
        let mut summary = ApplySummary::default();
        let mut skip = vec![false; batch.messages.len()];
        let insert =
            tx.prepare("INSERT INTO messages (id, ts) VALUES ($1, $2) ON CONFLICT DO NOTHING")?;
        // Ids in byte order (the lock order), the batch order among equal ids.
        let mut order: Vec<usize> = (0..batch.messages.len()).collect();
        order.sort_by(|&a, &b| {
            batch.messages[a]
                .id
                .cmp(&batch.messages[b].id)
                .then(a.cmp(&b))
        });
        for i in order {
            let m = &batch.messages[i];
            if m.ts < horizon {
                summary.expired += 1;
                skip[i] = true;
            } else if tx.execute(&insert, &[&m.id.as_bytes(), &m.ts])? == 0 {
                summary.duplicates += 1;
                skip[i] = true;
            }
        }
        for (m, skipped) in batch.messages.iter().zip(&skip) {
            if !skipped {
                summary += m.counts;
            }
        }
        let erased = self.erased_in(tx, batch, &skip, newest_erasure_ms)?;
        summary.erased_profiles = u64::try_from(erased.iter().filter(|e| **e).count()).unwrap_or(0);
        let version = |msg: usize, seq: u64| {
            let m = &batch.messages[msg];
            V {
                ts: m.ts,
                mid: &m.id,
                seq,
            }
        };
        let mut audiences: BTreeMap<i64, AudienceDelta<'_>> = BTreeMap::new();
        for s in batch.subs.iter().filter(|s| !skip[s.msg]) {
            let v = version(s.msg, 0);
            let d = audiences.entry(s.audience).or_default();
            d.touch(v.ts);
            d.name(v, &s.name);
            if d.sub.is_none_or(|(old, _)| newer(v, old)) {
                d.sub = Some((v, s.connect));
            }
            if s.connect {
                d.first_connect_ms = Some(d.first_connect_ms.map_or(v.ts, |f| f.min(v.ts)));
            }
        }

        // Identities: per member (in key order), the batch's newest, if newer than stored;
        // one statement for the whole batch.
        let mut ident_rows = IdentityRows::default();
        let mut i = 0;
        while i < batch.idents.len() {
            let key = &batch.keys[batch.idents[i].key];
            let mut best: Option<(V<'_>, &str)> = None;
            while i < batch.idents.len() && batch.keys[batch.idents[i].key] == *key {
                let id = &batch.idents[i];
                i += 1;
                if skip[id.msg] || erased[id.key] {
                    continue;
                }
                let v = version(id.msg, id.seq);
                if best.is_none_or(|(b, _)| newer(v, b)) {
                    best = Some((v, &id.fragment));
                }
            }
            if let Some((v, fragment)) = best {
                ident_rows.push(key, v, fragment);
            }
        }
        if !ident_rows.keys.is_empty() {
            tx.execute(
                "INSERT INTO members (key, ts, mid, seq, identities)
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bigint[],
                     $5::bytea[])
                 ON CONFLICT (key) DO UPDATE SET ts = excluded.ts, mid = excluded.mid,
                     seq = excluded.seq, identities = excluded.identities
                 WHERE (excluded.ts, excluded.mid, excluded.seq) > (members.ts, members.mid, members.seq)",
                &[
                    &ident_rows.keys,
                    &ident_rows.ts,
                    &ident_rows.mids,
                    &ident_rows.seqs,
                    &ident_rows.fragments,
                ],
            )?;
        }

        // Memberships: the (audience, member) groups of the batch, in that order.
        let ops = &batch.ops;
        let mut groups: Vec<(i64, &str, Vec<&POp>)> = Vec::new();
        let mut i = 0;
        while i < ops.len() {
            let (audience, key) = (ops[i].audience, &batch.keys[ops[i].key]);
            let start = i;
            while i < ops.len() && ops[i].audience == audience && batch.keys[ops[i].key] == *key {
                i += 1;
            }
            let group: Vec<_> = ops[start..i]
                .iter()
                .filter(|o| !skip[o.msg] && !erased[o.key])
                .collect();
            if !group.is_empty() {
                groups.push((audience, key.as_str(), group));
            }
        }
        // Every stored row of the batch read at once, locked in (audience, member) order (the
        // global lock order: the rows are sorted before they are locked).
        let mut stored: HashMap<(i64, &[u8]), postgres::Row> = HashMap::new();
        if !groups.is_empty() {
            let audiences_of: Vec<i64> = groups.iter().map(|g| g.0).collect();
            let members_of: Vec<&[u8]> = groups.iter().map(|g| g.1.as_bytes()).collect();
            let rows = tx.query(
                "SELECT m.audience, m.member, present, ts, mid, seq, del_ts, del_mid, del_seq,
                     attributes
                 FROM memberships m
                 JOIN unnest($1::bigint[], $2::bytea[]) AS b(audience, member)
                     ON m.audience = b.audience AND m.member = b.member
                 ORDER BY m.audience, m.member FOR UPDATE OF m",
                &[&audiences_of, &members_of],
            )?;
            let by_key: HashMap<(i64, &[u8]), usize> = groups
                .iter()
                .enumerate()
                .map(|(n, g)| ((g.0, g.1.as_bytes()), n))
                .collect();
            for row in rows {
                let audience: i64 = row.try_get(0)?;
                let member: Vec<u8> = row.try_get(1)?;
                if let Some(&n) = by_key.get(&(audience, member.as_slice())) {
                    stored.insert((audience, groups[n].1.as_bytes()), row);
                }
            }
        }
        let mut updates = MembershipRows::default();
        let mut inserts = MembershipRows::default();
        // The change of each audience's member count a write brings, once it is written.
        let mut counted: Vec<(i64, i64)> = Vec::new();
        let mut insert_counts: HashMap<(i64, &[u8]), (usize, i64)> = HashMap::new();
        for (n, (audience, key, group)) in groups.iter().enumerate() {
            let row = stored.get(&(*audience, key.as_bytes()));
            let d = audiences.entry(*audience).or_default();
            let merged = self.merge(row, group, d, horizon, &version, *audience, key)?;
            let Some((state, was_present)) = merged else {
                continue;
            };
            let delta = i64::from(state.present) - i64::from(was_present);
            if row.is_some() {
                updates.push(*audience, key, &state);
                counted.push((*audience, delta));
            } else {
                inserts.push(*audience, key, &state);
                insert_counts.insert((*audience, key.as_bytes()), (n, delta));
            }
        }
        if !updates.audiences.is_empty() {
            tx.execute(UPDATE_MEMBERSHIPS, &updates.params())?;
        }
        let mut raced: Vec<usize> = Vec::new();
        if !inserts.audiences.is_empty() {
            let written = tx.query(
                &format!("{INSERT_MEMBERSHIPS} RETURNING audience, member"),
                &inserts.params(),
            )?;
            let mut done = Vec::with_capacity(written.len());
            for row in &written {
                done.push((row.try_get::<_, i64>(0)?, row.try_get::<_, &[u8]>(1)?));
            }
            done.sort_unstable();
            for (key, (n, delta)) in &insert_counts {
                if done.binary_search(key).is_ok() {
                    counted.push((key.0, *delta));
                } else {
                    // Another node created the row meanwhile: merge with it, one at a time.
                    // (Rare: the `members` upsert above already waits for a node adding the
                    // same member, so its rows are seen by the read; this covers the rest.)
                    raced.push(*n);
                }
            }
        }
        for (audience, delta) in counted {
            audiences.entry(audience).or_default().members += delta;
        }
        raced.sort_unstable();
        for n in raced {
            let (audience, key, group) = &groups[n];
            let d = audiences.entry(*audience).or_default();
            self.merge_one(tx, *audience, key, group, d, horizon, &version)?;
        }

        for (id, d) in &audiences {
            Self::update_audience(tx, *id, d)?;
        }
        Ok(summary)
    }

    /// Merges one (audience, member) group of operations into its stored row (`None`: no
    /// row yet): the new state and whether the member was present before, or `None` when
    /// nothing changes.
    #[allow(clippy::too_many_arguments)]
    fn merge<'b>(
        &self,
        row: Option<&postgres::Row>,
        group: &[&'b POp],
        d: &mut AudienceDelta<'b>,
        horizon: i64,
        version: &dyn Fn(usize, u64) -> V<'b>,
        audience: i64,
        key: &str,
    ) -> Result<Option<(PairState, bool)>, Fail> {
        // Columns: present, ts, mid, seq, del_ts, del_mid, del_seq, attributes from `first`.
        let mut state = PairState::default();
        if let Some(row) = row {
            let first = row.len() - 8;
            state.present = row.try_get(first)?;
            state.membership = stored_version(row, first + 1, first + 2, Some(first + 3))?;
            state.delete_floor = stored_version(row, first + 4, first + 5, Some(first + 6))?;
            let attributes: Option<Vec<u8>> = row.try_get(first + 7)?;
            state.attrs = decode_attrs(attributes.as_deref()).map_err(|_| {
                self.corrupt(&format!(
                    "the attributes of member {key:?} in audience {audience} are unreadable"
                ))
            })?;
        }
        let was_present = state.present;
        if !state.apply_ops(group, d, version) {
            return Ok(None);
        }
        state.forget_before(horizon);
        Ok(Some((state, was_present)))
    }

    /// One group merged and written on its own (its row appeared meanwhile): lock the row,
    /// merge, write back, until the write lands.
    #[allow(clippy::too_many_arguments)]
    fn merge_one<'b>(
        &self,
        tx: &mut Transaction<'_>,
        audience: i64,
        key: &str,
        group: &[&'b POp],
        d: &mut AudienceDelta<'b>,
        horizon: i64,
        version: &dyn Fn(usize, u64) -> V<'b>,
    ) -> Result<(), Fail> {
        loop {
            let stored = tx.query_opt(
                "SELECT present, ts, mid, seq, del_ts, del_mid, del_seq, attributes
                 FROM memberships WHERE audience = $1 AND member = $2 FOR UPDATE",
                &[&audience, &key.as_bytes()],
            )?;
            let Some((state, was_present)) =
                self.merge(stored.as_ref(), group, d, horizon, version, audience, key)?
            else {
                return Ok(());
            };
            let mut rows = MembershipRows::default();
            rows.push(audience, key, &state);
            let sql = if stored.is_some() {
                UPDATE_MEMBERSHIPS
            } else {
                INSERT_MEMBERSHIPS
            };
            if tx.execute(sql, &rows.params())? == 1 {
                d.members += i64::from(state.present) - i64::from(was_present);
                return Ok(());
            }
        }
    }

    fn update_audience(
        tx: &mut Transaction<'_>,
        id: i64,
        d: &AudienceDelta<'_>,
    ) -> Result<(), Fail> {
        loop {
            let stored = tx.query_opt(
                "SELECT name, name_ts, name_mid, name_seq, connected, sub_ts, sub_mid,
                     first_connected_ms, disconnected_at_ms, members, newest_change_ms
                 FROM audiences WHERE id = $1 FOR UPDATE",
                &[&id],
            )?;
            let (mut name, mut name_v, mut connected, mut sub_v) = (None, None, false, None);
            let (mut first, mut disconnected, mut members, mut newest) = (None, None, 0i64, None);
            if let Some(r) = &stored {
                name = text(r.try_get(0)?);
                name_v = stored_version(r, 1, 2, Some(3))?;
                connected = r.try_get(4)?;
                sub_v = stored_version(r, 5, 6, None)?;
                first = r.try_get(7)?;
                disconnected = r.try_get(8)?;
                members = r.try_get(9)?;
                newest = Some(r.try_get::<_, i64>(10)?);
            }
            if let Some((v, n)) = d.name
                && v.newer_than(name_v.as_ref())
            {
                name = Some(n.to_owned());
                name_v = Some(v.owned());
            }
            if let Some((v, connect)) = d.sub
                && v.newer_than(sub_v.as_ref())
            {
                connected = connect;
                disconnected = (!connect).then_some(v.ts);
                sub_v = Some(v.owned());
            }
            if let Some(f) = d.first_connect_ms {
                first = Some(first.map_or(f, |o: i64| o.min(f)));
            }
            members = (members + d.members).max(0);
            let newest = match (newest, d.newest_ms) {
                (Some(a), Some(b)) => a.max(b),
                (a, b) => a.or(b).unwrap_or(i64::MIN),
            };
            let n = name_v.as_ref();
            let s = sub_v.as_ref();
            let params: [&(dyn postgres::types::ToSql + Sync); 12] = [
                &id,
                &name.as_ref().map(String::as_bytes),
                &n.map(|v| v.ts),
                &n.map(|v| v.mid.as_bytes()),
                &n.map(|v| seq_sql(v.seq)),
                &connected,
                &s.map(|v| v.ts),
                &s.map(|v| v.mid.as_bytes()),
                &first,
                &disconnected,
                &members,
                &newest,
            ];
            let written = if stored.is_some() {
                tx.execute(
                    "UPDATE audiences SET name = $2, name_ts = $3, name_mid = $4, name_seq = $5,
                         connected = $6, sub_ts = $7, sub_mid = $8, first_connected_ms = $9,
                         disconnected_at_ms = $10, members = $11, newest_change_ms = $12
                     WHERE id = $1",
                    &params,
                )?
            } else {
                tx.execute(
                    "INSERT INTO audiences (id, name, name_ts, name_mid, name_seq, connected,
                         sub_ts, sub_mid, first_connected_ms, disconnected_at_ms, members,
                         newest_change_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (id) DO NOTHING",
                    &params,
                )?
            };
            if written == 1 {
                return Ok(());
            }
        }
    }

    fn purge_in(&self, tx: &mut Transaction<'_>, now_ms: i64) -> Result<PurgeSummary, Fail> {
        let horizon: i64 = tx
            .query_one(
                "UPDATE store_settings SET value = greatest(value, $1) WHERE name = 'horizon_ms'
                 RETURNING value",
                &[&now_ms.saturating_sub(self.retention_ms)],
            )?
            .try_get(0)?;
        let budget = i64::from(self.purge_rows);
        let mut summary = PurgeSummary {
            horizon_ms: horizon,
            ..PurgeSummary::default()
        };
        let mut left = budget;

        // 1. Message ids older than the horizon.
        let removed = tx.execute(
            "DELETE FROM messages WHERE id IN
                 (SELECT id FROM messages WHERE ts < $1 ORDER BY ts LIMIT $2)",
            &[&horizon, &left],
        )?;
        summary.message_ids = removed;
        left -= count(removed);
        summary.more |= left <= 0;

        let audience_ids: Vec<i64> = tx
            .query("SELECT id FROM audiences ORDER BY id", &[])?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let mut orphans: Vec<Vec<u8>> = Vec::new();

        // 2. Rows of non-members with nothing newer than the horizon.
        if left > 0 {
            let gone = tx.query(
                "DELETE FROM memberships WHERE (audience, member) IN
                     (SELECT audience, member FROM memberships WHERE gone_ms < $1
                      ORDER BY gone_ms LIMIT $2)
                 RETURNING member",
                &[&horizon, &left],
            )?;
            for row in gone {
                orphans.push(row.try_get(0)?);
                summary.memberships += 1;
                left -= 1;
            }
            summary.more |= left <= 0;
        }

        // 3. Audiences not connected whose newest change is older than the horizon.
        let stale: Vec<i64> = tx
            .query(
                "SELECT id FROM audiences WHERE NOT connected AND newest_change_ms < $1
                 ORDER BY id",
                &[&horizon],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        for audience in stale {
            if left <= 0 {
                summary.more = true;
                break;
            }
            let removed = tx.query(
                "DELETE FROM memberships WHERE audience = $1 AND member IN
                     (SELECT member FROM memberships WHERE audience = $1 LIMIT $2)
                 RETURNING member, present",
                &[&audience, &left],
            )?;
            let n = i64::try_from(removed.len()).unwrap_or(i64::MAX);
            let mut present = 0i64;
            for row in removed {
                orphans.push(row.try_get(0)?);
                present += i64::from(row.try_get::<_, bool>(1)?);
            }
            summary.memberships += u64::try_from(n).unwrap_or(0);
            tx.execute(
                "UPDATE audiences SET members = greatest(members - $2, 0) WHERE id = $1",
                &[&audience, &present],
            )?;
            if n < left {
                tx.execute("DELETE FROM audiences WHERE id = $1", &[&audience])?;
                summary.audiences += 1;
            }
            left -= n;
            summary.more |= left <= 0;
        }

        // 4. Members no audience holds any more.
        orphans.sort();
        orphans.dedup();
        let held = tx.prepare(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE audience = ANY($1) AND member = $2)",
        )?;
        let delete = tx.prepare("DELETE FROM members WHERE key = $1")?;
        for member in orphans {
            let kept: bool = tx.query_one(&held, &[&audience_ids, &member])?.try_get(0)?;
            if !kept {
                summary.members += tx.execute(&delete, &[&member])?;
            }
        }

        // 5. Data subject request records past their own retention.
        if left > 0 {
            let (removed, more) = self.purge_requests_in(tx, now_ms, left)?;
            summary.subject_requests = removed;
            summary.more |= more;
        } else {
            summary.more = true;
        }
        Ok(summary)
    }
}

impl AudienceStore for PgStore {
    fn apply(&self, batch: &[Message]) -> Result<ApplySummary, Error> {
        if batch.is_empty() {
            return Ok(ApplySummary::default());
        }
        let prepared = Prepared::new(batch);
        self.pending.fetch_add(1, Relaxed);
        let _pending = Pending(Arc::clone(&self.pending));
        let result = self.transaction(|tx| self.apply_in(tx, &prepared));
        self.batches.fetch_add(1, Relaxed);
        if result.is_ok() {
            self.commits.fetch_add(1, Relaxed);
        }
        result
    }

    fn audiences(&self) -> Result<Vec<AudienceInfo>, Error> {
        let mut conn = self.pool.get()?;
        let rows = conn
            .query(&format!("{AUDIENCE_COLUMNS} ORDER BY id"), &[])
            .map_err(|e| self.fail(e.into()))?;
        rows.iter()
            .map(|r| audience_row(r).map_err(|e| self.fail(e.into())))
            .collect()
    }

    fn audience(&self, id: i64) -> Result<Option<AudienceInfo>, Error> {
        let mut conn = self.pool.get()?;
        let row = conn
            .query_opt(&format!("{AUDIENCE_COLUMNS} WHERE id = $1"), &[&id])
            .map_err(|e| self.fail(e.into()))?;
        row.as_ref()
            .map(audience_row)
            .transpose()
            .map_err(|e| self.fail(e.into()))
    }

    fn snapshot(&self, audience_id: i64) -> Result<Box<dyn Snapshot + Send>, Error> {
        let conn = self.pool.get()?;
        let snapshot = snapshot::PgSnapshot::open(conn, self.pool.clone(), audience_id)?;
        Ok(Box::new(snapshot))
    }

    fn purge(&self, now_ms: i64) -> Result<PurgeSummary, Error> {
        self.transaction(|tx| self.purge_in(tx, now_ms))
    }

    fn stats(&self) -> Result<StoreStats, Error> {
        let mut conn = self.pool.get()?;
        let row = conn
            .query_one(
                "SELECT (SELECT count(*) FROM audiences), (SELECT count(*) FROM members),
                     (SELECT count(*) FROM memberships),
                     (SELECT coalesce(sum(members), 0)::bigint FROM audiences),
                     (SELECT count(*) FROM messages),
                     (SELECT sum(pg_total_relation_size(t))::bigint FROM unnest(ARRAY[
                         'audiences', 'members', 'memberships', 'messages', 'store_settings',
                         'subject_requests', 'subject_tokens'
                     ]::regclass[]) AS t)",
                &[],
            )
            .map_err(|e| self.fail(e.into()))?;
        let get = |i: usize| -> Result<u64, Error> {
            let n: i64 = row.try_get(i).map_err(|e| self.fail(e.into()))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(StoreStats {
            audiences: get(0)?,
            members: get(1)?,
            memberships: get(2)?,
            present: get(3)?,
            message_ids: get(4)?,
            bytes_on_disk: get(5)?,
            commits: self.commits.load(Relaxed),
            batches: self.batches.load(Relaxed),
            pending: self.pending.load(Relaxed),
        })
    }

    fn record_subject_request(&self, request: &SubjectRequest) -> Result<SubjectOutcome, Error> {
        self.transaction(|tx| self.record_in(tx, request))
    }

    fn subject_requests(&self) -> Result<Vec<SubjectRecord>, Error> {
        self.transaction(Self::list_in)
    }

    fn export_subject(&self, request_id: &str) -> Result<Option<String>, Error> {
        let mut conn = self.pool.get()?;
        let result = (|| {
            let mut tx = conn
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let out = self.export_in(&mut tx, request_id)?;
            tx.commit()?;
            Ok(out)
        })();
        result.map_err(|f| self.fail(f))
    }
}
