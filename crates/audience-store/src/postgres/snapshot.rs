//! Snapshots: one `REPEATABLE READ READ ONLY` transaction on a pooled connection, read through
//! a server-side cursor a page at a time (constant memory whatever the audience's size).

use std::collections::VecDeque;

use liveramp_postgres::{Conn, Pool};

use crate::Error;
use crate::pair::render_attrs;
use crate::store::{Snapshot, SnapshotMember, SnapshotSummary};

/// Rows fetched from the cursor at a time.
const PAGE: usize = 512;

struct Raw {
    key: String,
    attributes: Option<Vec<u8>>,
    identities: Vec<u8>,
}

pub(crate) struct PgSnapshot {
    conn: Option<Conn>,
    pool: Pool,
    /// The cursor has no more rows.
    drained: bool,
    page: VecDeque<Raw>,
    summary: SnapshotSummary,
    scratch: Vec<u8>,
}

impl PgSnapshot {
    pub(crate) fn open(mut conn: Conn, pool: Pool, audience_id: i64) -> Result<PgSnapshot, Error> {
        let e = |err: liveramp_postgres::postgres::Error| Error::Postgres(pool.error(&err));
        let started = conn
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(e)
            .and_then(|()| {
                conn.query_opt(
                    "SELECT newest_change_ms FROM audiences WHERE id = $1",
                    &[&audience_id],
                )
                .map_err(e)
            })
            .and_then(|row| match row {
                None => Err(Error::UnknownAudience { id: audience_id }),
                Some(row) => {
                    let newest: i64 = row.try_get(0).map_err(e)?;
                    // The id is an integer: formatting it cannot inject anything.
                    conn.batch_execute(&format!(
                        "DECLARE liveramp_snapshot NO SCROLL CURSOR FOR
                         SELECT m.member, m.attributes, p.identities
                         FROM memberships AS m LEFT JOIN members AS p ON p.key = m.member
                         WHERE m.audience = {audience_id} AND m.present
                         ORDER BY m.member"
                    ))
                    .map_err(e)?;
                    Ok(newest)
                }
            });
        match started {
            Ok(newest) => Ok(PgSnapshot {
                conn: Some(conn),
                pool,
                drained: false,
                page: VecDeque::new(),
                summary: SnapshotSummary::new(audience_id, Some(newest)),
                scratch: Vec::new(),
            }),
            Err(err) => {
                if conn.batch_execute("ROLLBACK").is_err() {
                    conn.discard();
                }
                Err(err)
            }
        }
    }

    fn damaged(&self, detail: &str) -> Error {
        Error::Postgres(liveramp_postgres::Error::Failed {
            database: self.pool.database().to_owned(),
            detail: format!("damaged data: {detail}"),
        })
    }

    /// The next row, fetching a page when none is left.
    fn next_raw(&mut self) -> Result<Option<Raw>, Error> {
        if self.page.is_empty() && !self.drained {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            let rows = conn
                .query(&format!("FETCH {PAGE} FROM liveramp_snapshot"), &[])
                .map_err(|e| Error::Postgres(self.pool.error(&e)))?;
            self.drained = rows.len() < PAGE;
            for row in rows {
                let e = |err| Error::Postgres(self.pool.error(&err));
                let key: Vec<u8> = row.try_get(0).map_err(e)?;
                let key = String::from_utf8(key)
                    .map_err(|_| self.damaged("a member key is not UTF-8"))?;
                let attributes: Option<Vec<u8>> = row.try_get(1).map_err(e)?;
                let identities: Option<Vec<u8>> = row.try_get(2).map_err(e)?;
                let identities = identities.ok_or_else(|| {
                    self.damaged(&format!(
                        "member {key:?} is in an audience but has no identities row"
                    ))
                })?;
                self.page.push_back(Raw {
                    key,
                    attributes,
                    identities,
                });
            }
        }
        Ok(self.page.pop_front())
    }

    fn render(&self, raw: &Raw, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.push(b'{');
        out.extend_from_slice(&raw.identities);
        out.extend_from_slice(b",\"user_attributes\":{");
        if render_attrs(raw.attributes.as_deref(), out).is_err() {
            out.truncate(start);
            return Err(self.damaged(&format!(
                "the attributes of member {:?} are unreadable",
                raw.key
            )));
        }
        out.extend_from_slice(b"}}\n");
        Ok(())
    }
}

impl Snapshot for PgSnapshot {
    fn read_into(&mut self, out: &mut Vec<u8>, max_bytes: usize) -> Result<u64, Error> {
        let start = out.len();
        let mut n = 0u64;
        while let Some(raw) = self.next_raw()? {
            self.render(&raw, out)?;
            n += 1;
            if out.len() - start >= max_bytes {
                break;
            }
        }
        self.summary.members += n;
        Ok(n)
    }

    fn next_member(&mut self) -> Result<Option<SnapshotMember>, Error> {
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        let rendered = self.render(&raw, &mut line);
        let member = rendered.map(|()| {
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            SnapshotMember::new(raw.key, text)
        });
        self.scratch = line;
        let member = member?;
        self.summary.members += 1;
        Ok(Some(member))
    }

    fn summary(&self) -> SnapshotSummary {
        self.summary
    }
}

impl Drop for PgSnapshot {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take()
            && conn.batch_execute("COMMIT").is_err()
        {
            conn.discard();
        }
    }
}
