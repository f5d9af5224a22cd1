//! The writer thread: group commit, applying prepared batches, purging.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender};

use rusqlite::{Connection, OptionalExtension, params};

use super::Shared;
use crate::Error;
use crate::pair::{AudienceDelta, PairState, V, Ver, decode_attrs, encode_attrs, newer, seq_sql};
use crate::prepare::Prepared;
use crate::store::{ApplySummary, PurgeSummary};
use crate::subject::{SubjectOutcome, SubjectRequest};

use super::subject;

pub(crate) enum Request {
    Apply {
        batch: Prepared,
        /// The answer, and the batch back for the caller's thread to free.
        reply: SyncSender<(Result<ApplySummary, Error>, Prepared)>,
    },
    Purge {
        now_ms: i64,
        reply: SyncSender<Result<PurgeSummary, Error>>,
    },
    Subject {
        request: SubjectRequest,
        reply: SyncSender<Result<SubjectOutcome, Error>>,
    },
}

enum Outcome {
    Applied(ApplySummary),
    Purged(PurgeSummary),
    /// The outcome, and whether members were erased.
    Subject(SubjectOutcome, bool),
}

impl Request {
    fn answer(self, result: Result<Outcome, Error>) {
        // A caller that went away does not need its answer.
        match self {
            Request::Apply { reply, batch } => {
                let result = result.map(|o| match o {
                    Outcome::Applied(s) => s,
                    _ => ApplySummary::default(),
                });
                let _ = reply.send((result, batch));
            }
            Request::Purge { reply, .. } => {
                let _ = reply.send(result.map(|o| match o {
                    Outcome::Purged(s) => s,
                    _ => PurgeSummary::default(),
                }));
            }
            Request::Subject { reply, request } => {
                let result = result.and_then(|o| match o {
                    Outcome::Subject(s, _) => Ok(s),
                    _ => Err(Error::Database {
                        path: std::path::PathBuf::new(),
                        detail: format!("request {} got another answer", request.id),
                    }),
                });
                let _ = reply.send(result);
            }
        }
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::from_sqlite(path, &e)
}

/// Runs until every sender is gone: takes the queued requests (up to the group limit), runs
/// each in its own savepoint of one transaction, commits once, then answers them all.
pub(crate) fn run(conn: &Connection, shared: &Arc<Shared>, requests: &Receiver<Request>) {
    let max = shared.options.max_group_batches.max(1);
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        while group.len() < max {
            match requests.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let results = run_group(conn, shared, &group);
        shared.commits.fetch_add(1, Relaxed);
        if results
            .iter()
            .any(|r| matches!(r, Ok(Outcome::Subject(_, true))))
        {
            // Erased rows may still be in the WAL's older page images: empty it.
            shared.truncate_wal_soon();
        } else {
            shared.checkpoint_soon();
        }
        let n = u64::try_from(group.len()).unwrap_or(u64::MAX);
        shared.batches.fetch_add(n, Relaxed);
        shared.pending.fetch_sub(n, Relaxed);
        for (request, result) in group.into_iter().zip(results) {
            request.answer(result);
        }
        // The checkpoint thread may fall behind a writer that never pauses; past the limit the
        // writer checkpoints itself, so that its next transaction can start the WAL over.
        let wal = std::fs::metadata(&shared.wal_path).map_or(0, |m| m.len());
        if wal > shared.options.wal_limit_mib.saturating_mul(1 << 20) {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    }
}

fn run_group(conn: &Connection, shared: &Shared, group: &[Request]) -> Vec<Result<Outcome, Error>> {
    let path = shared.path.as_path();
    let all = |e: &Error| group.iter().map(|_| Err(e.clone())).collect();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return all(&Error::from_sqlite(path, &e));
    }
    let mut results = Vec::with_capacity(group.len());
    for request in group {
        if let Err(e) = conn.execute_batch("SAVEPOINT batch") {
            let e = Error::from_sqlite(path, &e);
            rollback(conn);
            return all(&e);
        }
        let result = match request {
            Request::Apply { batch, .. } => apply(conn, shared, batch).map(Outcome::Applied),
            Request::Purge { now_ms, .. } => purge(conn, shared, *now_ms).map(Outcome::Purged),
            Request::Subject { request, .. } => {
                subject::record(conn, shared, request).map(|(o, e)| Outcome::Subject(o, e))
            }
        };
        if result.is_err() && conn.is_autocommit() {
            // SQLite rolled the whole transaction back (e.g. after an I/O error): nothing of
            // this group was committed.
            if let Err(e) = result {
                return all(&e);
            }
        }
        let end = if result.is_ok() {
            "RELEASE batch"
        } else {
            "ROLLBACK TO batch; RELEASE batch"
        };
        if let Err(e) = conn.execute_batch(end) {
            let e = Error::from_sqlite(path, &e);
            rollback(conn);
            return all(&e);
        }
        results.push(result);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let e = Error::from_sqlite(path, &e);
        rollback(conn);
        return all(&e);
    }
    results
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        // If even the rollback fails, SQLite rolls back when the connection is next used.
        let _ = conn.execute_batch("ROLLBACK");
    }
}

