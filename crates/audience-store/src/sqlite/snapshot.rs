//! Snapshots: one read transaction on a connection of their own, read by keyset pages.

use std::collections::VecDeque;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::Shared;
use crate::Error;
use crate::pair::render_attrs;
use crate::store::{Snapshot, SnapshotMember, SnapshotSummary};

/// The present members of one audience after `?2`, in key order, with their identities.
const PAGE: &str = "SELECT m.member, m.attributes, p.identities
    FROM memberships AS m LEFT JOIN members AS p ON p.key = m.member
    WHERE m.audience = ?1 AND m.member > ?2 AND m.present = 1
    ORDER BY m.member";

/// How many members [`Snapshot::next_member`] reads ahead.
const READ_AHEAD: usize = 256;

pub(crate) struct SqliteSnapshot {
    conn: Option<Connection>,
    shared: Arc<Shared>,
    /// The key of the last member streamed; the next page starts after it.
    last_key: String,
    done: bool,
    summary: SnapshotSummary,
    ahead: VecDeque<SnapshotMember>,
    scratch: Vec<u8>,
}

impl SqliteSnapshot {
    pub(crate) fn open(
        conn: Connection,
        shared: Arc<Shared>,
        audience_id: i64,
    ) -> Result<SqliteSnapshot, Error> {
        let path = shared.path.clone();
        let e = |e: rusqlite::Error| Error::from_sqlite(&path, &e);
        // The read transaction starts with its first read, which also finds the audience.
        let started = conn.execute_batch("BEGIN").map_err(e).and_then(|()| {
            conn.prepare_cached("SELECT newest_change_ms FROM audiences WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([audience_id], |r| r.get::<_, i64>(0))
                        .optional()
                })
                .map_err(e)
        });
        // A connection goes back to the pool only with its read transaction ended: one left
        // open would keep showing later readers this old state.
        let end = |conn: Connection| {
            if conn.execute_batch("ROLLBACK").is_ok() || conn.is_autocommit() {
                shared.give_back(conn);
            }
        };
        let newest = match started {
            Ok(Some(newest)) => newest,
            Ok(None) => {
                end(conn);
                return Err(Error::UnknownAudience { id: audience_id });
            }
            Err(err) => {
                end(conn);
                return Err(err);
            }
        };
        Ok(SqliteSnapshot {
            conn: Some(conn),
            shared,
            last_key: String::new(),
            done: false,
            summary: SnapshotSummary::new(audience_id, Some(newest)),
            ahead: VecDeque::new(),
            scratch: Vec::new(),
        })
    }

    /// Renders the members after `last_key` into `out`, one line each; after each line
    /// `enough(key, out, line_start)` says whether to stop. Returns how many were rendered.
    fn scan(
        &mut self,
        out: &mut Vec<u8>,
        mut enough: impl FnMut(&str, &mut Vec<u8>, usize) -> bool,
    ) -> Result<u64, Error> {
        if self.done {
            return Ok(0);
        }
        let path = self.shared.path.as_path();
        let e = |e: rusqlite::Error| Error::from_sqlite(path, &e);
        let Some(conn) = self.conn.as_ref() else {
            return Ok(0);
        };
        let mut statement = conn.prepare_cached(PAGE).map_err(e)?;
        let mut rows = statement
            .query(params![self.summary.audience_id, self.last_key])
            .map_err(e)?;
        let mut n = 0u64;
        let mut finished = true;
        let start = out.len();
        let result = (|| -> Result<(), Error> {
            while let Some(row) = rows.next().map_err(e)? {
                let key = row
                    .get_ref(0)
                    .ok()
                    .and_then(|v| v.as_str().ok())
                    .ok_or_else(|| Error::corrupt(path, "a member key is not text"))?;
                let attributes = row.get_ref(1).ok().and_then(|v| v.as_blob_or_null().ok());
                let identities = row
                    .get_ref(2)
                    .ok()
                    .and_then(|v| v.as_str_or_null().ok())
                    .flatten()
                    .ok_or_else(|| {
                        Error::corrupt(
                            path,
                            format!("member {key:?} is in an audience but has no identities row"),
                        )
                    })?;
                let line_start = out.len();
                out.push(b'{');
                out.extend_from_slice(identities.as_bytes());
                out.extend_from_slice(b",\"user_attributes\":{");
                render_attrs(attributes.flatten(), out).map_err(|_| {
                    Error::corrupt(
                        path,
                        format!("the attributes of member {key:?} are unreadable"),
                    )
                })?;
                out.extend_from_slice(b"}}\n");
                n += 1;
                if enough(key, out, line_start) {
                    self.last_key.clear();
                    self.last_key.push_str(key);
                    finished = false;
                    break;
                }
            }
            Ok(())
        })();
        if let Err(err) = result {
            out.truncate(start);
            return Err(err);
        }
        self.done = finished;
        Ok(n)
    }
}

impl Snapshot for SqliteSnapshot {
    fn read_into(&mut self, out: &mut Vec<u8>, max_bytes: usize) -> Result<u64, Error> {
        let start = out.len();
        let mut n = 0u64;
        // Members read ahead by `next_member` come first (they were counted then).
        while let Some(m) = self.ahead.pop_front() {
            out.extend_from_slice(m.profile_json.as_bytes());
            out.push(b'\n');
            n += 1;
            if out.len() - start >= max_bytes {
                self.summary.members += n;
                return Ok(n);
            }
        }
        n += self.scan(out, |_, out, _| out.len() - start >= max_bytes)?;
        self.summary.members += n;
        Ok(n)
    }

    fn next_member(&mut self) -> Result<Option<SnapshotMember>, Error> {
        if self.ahead.is_empty() {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let mut ahead = std::mem::take(&mut self.ahead);
            let result = self.scan(&mut scratch, |key, out, line_start| {
                let line = &out[line_start..out.len() - 1];
                ahead.push_back(SnapshotMember::new(
                    key,
                    String::from_utf8_lossy(line).into_owned(),
                ));
                out.clear();
                ahead.len() >= READ_AHEAD
            });
            self.ahead = ahead;
            self.scratch = scratch;
            result?;
        }
        let next = self.ahead.pop_front();
        self.summary.members += u64::from(next.is_some());
        Ok(next)
    }

    fn summary(&self) -> SnapshotSummary {
        self.summary
    }
}

impl Drop for SqliteSnapshot {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Ending a read transaction cannot lose anything; a connection that cannot end it
            // is not reused.
            if conn.execute_batch("COMMIT").is_ok() {
                self.shared.give_back(conn);
            }
        }
    }
}
