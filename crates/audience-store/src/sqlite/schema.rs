//! The SQLite schema, its version, and how connections are opened.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{Error, StoreOptions};

/// The schema version this crate reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;

/// Migration to version 2: the records of data subject requests, the salted tokens of the
/// identities they name or erased, and the store's random salt for those tokens.
pub const SCHEMA_V2: &str = "
-- One row per data subject request: the audit record (no identity values).
CREATE TABLE subject_requests (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,             -- erasure, access, portability
    regulation TEXT,
    ts INTEGER NOT NULL,            -- the request's timestamp_ms
    submitted_ms INTEGER,
    recorded_ms INTEGER NOT NULL,   -- wall clock when recorded (and carried out)
    identity_types TEXT NOT NULL,   -- the types given, sorted, comma-separated
    algorithms INTEGER NOT NULL,    -- the hash forms raw values are compared in
    members_matched INTEGER NOT NULL,
    members_removed INTEGER NOT NULL,
    memberships_removed INTEGER NOT NULL,
    audiences_affected INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX subject_requests_recorded ON subject_requests (recorded_ms);
-- Salted SHA-256 tokens of the identities a request named and, for an erasure, of every
-- identity and key of the members it removed (the tombstone: older changes for them are
-- ignored).
CREATE TABLE subject_tokens (
    token BLOB NOT NULL,
    request TEXT NOT NULL,
    ts INTEGER NOT NULL,            -- the request's timestamp_ms
    tombstone INTEGER NOT NULL,     -- 1 for an erasure
    PRIMARY KEY (token, request)
) WITHOUT ROWID;
CREATE INDEX subject_tokens_request ON subject_tokens (request);
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
INSERT INTO secrets (name, value) VALUES ('subject_salt', randomblob(32));
";

/// The schema, version 1 (a new file gets it and then [`SCHEMA_V2`]).
///
/// Versions are stored as three columns (`*ts`, `*mid`, `*seq`): `timestamp_ms`, message id,
/// entry position; they compare as that triple (text in byte order).
pub const SCHEMA: &str = "
-- One row per audience the store has seen in a subscription or membership entry.
CREATE TABLE audiences (
    id INTEGER PRIMARY KEY,
    name TEXT,                      -- newest name (subscription or membership entry)
    name_ts INTEGER, name_mid TEXT, name_seq INTEGER,
    connected INTEGER NOT NULL DEFAULT 0,
    sub_ts INTEGER, sub_mid TEXT,   -- newest subscription change (its seq is always 0)
    first_connected_ms INTEGER,     -- earliest connect ever applied
    disconnected_at_ms INTEGER,     -- the newest subscription change, when a disconnect
    members INTEGER NOT NULL DEFAULT 0,  -- present members, kept up to date
    newest_change_ms INTEGER NOT NULL    -- newest message that carried an entry for it
);
-- One row per member: its identities (newest profile wins), pre-rendered as the snapshot
-- line's `\"mpid\":…,\"user_identities\":[…],\"device_identities\":[…]`.
CREATE TABLE members (
    key TEXT PRIMARY KEY,
    ts INTEGER NOT NULL, mid TEXT NOT NULL, seq INTEGER NOT NULL,
    identities TEXT NOT NULL
) WITHOUT ROWID;
-- One row per (audience, member) ever seen: membership, delete floor and attributes.
CREATE TABLE memberships (
    audience INTEGER NOT NULL,
    member TEXT NOT NULL,
    present INTEGER NOT NULL,
    ts INTEGER, mid TEXT, seq INTEGER,              -- newest add or delete
    del_ts INTEGER, del_mid TEXT, del_seq INTEGER,  -- newest delete: older attribute writes are void
    attributes BLOB,                                -- versioned attributes and tombstones
    gone_ms INTEGER,        -- not present: the newest timestamp in the row; NULL when present
    PRIMARY KEY (audience, member)
) WITHOUT ROWID;
CREATE INDEX memberships_gone ON memberships (gone_ms) WHERE gone_ms IS NOT NULL;
-- Message ids applied (duplicate detection), kept for the retention period.
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX messages_ts ON messages (ts);
-- `horizon_ms`: messages older than it are refused (set by purge).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::from_sqlite(path, &e)
}

