//! The SQLite backend: one file, WAL, a writer thread with group commit, pooled readers.

mod schema;
mod snapshot;
mod subject;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::mpsc::{Sender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

pub use schema::{SCHEMA, SCHEMA_V2, SCHEMA_VERSION};

use crate::prepare::Prepared;
use crate::store::{
    ApplySummary, AudienceInfo, AudienceStore, PurgeSummary, Snapshot, StoreOptions, StoreStats,
};
use crate::subject::{SubjectOutcome, SubjectRecord, SubjectRequest, Tokens};
use crate::{Error, Message};
use writer::Request;

/// Idle reader connections kept for reuse.
const POOL: usize = 4;

/// The state the store, its writer thread and its snapshots share.
pub(crate) struct Shared {
    pub path: PathBuf,
    /// The `-wal` file next to it.
    pub wal_path: PathBuf,
    pub options: StoreOptions,
    readers: Mutex<Vec<Connection>>,
    pub commits: AtomicU64,
    pub batches: AtomicU64,
    pub pending: AtomicU64,
    checkpoint: Mutex<Checkpoint>,
    checkpoint_wanted: Condvar,
    /// Computes the salted tokens of data subject requests (the store's own salt).
    pub tokens: Tokens,
    /// The newest `timestamp_ms` of an erasure: older messages are checked against the
    /// tombstones.
    pub tombstone_ms: AtomicI64,
}

#[derive(Default)]
struct Checkpoint {
    wanted: bool,
    /// A TRUNCATE checkpoint is wanted (after an erasure), until one succeeds.
    truncate: bool,
    stop: bool,
}

/// The shortest time between two checkpoints.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);

/// How soon a TRUNCATE checkpoint that found readers is tried again.
const TRUNCATE_RETRY: Duration = Duration::from_millis(500);

impl Shared {
    /// Asks the checkpoint thread to copy the WAL into the database file (soon, not now).
    pub(crate) fn checkpoint_soon(&self) {
        self.checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wanted = true;
        self.checkpoint_wanted.notify_one();
    }

    /// Asks the checkpoint thread to copy the whole WAL into the database file and truncate it
    /// to zero bytes (after an erasure: the WAL's older page images hold the erased rows),
    /// retrying until no reader holds it.
    pub(crate) fn truncate_wal_soon(&self) {
        {
            let mut state = self
                .checkpoint
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.wanted = true;
            state.truncate = true;
        }
        self.checkpoint_wanted.notify_one();
    }

    /// The checkpoint thread: PASSIVE checkpoints (they never block the writer or readers)
    /// after commits, at most one per `CHECKPOINT_PAUSE`, so the writer does not copy pages
    /// and wait for the database file's fsync itself.
    fn run_checkpoints(&self, conn: &Connection) {
        loop {
            let truncate;
            {
                let mut state = self
                    .checkpoint
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                while !state.wanted && !state.stop {
                    state = self
                        .checkpoint_wanted
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if state.stop {
                    return;
                }
                state.wanted = false;
                truncate = state.truncate;
            }
            if truncate {
                // Without waiting: a TRUNCATE checkpoint that waited for readers would hold the
                // write lock, and so the writer, meanwhile. Retried until no reader is left.
                let _ = conn.busy_timeout(Duration::ZERO);
                let done = conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .is_ok_and(|busy| busy == 0);
                let _ = conn.busy_timeout(self.options.busy_timeout);
                let mut state = self
                    .checkpoint
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if done {
                    state.truncate = false;
                } else {
                    state.wanted = true;
                }
                drop(state);
                std::thread::sleep(if done {
                    CHECKPOINT_PAUSE
                } else {
                    TRUNCATE_RETRY
                });
                continue;
            }
            // A failed checkpoint is retried after the next commit; SQLite also checkpoints
            // when the last connection closes.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            std::thread::sleep(CHECKPOINT_PAUSE);
        }
    }

    fn reader(&self) -> Result<Connection, Error> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => schema::open_reader(&self.path, &self.options),
        }
    }

