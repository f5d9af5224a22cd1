//! Data subject requests on SQLite: recording, erasure (with `secure_delete` and a wiped
//! freelist), the tombstone check of later messages, listing, export and retention.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::Shared;
use crate::Error;
use crate::prepare::Prepared;
use crate::subject::{
    Algorithms, RequestKind, SubjectOutcome, SubjectRecord, SubjectRequest, Token, matches,
    new_record, push_export_head, push_export_member, split_types,
};

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::from_sqlite(path, &e)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

const RECORD_COLUMNS: &str = "SELECT id, kind, regulation, ts, submitted_ms, recorded_ms,
    identity_types, members_matched, members_removed, memberships_removed, audiences_affected,
    algorithms FROM subject_requests";

fn record_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(SubjectRecord, Algorithms)> {
    let kind: String = r.get(1)?;
    let types: String = r.get(6)?;
    let algorithms: i64 = r.get(11)?;
    Ok((
        SubjectRecord {
            id: r.get(0)?,
            kind: RequestKind::parse(&kind).unwrap_or(RequestKind::Access),
            regulation: r.get(2)?,
            timestamp_ms: r.get(3)?,
            submitted_ms: r.get(4)?,
            recorded_ms: r.get(5)?,
            identity_types: split_types(&types),
            members_matched: count(r.get(7)?),
            members_removed: count(r.get(8)?),
            memberships_removed: count(r.get(9)?),
            audiences_affected: count(r.get(10)?),
        },
        Algorithms(u8::try_from(algorithms & 0b111).unwrap_or(0b111)),
    ))
}

