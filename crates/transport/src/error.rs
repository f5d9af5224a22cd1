//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while connecting, verifying, authenticating or uploading.
///
/// Every message says what is wrong and what to do about it. No variant ever contains a
/// password, a passphrase or key material. [`Error::is_transient`] tells whether the retry
/// policy applies (a dropped connection, a timeout) or whether retrying cannot help (a wrong
/// password, a changed host key, a missing folder).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings are incomplete or contradictory.
    #[error("invalid SFTP settings: {0}")]
    InvalidSettings(String),

    /// The remote file name is not a plain file name.
    #[error(
        "invalid remote file name `{name}`: {reason}; use a plain file name without `/`, \
         e.g. `3242_17095-PII_2020-04-01.csv`"
    )]
    InvalidName {
        /// The name that was refused.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The server could not be reached (refused, unreachable, name not resolved, reset).
    #[error(
        "cannot connect to {address}: {detail}; check the SFTP URL and port, and that the \
         server is reachable from this machine"
    )]
    Connect {
        /// `host:port` that was tried.
        address: String,
        /// What the operating system said.
        detail: String,
    },

    /// A step did not finish within its timeout.
    #[error(
        "timed out after {after:?} while {during} on {address}; the server or network is \
         slow or unresponsive: retry later, or raise `connect_timeout` / `operation_timeout`"
    )]
    Timeout {
        /// `host:port` of the server.
        address: String,
        /// What was being done (e.g. "waiting for the SSH handshake").
        during: String,
        /// The timeout that elapsed.
        after: Duration,
    },

    /// The connection broke during the SSH protocol or an SFTP transfer.
    #[error(
        "connection to {address} failed while {during}: {detail}; this is usually a network \
         interruption and is retried"
    )]
    Connection {
        /// `host:port` of the server.
        address: String,
        /// What was being done.
        during: String,
        /// What libssh2 or the operating system said.
        detail: String,
    },

    /// The server's host key is not in `known_hosts` and no fingerprint is pinned.
    #[error(
        "the host key of {host} is unknown (not in {known_hosts}); no credential was sent. \
         The server presented {key_type} key {fingerprint}. If you have confirmed this \
         fingerprint with LiveRamp, pin it with `host_key_fingerprint = \"{fingerprint}\"` or \
         add the host to known_hosts (`ssh-keyscan -p PORT HOST >> {known_hosts}`)"
    )]
    HostKeyUnknown {
        /// The host as looked up (`host` or `[host]:port`).
        host: String,
        /// The `known_hosts` file that was searched.
        known_hosts: String,
        /// The server's key type, e.g. `ssh-ed25519`.
        key_type: String,
        /// The server's key fingerprint, `SHA256:...` as `ssh-keygen -lf` prints it.
        fingerprint: String,
    },

    /// The server's host key differs from the one recorded or pinned.
    #[error(
        "HOST KEY MISMATCH for {host}: expected {expected}, but the server presented {key_type} \
         key {fingerprint}; no credential was sent. Someone may be intercepting the connection, \
         or the server's key was changed: confirm the new fingerprint with LiveRamp before \
         updating `host_key_fingerprint` or known_hosts"
    )]
    HostKeyMismatch {
        /// The host as looked up.
        host: String,
        /// What was expected (a pinned fingerprint or the `known_hosts` entry).
        expected: String,
        /// The server's key type.
        key_type: String,
        /// The server's key fingerprint, `SHA256:...`.
        fingerprint: String,
    },

    /// The server refused the username and password or key.
    #[error(
        "authentication as `{username}` on {address} failed ({method}): {detail}; check the \
         username and the password or private key (and its passphrase) in the SFTP settings"
    )]
    Authentication {
        /// The username that was refused.
        username: String,
        /// `host:port` of the server.
        address: String,
        /// `password` or `public key <path>`.
        method: String,
        /// What the server or libssh2 said (never the secret).
        detail: String,
    },

    /// The private key file could not be read or decrypted.
    #[error(
        "cannot use private key {path}: {detail}; check the path, the file's format (OpenSSH or \
         PEM) and `private_key_passphrase`"
    )]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// What went wrong (never the passphrase).
        detail: String,
    },

    /// The remote (or local) folder does not exist.
    #[error("remote folder `{dir}` does not exist: create it or set `create_remote_dir = true`")]
    RemoteDirMissing {
        /// The folder.
        dir: String,
    },

    /// The server refused access to a path.
    #[error(
        "permission denied on `{path}` while {during}: ask the server's administrator for write \
         access, or choose a folder you may write to (`remote_dir`)"
    )]
    PermissionDenied {
        /// The path.
        path: String,
        /// What was being done.
        during: String,
    },

    /// The uploaded file's size does not match the bytes sent.
    #[error(
        "`{path}` has {actual} bytes on the server but {expected} were sent; the upload was \
         incomplete and is retried"
    )]
    SizeMismatch {
        /// The temporary file that was checked.
        path: String,
        /// Bytes sent.
        expected: u64,
        /// Bytes found.
        actual: u64,
    },

    /// An SFTP operation failed for another reason.
    #[error("SFTP {during} on `{path}` failed: {detail}")]
    Sftp {
        /// The path.
        path: String,
        /// What was being done.
        during: String,
        /// What the server said.
        detail: String,
        /// Whether retrying may help.
        transient: bool,
    },

    /// A local file or folder could not be read or written.
    #[error("{during} `{path}` failed: {detail}")]
    Local {
        /// The local path.
        path: PathBuf,
        /// What was being done.
        during: String,
        /// What the operating system said.
        detail: String,
    },

    /// The data source of a streaming upload failed (not the transport).
    #[error("the data being uploaded to `{name}` could not be produced: {detail}")]
    Source {
        /// The final remote name.
        name: String,
        /// What the producer said.
        detail: String,
    },

    /// Every attempt failed with a transient error; this is the last one.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },
}

impl Error {
    /// Whether the retry policy applies: `true` for dropped or refused connections, timeouts
    /// and incomplete transfers; `false` for problems a retry cannot fix.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::Connection { .. }
            | Error::SizeMismatch { .. } => true,
            Error::Sftp { transient, .. } => *transient,
            Error::InvalidSettings(_)
            | Error::InvalidName { .. }
            | Error::HostKeyUnknown { .. }
            | Error::HostKeyMismatch { .. }
            | Error::Authentication { .. }
            | Error::PrivateKey { .. }
            | Error::RemoteDirMissing { .. }
            | Error::PermissionDenied { .. }
            | Error::Local { .. }
            | Error::Source { .. }
            | Error::RetriesExhausted { .. } => false,
        }
    }

    /// The error of the last attempt when this is [`Error::RetriesExhausted`], else `self`.
    pub fn root(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.root(),
            other => other,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