fn horizon(conn: &Connection, path: &Path) -> Result<i64, Error> {
    conn.prepare_cached("SELECT value FROM settings WHERE name = 'horizon_ms'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map(|h| h.unwrap_or(i64::MIN))
        .map_err(sql(path))
}

fn newer_than_stored(a: V<'_>, stored: Option<&Ver>) -> bool {
    a.newer_than(stored)
}

fn apply(conn: &Connection, shared: &Shared, batch: &Prepared) -> Result<ApplySummary, Error> {
    let path = shared.path.as_path();
    let err = sql(path);
    let horizon = horizon(conn, path)?;
    let mut summary = ApplySummary::default();
    let mut skip = vec![false; batch.messages.len()];
    {
        let mut insert = conn
            .prepare_cached("INSERT INTO messages (id, ts) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
            .map_err(&err)?;
        for (i, m) in batch.messages.iter().enumerate() {
            if m.ts < horizon {
                summary.expired += 1;
                skip[i] = true;
            } else if insert.execute(params![&*m.id, m.ts]).map_err(&err)? == 0 {
                summary.duplicates += 1;
                skip[i] = true;
            } else {
                summary += m.counts;
            }
        }
    }
    let erased = subject::erased_profiles(conn, shared, batch, &skip)?;
    summary.erased_profiles = count(erased.iter().filter(|e| **e).count());
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

    // Identities: per member, the newest profile of the batch, if newer than the stored one.
    {
        let mut upsert = conn
            .prepare_cached(
                "INSERT INTO members (key, ts, mid, seq, identities) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (key) DO UPDATE SET ts = excluded.ts, mid = excluded.mid,
                     seq = excluded.seq, identities = excluded.identities
                 WHERE (excluded.ts, excluded.mid, excluded.seq) > (members.ts, members.mid, members.seq)",
            )
            .map_err(&err)?;
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
                upsert
                    .execute(params![key, v.ts, &**v.mid, seq_sql(v.seq), fragment])
                    .map_err(&err)?;
            }
        }
    }

    // Memberships and attributes: per (audience, member), read the row, merge, write it back.
    {
        let mut select = conn
            .prepare_cached(
                "SELECT present, ts, mid, seq, del_ts, del_mid, del_seq, attributes
                 FROM memberships WHERE audience = ?1 AND member = ?2",
            )
            .map_err(&err)?;
        let mut upsert = conn
            .prepare_cached(
                "INSERT INTO memberships (audience, member, present, ts, mid, seq, del_ts, del_mid,
                     del_seq, attributes, gone_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (audience, member) DO UPDATE SET present = excluded.present,
                     ts = excluded.ts, mid = excluded.mid, seq = excluded.seq,
                     del_ts = excluded.del_ts, del_mid = excluded.del_mid,
                     del_seq = excluded.del_seq, attributes = excluded.attributes,
                     gone_ms = excluded.gone_ms",
            )
            .map_err(&err)?;
        let ops = &batch.ops;
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
            if group.is_empty() {
                continue;
            }
            let d = audiences.entry(audience).or_default();
            let stored = select
                .query_row(params![audience, key], |r| {
                    let attributes: Option<Vec<u8>> = r.get(7)?;
                    Ok((
                        r.get::<_, bool>(0)?,
                        stored_version(r, 1, 2, Some(3))?,
                        stored_version(r, 4, 5, Some(6))?,
                        attributes,
                    ))
                })
                .optional()
                .map_err(&err)?;
            let mut state = PairState::default();
            if let Some((present, membership, delete_floor, attributes)) = &stored {
                state.present = *present;
                state.membership.clone_from(membership);
                state.delete_floor.clone_from(delete_floor);
                state.attrs = decode_attrs(attributes.as_deref()).map_err(|_| {
                    Error::corrupt(
                        path,
                        format!(
                            "the attributes of member {key:?} in audience {audience} are unreadable"
                        ),
                    )
                })?;
            }
            let was_present = state.present;
            if !state.apply_ops(&group, d, &version) {
                continue;
            }
            state.forget_before(horizon);
            d.members += i64::from(state.present) - i64::from(was_present);
            let m = state.membership.as_ref();
            let f = state.delete_floor.as_ref();
            upsert
                .execute(params![
                    audience,
                    key,
                    state.present,
                    m.map(|v| v.ts),
                    m.map(|v| &*v.mid),
                    m.map(|v| seq_sql(v.seq)),
                    f.map(|v| v.ts),
                    f.map(|v| &*v.mid),
                    f.map(|v| seq_sql(v.seq)),
                    encode_attrs(&state.attrs),
                    state.gone_ms(),
                ])
                .map_err(&err)?;
        }
    }

    for (id, d) in &audiences {
        update_audience(conn, path, *id, d)?;
    }
    Ok(summary)
}