    pub(crate) fn give_back(&self, conn: Connection) {
        let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL {
            pool.push(conn);
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self.reader()?;
        let result = f(&conn).map_err(|e| Error::from_sqlite(&self.path, &e));
        self.give_back(conn);
        result
    }
}

/// The SQLite [`AudienceStore`]: one database file (plus its `-wal` and `-shm`), written by one
/// thread that group-commits the batches of all callers, read by pooled connections.
///
/// Dropping it finishes the queued batches and stops the writer thread.
pub struct SqliteStore {
    shared: Arc<Shared>,
    requests: Option<Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store file at `path`, creating it (and its folder) on first use.
    ///
    /// Sets WAL mode, `synchronous = FULL`, the busy timeout and the page cache, and checks the
    /// schema version: a file written by a newer version of this crate is refused with
    /// [`Error::NewerSchema`]. Other processes may open the same file at the same time: readers
    /// always work; a second writer waits up to the busy timeout, then gets [`Error::Busy`].
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<SqliteStore, Error> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_writer(&path, &options)?;
        let checkpoints = schema::open_checkpointer(&path, &options)?;
        let (salt, tombstone_ms) = schema::subject_state(&path, &conn)?;
        let mut wal_path = path.clone().into_os_string();
        wal_path.push("-wal");
        let shared = Arc::new(Shared {
            wal_path: wal_path.into(),
            path,
            options,
            readers: Mutex::new(Vec::new()),
            commits: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            checkpoint: Mutex::new(Checkpoint::default()),
            checkpoint_wanted: Condvar::new(),
            tokens: Tokens::new(salt),
            tombstone_ms: AtomicI64::new(tombstone_ms),
        });
        let (requests, queue) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("audstore-writer".to_owned())
            .spawn(move || writer::run(&conn, &thread_shared, &queue))
            .map_err(|e| Error::Io {
                path: shared.path.clone(),
                detail: format!("could not start the writer thread: {e}"),
            })?;
        let thread_shared = Arc::clone(&shared);
        let checkpointer = std::thread::Builder::new()
            .name("audstore-ckpt".to_owned())
            .spawn(move || thread_shared.run_checkpoints(&checkpoints))
            .map_err(|e| Error::Io {
                path: shared.path.clone(),
                detail: format!("could not start the checkpoint thread: {e}"),
            });
        let mut store = SqliteStore {
            shared,
            requests: Some(requests),
            writer: Some(writer),
            checkpointer: None,
        };
        // On an error here, dropping the store stops the writer.
        store.checkpointer = Some(checkpointer?);
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    fn send(&self, request: Request) -> Result<(), Error> {
        let shutting_down = || Error::ShuttingDown {
            path: self.shared.path.clone(),
        };
        let requests = self.requests.as_ref().ok_or_else(shutting_down)?;
        self.shared.pending.fetch_add(1, Relaxed);
        requests.send(request).map_err(|_| {
            self.shared.pending.fetch_sub(1, Relaxed);
            shutting_down()
        })
    }

    fn shutting_down(&self) -> Error {
        Error::ShuttingDown {
            path: self.shared.path.clone(),
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            // A writer that panicked has nothing left to finish.
            let _ = writer.join();
        }
        {
            let mut state = self
                .shared
                .checkpoint
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.stop = true;
        }
        self.shared.checkpoint_wanted.notify_one();
        if let Some(checkpointer) = self.checkpointer.take() {
            let _ = checkpointer.join();
        }
    }
}

const AUDIENCE_COLUMNS: &str = "SELECT id, name, connected, members, newest_change_ms,
    first_connected_ms, disconnected_at_ms FROM audiences";

fn audience_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AudienceInfo> {
    let mut info = AudienceInfo::new(r.get(0)?);
    info.name = r.get(1)?;
    info.connected = r.get(2)?;
    info.members = u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0);
    info.newest_change_ms = r.get(4)?;
    info.first_connected_ms = r.get(5)?;
    info.disconnected_at_ms = r.get(6)?;
    Ok(info)
}