/// Opens (creating when needed) the writing connection and checks or creates the schema.
pub(crate) fn open_writer(path: &Path, options: &StoreOptions) -> Result<Connection, Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            let detail = if parent.exists() && !parent.is_dir() {
                format!("{} exists and is not a folder", parent.display())
            } else {
                format!("could not create the folder {}: {e}", parent.display())
            };
            if e.kind() == std::io::ErrorKind::StorageFull {
                Error::DiskFull {
                    path: path.to_path_buf(),
                    detail,
                }
            } else {
                Error::CannotOpen {
                    path: path.to_path_buf(),
                    detail,
                }
            }
        })?;
    }
    create_private(path)?;
    let e = sql(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.busy_timeout(options.busy_timeout).map_err(&e)?;
    check_version(path, &conn)?;
    conn.pragma_update(None, "page_size", options.page_size)
        .map_err(&e)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(&e)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Database {
            path: path.to_path_buf(),
            detail: format!(
                "SQLite kept journal mode {mode:?} instead of WAL: put the store on a local \
                 file system"
            ),
        });
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{};
         PRAGMA wal_autocheckpoint = 0; PRAGMA mmap_size = {}; PRAGMA journal_size_limit = {};
         PRAGMA secure_delete = FAST;",
        options.cache_kib,
        options.mmap_mib * (1 << 20),
        options.wal_limit_mib.saturating_mul(1 << 20)
    ))
    .map_err(&e)?;
    conn.set_prepared_statement_cache_capacity(64);
    if check_version(path, &conn)? < SCHEMA_VERSION {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(&e)?;
        let created = create_schema(path, &conn);
        let end = if created.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        conn.execute_batch(end).map_err(&e)?;
        created?;
    }
    Ok(conn)
}

/// Creates a new store file readable by its owner only (mode 0600 on Unix, whatever the
/// umask): it holds members' emails and phones. SQLite gives its `-wal` and `-shm` files the
/// database file's mode. An existing file is left as it is.
fn create_private(path: &Path) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::CannotOpen {
            path: path.to_path_buf(),
            detail: format!("could not create the file: {e}"),
        }),
    }
}

/// Opens the connection the checkpoint thread copies the WAL into the database with.
pub(crate) fn open_checkpointer(path: &Path, options: &StoreOptions) -> Result<Connection, Error> {
    let e = sql(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.busy_timeout(options.busy_timeout).map_err(&e)?;
    // The database file is written by checkpoints only: its fsync makes them durable.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;")
        .map_err(&e)?;
    Ok(conn)
}

/// Opens a connection that only reads.
pub(crate) fn open_reader(path: &Path, options: &StoreOptions) -> Result<Connection, Error> {
    let e = sql(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.busy_timeout(options.busy_timeout).map_err(&e)?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA cache_size = -16384; PRAGMA mmap_size = {};",
        options.mmap_mib * (1 << 20)
    ))
    .map_err(&e)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

fn check_version(path: &Path, conn: &Connection) -> Result<i64, Error> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql(path))?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

fn create_schema(path: &Path, conn: &Connection) -> Result<(), Error> {
    // Another process may have created or migrated it while this one waited for the lock.
    let version = check_version(path, conn)?;
    if version == 1 {
        conn.execute_batch(SCHEMA_V2).map_err(sql(path))?;
        return conn
            .execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(sql(path));
    }
    if version != 0 {
        return Ok(());
    }
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(sql(path))?;
    if tables != 0 {
        return Err(Error::corrupt(
            path,
            "it is an SQLite database with tables but no audience store schema version",
        ));
    }
    conn.execute_batch(SCHEMA).map_err(sql(path))?;
    conn.execute_batch(SCHEMA_V2).map_err(sql(path))?;
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .map_err(sql(path))
}

/// The store's salt for the tokens of data subject requests, and the newest erasure's time
/// (`i64::MIN` when there is none).
pub(crate) fn subject_state(path: &Path, conn: &Connection) -> Result<(Vec<u8>, i64), Error> {
    let salt: Vec<u8> = conn
        .query_row(
            "SELECT value FROM secrets WHERE name = 'subject_salt'",
            [],
            |r| r.get(0),
        )
        .map_err(sql(path))?;
    if salt.len() < 16 {
        return Err(Error::corrupt(
            path,
            "the salt of data subject request tokens is missing",
        ));
    }
    let newest: Option<i64> = conn
        .query_row(
            "SELECT max(ts) FROM subject_tokens WHERE tombstone = 1",
            [],
            |r| r.get(0),
        )
        .map_err(sql(path))?;
    Ok((salt, newest.unwrap_or(i64::MIN)))
}
