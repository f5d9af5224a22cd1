//! Data subject requests on PostgreSQL: recorded and carried out in one transaction that holds
//! the retention horizon's row exclusively (so no batch of any node runs beside an erasure and
//! every later batch sees its tombstone), members scanned through a portal.

use std::collections::HashSet;

use liveramp_postgres::postgres::{self, Transaction};

use super::{Fail, PgStore};
use crate::prepare::Prepared;
use crate::subject::{
    Algorithms, RequestKind, SubjectOutcome, SubjectRecord, SubjectRequest, Token, matches,
    new_record, push_export_head, push_export_member, split_types,
};

/// The migration to schema version 2: data subject request records, tokens and the salt.
pub(crate) const PG_SCHEMA_V2: &str = "
CREATE TABLE subject_requests (
    id bytea PRIMARY KEY,
    kind text NOT NULL,
    regulation bytea,
    ts bigint NOT NULL,
    submitted_ms bigint,
    recorded_ms bigint NOT NULL,
    identity_types bytea NOT NULL,
    algorithms integer NOT NULL,
    members_matched bigint NOT NULL,
    members_removed bigint NOT NULL,
    memberships_removed bigint NOT NULL,
    audiences_affected bigint NOT NULL
);
CREATE INDEX subject_requests_recorded ON subject_requests (recorded_ms);
CREATE TABLE subject_tokens (
    token bytea NOT NULL,
    request bytea NOT NULL,
    ts bigint NOT NULL,
    tombstone boolean NOT NULL,
    PRIMARY KEY (token, request)
);
CREATE INDEX subject_tokens_request ON subject_tokens (request);
CREATE INDEX subject_tokens_tombstone ON subject_tokens (ts) WHERE tombstone;
CREATE TABLE store_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO store_secrets (name, value) VALUES ('subject_salt',
    sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));
";

const RECORD_COLUMNS: &str = "SELECT id, kind, regulation, ts, submitted_ms, recorded_ms,
    identity_types, members_matched, members_removed, memberships_removed, audiences_affected,
    algorithms FROM subject_requests";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn record_row(r: &postgres::Row) -> Result<(SubjectRecord, Algorithms), postgres::Error> {
    let kind: String = r.try_get(1)?;
    let regulation: Option<Vec<u8>> = r.try_get(2)?;
    let algorithms: i32 = r.try_get(11)?;
    Ok((
        SubjectRecord {
            id: text(&r.try_get::<_, Vec<u8>>(0)?),
            kind: RequestKind::parse(&kind).unwrap_or(RequestKind::Access),
            regulation: regulation.as_deref().map(text),
            timestamp_ms: r.try_get(3)?,
            submitted_ms: r.try_get(4)?,
            recorded_ms: r.try_get(5)?,
            identity_types: split_types(&text(&r.try_get::<_, Vec<u8>>(6)?)),
            members_matched: count(r.try_get(7)?),
            members_removed: count(r.try_get(8)?),
            memberships_removed: count(r.try_get(9)?),
            audiences_affected: count(r.try_get(10)?),
        },
        Algorithms(u8::try_from(algorithms & 0b111).unwrap_or(0b111)),
    ))
}

impl PgStore {
    fn stored_request(
        tx: &mut Transaction<'_>,
        id: &str,
    ) -> Result<Option<(SubjectRecord, Algorithms)>, Fail> {
        let row = tx.query_opt(
            &format!("{RECORD_COLUMNS} WHERE id = $1"),
            &[&id.as_bytes()],
        )?;
        Ok(row.as_ref().map(record_row).transpose()?)
    }

