//! The one error type of this crate.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in this crate.
///
/// Every message says what is wrong and what to do about it. [`Error::is_transient`] tells
/// the caller whether trying again later can succeed (a server answers such errors with 503 so
/// that mParticle retries the message) or whether someone must fix something first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another connection holds the write lock for longer than the busy timeout.
    #[error(
        "the store file {} is locked by another writer ({detail}); it was waited for and is \
         still busy: retry later, and check that only one server writes to this file",
        path.display()
    )]
    Busy {
        /// The store file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// The disk (or the file system's quota) is full.
    #[error(
        "disk full while writing the store file {} ({detail}): free space on that disk (or \
         run `purge`), then retry",
        path.display()
    )]
    DiskFull {
        /// The store file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// Reading or writing the store's files failed.
    #[error(
        "input/output error on the store file {} ({detail}): check the disk and the file \
         system, then retry",
        path.display()
    )]
    Io {
        /// The store file (or folder).
        path: PathBuf,
        /// The operating system's or SQLite's message.
        detail: String,
    },
    /// The store is being closed, or its writer thread has stopped.
    #[error("the store {} is shutting down: retry against the new instance", path.display())]
    ShuttingDown {
        /// The store file.
        path: PathBuf,
    },
    /// The store file or its folder cannot be created or opened.
    #[error(
        "cannot open the store file {} ({detail}): check that its folder exists or can be \
         created, and that this user may read and write both",
        path.display()
    )]
    CannotOpen {
        /// The store file (or the folder that could not be created).
        path: PathBuf,
        /// The operating system's or SQLite's message.
        detail: String,
    },
    /// The store file is read-only (file mode, read-only mount) but a write was needed.
    #[error(
        "the store file {} is read-only ({detail}): make it and its folder writable by this \
         user, or open it from a writable location",
        path.display()
    )]
    ReadOnly {
        /// The store file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// The file is not a store, or is damaged.
    #[error(
        "the store file {} is damaged or not an audience store ({detail}): restore it from a \
         backup, or move it away to start empty (mParticle does not resend old messages)",
        path.display()
    )]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The store was written by a newer version of this crate.
    #[error(
        "the store file {} has schema version {found}, newer than version {supported} that \
         this program knows: upgrade this program (liveramp-audience-store), or open a \
         different file",
        path.display()
    )]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The version in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest version this crate reads and writes.
        supported: i64,
    },
    /// No audience with this id is in the store.
    #[error(
        "audience {id} is not in the store: no subscription or membership message for it has \
         been applied (or it was purged after being disconnected)"
    )]
    UnknownAudience {
        /// The audience id asked for.
        id: i64,
    },
    /// A PostgreSQL store failed (see [`liveramp_postgres::Error`]: it never holds the
    /// password).
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL store: {0}")]
    Postgres(#[from] liveramp_postgres::Error),
    /// Any other database failure: a bug or an unexpected environment.
    #[error("the store file {} failed: {detail}", path.display())]
    Database {
        /// The store file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
}

impl Error {
    /// Whether retrying later can succeed without anyone fixing anything: the file is busy or
    /// locked, the disk is full, an I/O error, or the store is shutting down. A server answers
    /// these with 503 (mParticle retries); every other error is permanent.
    pub fn is_transient(&self) -> bool {
        #[cfg(feature = "postgres")]
        if let Error::Postgres(e) = self {
            return e.is_transient();
        }
        matches!(
            self,
            Error::Busy { .. }
                | Error::DiskFull { .. }
                | Error::Io { .. }
                | Error::ShuttingDown { .. }
        )
    }

    pub(crate) fn from_sqlite(path: &Path, e: &rusqlite::Error) -> Error {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        let detail = e.to_string();
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                Error::Busy { path, detail }
            }
            Some(ErrorCode::DiskFull) => Error::DiskFull { path, detail },
            Some(ErrorCode::SystemIoFailure) => Error::Io { path, detail },
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                Error::CannotOpen { path, detail }
            }
            Some(ErrorCode::ReadOnly) => Error::ReadOnly { path, detail },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Error::Corrupt { path, detail }
            }
            _ => Error::Database { path, detail },
        }
    }

    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}