fn stored(
    conn: &Connection,
    path: &Path,
    id: &str,
) -> Result<Option<(SubjectRecord, Algorithms)>, Error> {
    conn.prepare_cached(&format!("{RECORD_COLUMNS} WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], record_row).optional())
        .map_err(sql(path))
}

/// The members whose identities meet `tokens`, in key order.
fn matching_members(
    conn: &Connection,
    shared: &Shared,
    tokens: &HashSet<Token>,
    algorithms: Algorithms,
) -> Result<Vec<(String, String)>, Error> {
    let path = shared.path.as_path();
    let mut found = Vec::new();
    let mut stmt = conn
        .prepare_cached("SELECT key, identities FROM members ORDER BY key")
        .map_err(sql(path))?;
    let mut rows = stmt.query([]).map_err(sql(path))?;
    while let Some(row) = rows.next().map_err(sql(path))? {
        let key: String = row.get(0).map_err(sql(path))?;
        let fragment: String = row.get(1).map_err(sql(path))?;
        let member = shared
            .tokens
            .member(&key, &fragment, algorithms)
            .ok_or_else(|| {
                Error::corrupt(
                    path,
                    format!("the identities of member {key:?} are unreadable"),
                )
            })?;
        if matches(&member, tokens) {
            found.push((key, fragment));
        }
    }
    Ok(found)
}

/// Records `request` (and carries out an erasure) inside the writer's transaction. Returns the
/// outcome and whether anything was erased (the WAL should then be truncated).
pub(crate) fn record(
    conn: &Connection,
    shared: &Shared,
    request: &SubjectRequest,
) -> Result<(SubjectOutcome, bool), Error> {
    let path = shared.path.as_path();
    let e = sql(path);
    if let Some((record, _)) = stored(conn, path, &request.id)? {
        return Ok((
            SubjectOutcome {
                record,
                duplicate: true,
            },
            false,
        ));
    }
    let (request_tokens, algorithms) = shared.tokens.request(request);
    let wanted: HashSet<Token> = request_tokens.iter().copied().collect();
    let found = matching_members(conn, shared, &wanted, algorithms)?;
    let (mut record, types) = new_record(request, found.len());
    let erasure = request.kind == RequestKind::Erasure;
    let mut tokens = request_tokens;
    if erasure && !found.is_empty() {
        conn.execute_batch("PRAGMA secure_delete = ON")
            .map_err(&e)?;
        let erased = erase(conn, shared, &found, &mut record, &mut tokens);
        let wiped = erased.and_then(|()| wipe_freelist(conn, path));
        let restored = conn
            .execute_batch("PRAGMA secure_delete = FAST")
            .map_err(&e);
        wiped?;
        restored?;
    }
    tokens.sort_unstable();
    tokens.dedup();
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO subject_tokens (token, request, ts, tombstone) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )
            .map_err(&e)?;
        for t in &tokens {
            insert
                .execute(params![&t[..], &request.id, request.timestamp_ms, erasure])
                .map_err(&e)?;
        }
    }
    conn.prepare_cached(
        "INSERT INTO subject_requests (id, kind, regulation, ts, submitted_ms, recorded_ms,
             identity_types, algorithms, members_matched, members_removed, memberships_removed,
             audiences_affected)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.id,
            record.kind.as_str(),
            record.regulation,
            record.timestamp_ms,
            record.submitted_ms,
            record.recorded_ms,
            types,
            i64::from(algorithms.0),
            signed(record.members_matched),
            signed(record.members_removed),
            signed(record.memberships_removed),
            signed(record.audiences_affected),
        ])
    })
    .map_err(&e)?;
    if erasure {
        shared
            .tombstone_ms
            .fetch_max(request.timestamp_ms, std::sync::atomic::Ordering::Relaxed);
    }
    Ok((
        SubjectOutcome {
            record,
            duplicate: false,
        },
        erasure && !found.is_empty(),
    ))
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Removes the members found from every audience and table; adds their tokens (every form)
/// to `tokens`, the tombstone.
fn erase(
    conn: &Connection,
    shared: &Shared,
    found: &[(String, String)],
    record: &mut SubjectRecord,
    tokens: &mut Vec<Token>,
) -> Result<(), Error> {
    let path = shared.path.as_path();
    let e = sql(path);
    let audience_ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM audiences ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(&e)?;
    let mut affected: HashSet<i64> = HashSet::new();
    let mut delete_row = conn
        .prepare_cached(
            "DELETE FROM memberships WHERE audience = ?1 AND member = ?2 RETURNING present",
        )
        .map_err(&e)?;
    let mut decrement = conn
        .prepare_cached("UPDATE audiences SET members = max(members - 1, 0) WHERE id = ?1")
        .map_err(&e)?;
    let mut delete_member = conn
        .prepare_cached("DELETE FROM members WHERE key = ?1")
        .map_err(&e)?;
    for (key, fragment) in found {
        if let Some(all) = shared.tokens.member(key, fragment, Algorithms::ALL) {
            tokens.extend(all);
        }
        for audience in &audience_ids {
            let present: Option<bool> = delete_row
                .query_row(params![audience, key], |r| r.get(0))
                .optional()
                .map_err(&e)?;
            if let Some(present) = present {
                record.memberships_removed += 1;
                if present {
                    affected.insert(*audience);
                    decrement.execute([audience]).map_err(&e)?;
                }
            }
        }
        record.members_removed +=
            u64::try_from(delete_member.execute([key]).map_err(&e)?).unwrap_or(0);
    }
    record.audiences_affected = u64::try_from(affected.len()).unwrap_or(u64::MAX);
    Ok(())
}

/// Overwrites every page on the freelist with zeros: pages freed before `secure_delete` was on
/// may still hold old rows. It takes them with one table of zero blobs and frees them again
/// (with `secure_delete` on, which zeroes freed pages).
fn wipe_freelist(conn: &Connection, path: &Path) -> Result<(), Error> {
    let e = sql(path);
    let free: i64 = conn
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .map_err(&e)?;
    if free == 0 {
        return Ok(());
    }
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(&e)?;
    conn.execute_batch("CREATE TABLE liveramp_wipe (b BLOB)")
        .map_err(&e)?;
    let mut left = free.saturating_mul(page);
    while left > 0 {
        let chunk = left.min(64 << 20);
        conn.execute(
            "INSERT INTO liveramp_wipe (b) VALUES (zeroblob(?1))",
            [chunk],
        )
        .map_err(&e)?;
        left -= chunk;
    }
    conn.execute_batch("DROP TABLE liveramp_wipe").map_err(&e)
}