/// The version stored in columns `ts`, `mid` and `seq` (0 when `seq` is `None`).
fn stored_version(
    r: &rusqlite::Row<'_>,
    ts: usize,
    mid: usize,
    seq: Option<usize>,
) -> rusqlite::Result<Option<Ver>> {
    let ts: Option<i64> = r.get(ts)?;
    let mid: Option<String> = r.get(mid)?;
    let seq: Option<i64> = match seq {
        Some(i) => r.get(i)?,
        None => Some(0),
    };
    Ok(match (ts, mid, seq) {
        (Some(ts), Some(mid), Some(seq)) => {
            Some(Ver::new(ts, mid, u64::try_from(seq).unwrap_or(0)))
        }
        _ => None,
    })
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An audience row as stored.
struct Row {
    name: Option<String>,
    name_v: Option<Ver>,
    connected: bool,
    sub_v: Option<Ver>,
    first_connected_ms: Option<i64>,
    disconnected_at_ms: Option<i64>,
    members: i64,
    newest_change_ms: Option<i64>,
}

fn update_audience(
    conn: &Connection,
    path: &Path,
    id: i64,
    d: &AudienceDelta<'_>,
) -> Result<(), Error> {
    let e = sql(path);
    let stored = conn
        .prepare_cached(
            "SELECT name, name_ts, name_mid, name_seq, connected, sub_ts, sub_mid,
                 first_connected_ms, disconnected_at_ms, members, newest_change_ms
             FROM audiences WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok(Row {
                    name: r.get(0)?,
                    name_v: stored_version(r, 1, 2, Some(3))?,
                    connected: r.get(4)?,
                    sub_v: stored_version(r, 5, 6, None)?,
                    first_connected_ms: r.get(7)?,
                    disconnected_at_ms: r.get(8)?,
                    members: r.get(9)?,
                    newest_change_ms: Some(r.get(10)?),
                })
            })
            .optional()
        })
        .map_err(&e)?;
    let mut row = stored.unwrap_or(Row {
        name: None,
        name_v: None,
        connected: false,
        sub_v: None,
        first_connected_ms: None,
        disconnected_at_ms: None,
        members: 0,
        newest_change_ms: None,
    });
    if let Some((v, name)) = d.name
        && newer_than_stored(v, row.name_v.as_ref())
    {
        row.name = Some(name.to_owned());
        row.name_v = Some(v.owned());
    }
    if let Some((v, connect)) = d.sub
        && newer_than_stored(v, row.sub_v.as_ref())
    {
        row.connected = connect;
        row.disconnected_at_ms = (!connect).then_some(v.ts);
        row.sub_v = Some(v.owned());
    }
    if let Some(f) = d.first_connect_ms {
        row.first_connected_ms = Some(row.first_connected_ms.map_or(f, |o| o.min(f)));
    }
    row.members = (row.members + d.members).max(0);
    let newest = match (row.newest_change_ms, d.newest_ms) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b).unwrap_or(i64::MIN),
    };
    let n = row.name_v.as_ref();
    let s = row.sub_v.as_ref();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO audiences (id, name, name_ts, name_mid, name_seq, connected,
             sub_ts, sub_mid, first_connected_ms, disconnected_at_ms, members, newest_change_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut st| {
        st.execute(params![
            id,
            row.name,
            n.map(|v| v.ts),
            n.map(|v| &*v.mid),
            n.map(|v| seq_sql(v.seq)),
            row.connected,
            s.map(|v| v.ts),
            s.map(|v| &*v.mid),
            row.first_connected_ms,
            row.disconnected_at_ms,
            row.members,
            newest,
        ])
    })
    .map_err(&e)?;
    Ok(())
}