    /// The members whose identities meet `tokens` (key, identities), in key order, read
    /// through a portal a page at a time.
    fn matching_members(
        &self,
        tx: &mut Transaction<'_>,
        tokens: &HashSet<Token>,
        algorithms: Algorithms,
    ) -> Result<Vec<(String, String)>, Fail> {
        let stmt = tx.prepare("SELECT key, identities FROM members ORDER BY key")?;
        let portal = tx.bind(&stmt, &[])?;
        let mut found = Vec::new();
        loop {
            let rows = tx.query_portal(&portal, 2048)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let key = text(&row.try_get::<_, Vec<u8>>(0)?);
                let fragment = text(&row.try_get::<_, Vec<u8>>(1)?);
                let member = self
                    .tokens
                    .member(&key, &fragment, algorithms)
                    .ok_or_else(|| {
                        self.corrupt(&format!("the identities of member {key:?} are unreadable"))
                    })?;
                if matches(&member, tokens) {
                    found.push((key, fragment));
                }
            }
        }
        Ok(found)
    }

    pub(super) fn record_in(
        &self,
        tx: &mut Transaction<'_>,
        request: &SubjectRequest,
    ) -> Result<SubjectOutcome, Fail> {
        // Exclusive: every running batch of every node finishes first, none starts until this
        // commits, and each then sees the tombstone.
        tx.execute(
            "SELECT value FROM store_settings WHERE name = 'horizon_ms' FOR UPDATE",
            &[],
        )?;
        if let Some((record, _)) = Self::stored_request(tx, &request.id)? {
            return Ok(SubjectOutcome {
                record,
                duplicate: true,
            });
        }
        let (request_tokens, algorithms) = self.tokens.request(request);
        let wanted: HashSet<Token> = request_tokens.iter().copied().collect();
        let found = self.matching_members(tx, &wanted, algorithms)?;
        let (mut record, types) = new_record(request, found.len());
        let erasure = request.kind == RequestKind::Erasure;
        let mut tokens = request_tokens;
        if erasure {
            let audience_ids: Vec<i64> = tx
                .query("SELECT id FROM audiences ORDER BY id", &[])?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let delete_rows = tx.prepare(
                "DELETE FROM memberships WHERE audience = ANY($1) AND member = $2
                 RETURNING audience, present",
            )?;
            let decrement = tx
                .prepare("UPDATE audiences SET members = greatest(members - 1, 0) WHERE id = $1")?;
            let delete_member = tx.prepare("DELETE FROM members WHERE key = $1")?;
            let mut affected = HashSet::new();
            for (key, fragment) in &found {
                if let Some(all) = self.tokens.member(key, fragment, Algorithms::ALL) {
                    tokens.extend(all);
                }
                let mut present_in: Vec<i64> = Vec::new();
                for row in tx.query(&delete_rows, &[&audience_ids, &key.as_bytes()])? {
                    record.memberships_removed += 1;
                    if row.try_get::<_, bool>(1)? {
                        present_in.push(row.try_get(0)?);
                    }
                }
                present_in.sort_unstable();
                for audience in present_in {
                    affected.insert(audience);
                    tx.execute(&decrement, &[&audience])?;
                }
                record.members_removed += tx.execute(&delete_member, &[&key.as_bytes()])?;
            }
            record.audiences_affected = u64::try_from(affected.len()).unwrap_or(u64::MAX);
        }
        tokens.sort_unstable();
        tokens.dedup();
        let insert = tx.prepare(
            "INSERT INTO subject_tokens (token, request, ts, tombstone) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )?;
        for t in &tokens {
            tx.execute(
                &insert,
                &[
                    &&t[..],
                    &request.id.as_bytes(),
                    &request.timestamp_ms,
                    &erasure,
                ],
            )?;
        }
        tx.execute(
            "INSERT INTO subject_requests (id, kind, regulation, ts, submitted_ms, recorded_ms,
                 identity_types, algorithms, members_matched, members_removed,
                 memberships_removed, audiences_affected)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &record.id.as_bytes(),
                &record.kind.as_str(),
                &record.regulation.as_deref().map(str::as_bytes),
                &record.timestamp_ms,
                &record.submitted_ms,
                &record.recorded_ms,
                &types.as_bytes(),
                &i32::from(algorithms.0),
                &signed(record.members_matched),
                &signed(record.members_removed),
                &signed(record.memberships_removed),
                &signed(record.audiences_affected),
            ],
        )?;
        Ok(SubjectOutcome {
            record,
            duplicate: false,
        })
    }

    /// Per profile of `batch`: whether an erasure newer than its message covers it.
    pub(super) fn erased_in(
        &self,
        tx: &mut Transaction<'_>,
        batch: &Prepared,
        skip: &[bool],
        newest_erasure_ms: Option<i64>,
    ) -> Result<Vec<bool>, Fail> {
        let Some(newest) = newest_erasure_ms else {
            return Ok(vec![false; batch.keys.len()]);
        };
        let mut find = None;
        crate::subject::erased_profiles(&self.tokens, batch, skip, newest, |token, ts| {
            if find.is_none() {
                find = Some(tx.prepare(
                    "SELECT EXISTS (SELECT 1 FROM subject_tokens
                     WHERE token = $1 AND tombstone AND ts > $2)",
                )?);
            }
            match &find {
                Some(stmt) => {
                    Ok::<bool, Fail>(tx.query_one(stmt, &[&&token[..], &ts])?.try_get(0)?)
                }
                None => Ok(false),
            }
        })
    }

    /// Removes request records recorded before the DSR retention, at most `budget`.
    pub(super) fn purge_requests_in(
        &self,
        tx: &mut Transaction<'_>,
        now_ms: i64,
        budget: i64,
    ) -> Result<(u64, bool), Fail> {
        let cutoff = now_ms.saturating_sub(self.dsr_retention_ms);
        let old = tx.query(
            "SELECT id FROM subject_requests WHERE recorded_ms < $1 ORDER BY recorded_ms LIMIT $2",
            &[&cutoff, &(budget + 1)],
        )?;
        let more = i64::try_from(old.len()).unwrap_or(i64::MAX) > budget;
        let mut removed = 0;
        for row in old.iter().take(usize::try_from(budget).unwrap_or(0)) {
            let id: Vec<u8> = row.try_get(0)?;
            tx.execute("DELETE FROM subject_tokens WHERE request = $1", &[&id])?;
            tx.execute("DELETE FROM subject_requests WHERE id = $1", &[&id])?;
            removed += 1;
        }
        Ok((removed, more))
    }

    pub(super) fn list_in(tx: &mut Transaction<'_>) -> Result<Vec<SubjectRecord>, Fail> {
        let rows = tx.query(&format!("{RECORD_COLUMNS} ORDER BY recorded_ms, id"), &[])?;
        Ok(rows
            .iter()
            .map(|r| record_row(r).map(|(rec, _)| rec))
            .collect::<Result<_, _>>()?)
    }

    pub(super) fn export_in(
        &self,
        tx: &mut Transaction<'_>,
        id: &str,
    ) -> Result<Option<String>, Fail> {
        let Some((record, algorithms)) = Self::stored_request(tx, id)? else {
            return Ok(None);
        };
        let tokens: HashSet<Token> = tx
            .query(
                "SELECT token FROM subject_tokens WHERE request = $1",
                &[&id.as_bytes()],
            )?
            .iter()
            .map(|r| r.try_get::<_, Vec<u8>>(0))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter_map(|t| <Token>::try_from(t.as_slice()).ok())
            .collect();
        let found = self.matching_members(tx, &tokens, algorithms)?;
        let mut out = Vec::new();
        push_export_head(&mut out, &record);
        let rows = tx.prepare(
            "SELECT a.id, a.name, m.present, m.attributes FROM audiences AS a
             JOIN memberships AS m ON m.audience = a.id AND m.member = $1 ORDER BY a.id",
        )?;
        for (i, (key, fragment)) in found.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut audiences = Vec::new();
            for r in tx.query(&rows, &[&key.as_bytes()])? {
                let name: Option<Vec<u8>> = r.try_get(1)?;
                audiences.push((
                    r.try_get(0)?,
                    name.as_deref().map(text),
                    r.try_get(2)?,
                    r.try_get(3)?,
                ));
            }
            push_export_member(&mut out, key, fragment, &audiences).map_err(|_| {
                self.corrupt(&format!("the attributes of member {key:?} are unreadable"))
            })?;
        }
        out.extend_from_slice(b"]}");
        Ok(Some(String::from_utf8_lossy(&out).into_owned()))
    }
}