/// Per profile of `batch` (by key index): whether an erasure newer than its message covers
/// it (see [`crate::subject::erased_profiles`]).
pub(crate) fn erased_profiles(
    conn: &Connection,
    shared: &Shared,
    batch: &Prepared,
    skip: &[bool],
) -> Result<Vec<bool>, Error> {
    let newest = shared
        .tombstone_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    let path = shared.path.as_path();
    let mut find = None;
    crate::subject::erased_profiles(&shared.tokens, batch, skip, newest, |token, ts| {
        if find.is_none() {
            find = Some(
                conn.prepare_cached(
                    "SELECT 1 FROM subject_tokens
                     WHERE token = ?1 AND tombstone = 1 AND ts > ?2 LIMIT 1",
                )
                .map_err(sql(path))?,
            );
        }
        match find.as_mut() {
            Some(stmt) => stmt.exists(params![&token[..], ts]).map_err(sql(path)),
            None => Ok(false),
        }
    })
}

/// Removes request records (and their tokens) recorded before `now_ms` minus the DSR
/// retention, at most `budget` requests.
pub(crate) fn purge(
    conn: &Connection,
    shared: &Shared,
    now_ms: i64,
    budget: i64,
) -> Result<(u64, bool), Error> {
    let path = shared.path.as_path();
    let e = sql(path);
    let cutoff = now_ms.saturating_sub(i64::from(shared.options.dsr_retention_days) * 86_400_000);
    let old: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM subject_requests WHERE recorded_ms < ?1 ORDER BY recorded_ms LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![cutoff, budget + 1], |r| r.get(0))?
                .collect()
        })
        .map_err(&e)?;
    let more = i64::try_from(old.len()).unwrap_or(i64::MAX) > budget;
    let mut removed = 0;
    for id in old.iter().take(usize::try_from(budget).unwrap_or(0)) {
        conn.prepare_cached("DELETE FROM subject_tokens WHERE request = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(&e)?;
        conn.prepare_cached("DELETE FROM subject_requests WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(&e)?;
        removed += 1;
    }
    Ok((removed, more))
}

/// Every request record, oldest first.
pub(crate) fn list(conn: &Connection) -> rusqlite::Result<Vec<SubjectRecord>> {
    conn.prepare_cached(&format!("{RECORD_COLUMNS} ORDER BY recorded_ms, id"))?
        .query_map([], |r| record_row(r).map(|(rec, _)| rec))?
        .collect()
}

/// What the store holds for the subject of request `id` (see
/// [`AudienceStore::export_subject`](crate::AudienceStore::export_subject)).
pub(crate) fn export(
    conn: &Connection,
    shared: &Shared,
    id: &str,
) -> Result<Option<String>, Error> {
    let path = shared.path.as_path();
    let e = sql(path);
    conn.execute_batch("BEGIN").map_err(&e)?;
    let result = (|| {
        let Some((record, algorithms)) = stored(conn, path, id)? else {
            return Ok(None);
        };
        let tokens: HashSet<Token> = conn
            .prepare_cached("SELECT token FROM subject_tokens WHERE request = ?1")
            .and_then(|mut s| {
                s.query_map([id], |r| r.get::<_, Vec<u8>>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(&e)?
            .into_iter()
            .filter_map(|t| <Token>::try_from(t.as_slice()).ok())
            .collect();
        let found = matching_members(conn, shared, &tokens, algorithms)?;
        let mut out = Vec::new();
        push_export_head(&mut out, &record);
        let mut rows = conn
            .prepare_cached(
                // Audiences first (CROSS JOIN keeps that order): one key lookup per audience.
                "SELECT a.id, a.name, m.present, m.attributes FROM audiences AS a
                 CROSS JOIN memberships AS m ON m.audience = a.id AND m.member = ?1
                 ORDER BY a.id",
            )
            .map_err(&e)?;
        for (i, (key, fragment)) in found.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let audiences: Vec<crate::subject::ExportAudience> = rows
                .query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(Iterator::collect)
                .map_err(&e)?;
            push_export_member(&mut out, key, fragment, &audiences).map_err(|_| {
                Error::corrupt(
                    path,
                    format!("the attributes of member {key:?} are unreadable"),
                )
            })?;
        }
        out.extend_from_slice(b"]}");
        String::from_utf8(out)
            .map(Some)
            .map_err(|_| Error::corrupt(path, "an export is not UTF-8"))
    })();
    let _ = conn.execute_batch("ROLLBACK");
    result
}