impl AudienceStore for SqliteStore {
    fn apply(&self, batch: &[Message]) -> Result<ApplySummary, Error> {
        if batch.is_empty() {
            return Ok(ApplySummary::default());
        }
        let prepared = Prepared::new(batch);
        let (reply, answer) = sync_channel(1);
        self.send(Request::Apply {
            batch: prepared,
            reply,
        })?;
        let (result, prepared) = answer.recv().map_err(|_| self.shutting_down())?;
        drop(prepared);
        result
    }

    fn audiences(&self) -> Result<Vec<AudienceInfo>, Error> {
        self.shared.read(|conn| {
            conn.prepare_cached(&format!("{AUDIENCE_COLUMNS} ORDER BY id"))?
                .query_map([], audience_row)?
                .collect()
        })
    }

    fn audience(&self, id: i64) -> Result<Option<AudienceInfo>, Error> {
        use rusqlite::OptionalExtension;
        self.shared.read(|conn| {
            conn.prepare_cached(&format!("{AUDIENCE_COLUMNS} WHERE id = ?1"))?
                .query_row([id], audience_row)
                .optional()
        })
    }

    fn snapshot(&self, audience_id: i64) -> Result<Box<dyn Snapshot + Send>, Error> {
        let conn = self.shared.reader()?;
        let snapshot = snapshot::SqliteSnapshot::open(conn, Arc::clone(&self.shared), audience_id)?;
        Ok(Box::new(snapshot))
    }

    fn purge(&self, now_ms: i64) -> Result<PurgeSummary, Error> {
        let (reply, answer) = sync_channel(1);
        self.send(Request::Purge { now_ms, reply })?;
        answer.recv().map_err(|_| self.shutting_down())?
    }

    fn stats(&self) -> Result<StoreStats, Error> {
        let count = |conn: &Connection, sql: &str| -> rusqlite::Result<u64> {
            let n: i64 = conn.query_row(sql, [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let mut stats = self.shared.read(|conn| {
            conn.execute_batch("BEGIN")?;
            let mut stats = StoreStats::default();
            let result = (|| {
                stats.audiences = count(conn, "SELECT count(*) FROM audiences")?;
                stats.members = count(conn, "SELECT count(*) FROM members")?;
                stats.memberships = count(conn, "SELECT count(*) FROM memberships")?;
                stats.present = count(conn, "SELECT coalesce(sum(members), 0) FROM audiences")?;
                stats.message_ids = count(conn, "SELECT count(*) FROM messages")?;
                Ok(())
            })();
            conn.execute_batch("COMMIT")?;
            result.map(|()| stats)
        })?;
        stats.bytes_on_disk = [&self.shared.path, &self.shared.wal_path]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        stats.commits = self.shared.commits.load(Relaxed);
        stats.batches = self.shared.batches.load(Relaxed);
        stats.pending = self.shared.pending.load(Relaxed);
        Ok(stats)
    }

    fn record_subject_request(&self, request: &SubjectRequest) -> Result<SubjectOutcome, Error> {
        let (reply, answer) = sync_channel(1);
        self.send(Request::Subject {
            request: request.clone(),
            reply,
        })?;
        answer.recv().map_err(|_| self.shutting_down())?
    }

    fn subject_requests(&self) -> Result<Vec<SubjectRecord>, Error> {
        self.shared.read(subject::list)
    }

    fn export_subject(&self, request_id: &str) -> Result<Option<String>, Error> {
        let conn = self.shared.reader()?;
        let result = subject::export(&conn, &self.shared, request_id);
        self.shared.give_back(conn);
        result
    }
}