/// One bounded step of retention: see [`AudienceStore::purge`](crate::AudienceStore::purge).
fn purge(conn: &Connection, shared: &Shared, now_ms: i64) -> Result<PurgeSummary, Error> {
    let path = shared.path.as_path();
    let e = sql(path);
    let retention = shared.options.retention_ms();
    let budget = shared.options.purge_rows;
    let horizon = horizon(conn, path)?.max(now_ms.saturating_sub(retention));
    conn.prepare_cached(
        "INSERT INTO settings (name, value) VALUES ('horizon_ms', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut s| s.execute([horizon]))
    .map_err(&e)?;
    let budget = i64::from(budget.max(1));
    let mut summary = PurgeSummary {
        horizon_ms: horizon,
        ..PurgeSummary::default()
    };
    let mut left = budget;

    // 1. Message ids older than the horizon.
    let removed = conn
        .prepare_cached(
            "DELETE FROM messages WHERE id IN
                 (SELECT id FROM messages WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
        )
        .and_then(|mut s| s.execute(params![horizon, left]))
        .map_err(&e)?;
    summary.message_ids = count(removed);
    left -= signed(removed);
    summary.more |= left <= 0;

    let audience_ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM audiences ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(&e)?;
    let mut orphans: Vec<String> = Vec::new();

    // 2. Rows of non-members with nothing newer than the horizon.
    if left > 0 {
        let gone: Vec<(i64, String)> = conn
            .prepare_cached(
                "SELECT audience, member FROM memberships WHERE gone_ms < ?1
                 ORDER BY gone_ms LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![horizon, left], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(&e)?;
        let mut delete = conn
            .prepare_cached("DELETE FROM memberships WHERE audience = ?1 AND member = ?2")
            .map_err(&e)?;
        for (audience, member) in gone {
            delete.execute(params![audience, member]).map_err(&e)?;
            summary.memberships += 1;
            left -= 1;
            orphans.push(member);
        }
        summary.more |= left <= 0;
    }

    // 3. Audiences not connected whose newest change is older than the horizon: their rows,
    // then the audience itself.
    let stale: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM audiences WHERE connected = 0 AND newest_change_ms < ?1 ORDER BY id",
        )
        .and_then(|mut s| s.query_map([horizon], |r| r.get(0))?.collect())
        .map_err(&e)?;
    for audience in stale {
        if left <= 0 {
            summary.more = true;
            break;
        }
        let removed: Vec<(String, bool)> = conn
            .prepare_cached(
                "DELETE FROM memberships WHERE audience = ?1 AND member IN
                     (SELECT member FROM memberships WHERE audience = ?1 LIMIT ?2)
                 RETURNING member, present",
            )
            .and_then(|mut s| {
                s.query_map(params![audience, left], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(&e)?;
        let n = signed(removed.len());
        let present = signed(removed.iter().filter(|(_, p)| *p).count());
        summary.memberships += count(removed.len());
        orphans.extend(removed.into_iter().map(|(m, _)| m));
        conn.prepare_cached("UPDATE audiences SET members = max(members - ?2, 0) WHERE id = ?1")
            .and_then(|mut s| s.execute(params![audience, present]))
            .map_err(&e)?;
        if n < left {
            conn.prepare_cached("DELETE FROM audiences WHERE id = ?1")
                .and_then(|mut s| s.execute([audience]))
                .map_err(&e)?;
            summary.audiences += 1;
        }
        left -= n;
        summary.more |= left <= 0;
    }

    // 4. Members no audience holds any more.
    orphans.sort();
    orphans.dedup();
    let mut held = conn
        .prepare_cached("SELECT 1 FROM memberships WHERE audience = ?1 AND member = ?2")
        .map_err(&e)?;
    let mut delete = conn
        .prepare_cached("DELETE FROM members WHERE key = ?1")
        .map_err(&e)?;
    for member in orphans {
        let mut kept = false;
        for audience in &audience_ids {
            if held.exists(params![audience, member]).map_err(&e)? {
                kept = true;
                break;
            }
        }
        if !kept {
            summary.members += count(delete.execute([&member]).map_err(&e)?);
        }
    }

    // 5. Data subject request records past their own retention.
    if left > 0 {
        let (removed, more) = subject::purge(conn, shared, now_ms, left)?;
        summary.subject_requests = removed;
        summary.more |= more;
    } else {
        summary.more = true;
    }
    Ok(summary)
}
