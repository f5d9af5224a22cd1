//! The connector's one error type.

use std::path::PathBuf;

use crate::config::ConfigError;

/// What stops a delivery (or the connector's setup) as a whole. Problems with one file are in
/// the [`Report`](crate::Report) instead.
///
/// Each message is one sentence saying what failed; the cause (`source()`) says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (every problem listed).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The recipient's public key cannot be used.
    #[error("the public key {} cannot be used for encryption (file.public_key_path)", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: liveramp_encrypt::Error,
    },
    /// The ledger in the state folder cannot be opened or written.
    #[error("the ledger in {} cannot be used; nothing more is delivered, so that no file is sent twice", dir.display())]
    Ledger {
        /// The state folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: liveramp_scheduler::Error,
    },
    /// A local file or folder operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The destination could not be reached or used.
    #[error("could not {action}")]
    Transport {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: liveramp_transport::Error,
    },
    /// A file name or header could not be built from the configuration.
    #[error("the file for this audience cannot be named or started")]
    FileName {
        /// Why.
        #[source]
        source: liveramp_file_format::Error,
    },
    /// The member source failed part-way (e.g. the member file could not be read any
    /// further): nothing was published, since the audience would have been truncated.
    #[error(
        "reading the members of audience {audience} failed at member {line} ({message}); \
         nothing was published (fix the source and run again)"
    )]
    MemberSource {
        /// The audience.
        audience: String,
        /// The 1-based position (line) where reading failed.
        line: u64,
        /// What the source said.
        message: String,
    },
    /// A configured audience names no member source (no `members` file).
    #[error(
        "audience {audience} has no members file: set members = \"path/to/members.ndjson\" in \
         its [[audiences]] entry"
    )]
    NoMembers {
        /// The audience.
        audience: String,
    },
    /// A configured audience's members file cannot be opened.
    #[error("cannot read the members of audience {audience} from {}", path.display())]
    Members {
        /// The audience.
        audience: String,
        /// The members file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The membership store cannot be opened, read or written.
    #[error("could not {action} the membership store")]
    Store {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: liveramp_audience_store::Error,
    },
    /// The delivery was cancelled (shutdown requested); files not yet published were
    /// discarded and their ledger entries recorded as failed.
    #[error("the delivery of audience {audience} was cancelled before it finished")]
    Cancelled {
        /// The audience.
        audience: String,
    },
}
