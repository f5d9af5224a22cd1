//! Verified, atomic, retrying uploads to LiveRamp's SFTP server, and a local-folder transport
//! with the same semantics.
//!
//! LiveRamp ingests files dropped under `uploads/` on its SFTP server. This crate moves the
//! connector's finished files there safely:
//!
//! - **Host keys are verified before any credential is sent**, against an OpenSSH
//!   `known_hosts` file (`known_hosts_path`; hashed and `[host]:port` entries included) or a
//!   pinned `host_key_fingerprint = "SHA256:..."` exactly as `ssh-keygen -lf` prints it. An
//!   unknown or changed key is an error that shows the server's fingerprint and how to pin it.
//!   Skipping the check takes `insecure_skip_host_key_check = true` and logs a warning on every
//!   connection.
//! - **Publishing is atomic**: data goes to `.NAME.part` in the target folder (a name LiveRamp
//!   does not ingest), is `fsync`ed, its size is checked against the bytes sent, and only then
//!   is it renamed to `NAME`. An existing `NAME` is replaced with OpenSSH's
//!   `posix-rename@openssh.com` where the server offers it (one atomic step), else by removing
//!   it and renaming; the [`Receipt`] says whether a file was replaced. No reader of the folder
//!   ever sees a partial file under the final name.
//! - **Failures are classified**: transient ones (refused, reset or dropped connections,
//!   timeouts, short files) are retried per [`RetryPolicy`] (default 5 attempts, exponential
//!   backoff from 2 s with jitter, capped at 2 min), each attempt restarting the file from its
//!   first byte; permanent ones (wrong password, host-key mismatch, permission denied, missing
//!   folder) fail at once with a message naming the cause and the fix. See
//!   [`Error::is_transient`].
//! - **Throughput**: one SSH session is reused for all files of a run; data is written in
//!   large chunks (libssh2 pipelines the SFTP write requests of one large buffer) from a
//!   background thread, so producing the next chunk overlaps sending the previous one. Only
//!   modern ciphers are offered (ChaCha20-Poly1305, AES-GCM, AES-CTR), in libssh2's order of
//!   preference; the workspace's patched libssh2 (`vendor/libssh2-sys`, see its
//!   `PATCHED.md`) encrypts AES-GCM a packet at a time and prefers it.
//!
//! # Two transports, one trait
//!
//! [`Transport`] is what the connector talks to. [`SftpTransport`] uploads to an SFTP server
//! (built on libssh2 through the `ssh2` crate, whose types never appear in this API);
//! [`DirectoryTransport`] writes to a local folder with the same temporary-name, fsync, size
//! check and rename steps, for trying the project without a server.
//!
//! Three ways to upload:
//! - [`Transport::upload_file`]: a finished local file; retried per policy.
//! - [`Transport::upload_with`]: a *replayable producer*, a closure that writes the whole file
//!   into the given writer (e.g. CSV -> gzip -> encrypt). On a transient failure the transport
//!   discards the partial upload, waits, reconnects and calls the closure again, so the
//!   producer must be able to produce the same bytes again. Nothing is spooled to disk.
//! - [`Transport::begin`]: a single [`UploadStream`] (an [`std::io::Write`]) that the caller
//!   fills and then [`UploadStream::commit`]s. A stream is **not retried** by the transport
//!   (its source is not replayable); on a transient error the caller starts again with a new
//!   `begin`, or uses `upload_with`. Dropping a stream without committing aborts it and
//!   removes its `.part` file.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//! use liveramp_sftp_transport::{DirectoryTransport, Transport};
//!
//! let folder = tempfile::tempdir()?;
//! let mut transport = DirectoryTransport::new(folder.path());
//!
//! // A replayable producer: called again from the start if an attempt fails.
//! let receipt = transport.upload_with("3242_17095-PII_2020-04-01.csv", &mut |out| {
//!     out.write_all(b"EMAIL1_SHA256\n")?;
//!     out.write_all(b"a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3\n")
//! })?;
//! assert_eq!(receipt.bytes, 79);
//! assert!(!receipt.replaced);
//!
//! // A stream: commit publishes it; dropping it would discard it.
//! let mut stream = transport.begin("3242_17095-PII_2020-04-01.csv")?;
//! stream.write_all(b"EMAIL1_SHA256\n")?;
//! let receipt = stream.commit()?;
//! assert!(receipt.replaced);
//! assert_eq!(transport.list()?, vec!["3242_17095-PII_2020-04-01.csv".to_owned()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Connecting to a server (not run here: it needs one):
//!
//! ```no_run
//! use liveramp_sftp_transport::{SftpSettings, SftpTransport, Transport};
//!
//! let mut settings = SftpSettings::new("sftp://files.liveramp.com", "acme");
//! settings.password = Some("from the secret store".into());
//! settings.host_key_fingerprint = Some("SHA256:...".into()); // as `ssh-keygen -lf` prints it
//! let mut transport = SftpTransport::new(settings)?;
//! let report = transport.check()?; // for `liveramp check`
//! println!("server key {}", report.host_key_fingerprint.unwrap_or_default());
//! let receipt = transport.upload_file("out/3242_17095-D_2020-04-01.csv.gpg".as_ref(),
//!                                     "3242_17095-D_2020-04-01.csv.gpg")?;
//! println!("{} bytes to {} in {} attempt(s)", receipt.bytes, receipt.remote_path,
//!          receipt.attempts);
//! # Ok::<(), liveramp_sftp_transport::Error>(())
//! ```
#![deny(missing_docs)]
// "LiveRamp" is a proper name, not code.
#![allow(clippy::doc_markdown)]

mod directory;
mod error;
mod hostkey;
mod names;
mod rawsftp;
mod retry;
mod settings;
mod sftp;

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

pub use directory::DirectoryTransport;
pub use error::{Error, Result};
pub use settings::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OPERATION_TIMEOUT, DEFAULT_PORT, DEFAULT_REMOTE_DIR, Endpoint,
    RetryPolicy, SftpSettings,
};
pub use sftp::SftpTransport;

/// What one published file looks like, returned by every successful upload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The final path on the server (or in the local folder), e.g. `uploads/x.csv`.
    pub remote_path: String,
    /// Bytes written, equal to the file's size on the server.
    pub bytes: u64,
    /// Attempts it took (1 when the first one succeeded).
    pub attempts: u32,
    /// Time from the first attempt's start to the rename.
    pub duration: Duration,
    /// Whether a file of the same name was there before and was replaced.
    pub replaced: bool,
}

/// The result of [`Transport::check`]: what `liveramp check` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Where files go: `sftp://user@host:port/dir` or the local folder.
    pub destination: String,
    /// The server's host key fingerprint (`SHA256:...`), for pinning; `None` for a folder.
    pub host_key_fingerprint: Option<String>,
    /// How the host key was verified (`known_hosts <path>`, `pinned fingerprint`, or
    /// `NOT VERIFIED`).
    pub host_key_verified_by: String,
    /// Things that work but are unsafe or unusual (e.g. the skipped host-key check).
    pub warnings: Vec<String>,
}

/// Where the connector's files go: an SFTP server ([`SftpTransport`]) or a local folder
/// ([`DirectoryTransport`]), with the same atomic-publish semantics.
///
/// All names given to a transport are plain file names (no `/`, not starting with `.`); the
/// folder comes from the transport's settings.
pub trait Transport: Send {
    /// A one-line description of the destination, without secrets.
    fn describe(&self) -> String;

    /// Connects, verifies the host key, authenticates and confirms that the folder exists and
    /// is writable by creating and removing a probe file whose name starts with `.`.
    fn check(&mut self) -> Result<CheckReport>;

    /// Starts one upload to `remote_name`: bytes written to the stream go to the temporary
    /// `.remote_name.part`; [`UploadStream::commit`] publishes it. Not retried: see the crate
    /// documentation.
    fn begin(&mut self, remote_name: &str) -> Result<Box<dyn UploadStream + '_>>;

    /// Uploads what `produce` writes, retrying transient failures per policy by calling
    /// `produce` again from the start. An error returned by `produce` itself (not caused by
    /// the transport) ends the upload at once as [`Error::Source`].
    fn upload_with(
        &mut self,
        remote_name: &str,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<Receipt>;

    /// Uploads a local file, retrying transient failures per policy (each attempt re-reads
    /// the file from its start).
    fn upload_file(&mut self, local_path: &Path, remote_name: &str) -> Result<Receipt> {
        let mut read_error = None;
        let result = self.upload_with(remote_name, &mut |out| {
            let mut file = std::fs::File::open(local_path).inspect_err(|e| {
                read_error = Some(e.to_string());
            })?;
            // Large reads: one system call per MiB instead of per 8 KiB.
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match io::Read::read(&mut file, &mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => out.write_all(&buf[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        read_error = Some(e.to_string());
                        return Err(e);
                    }
                }
            }
        });
        match (result, read_error) {
            (Err(Error::Source { .. }), Some(detail)) => Err(Error::Local {
                path: local_path.to_path_buf(),
                during: "reading the file to upload".to_owned(),
                detail,
            }),
            (result, _) => result,
        }
    }

    /// The names in the folder (files only, including temporary `.part` files), sorted.
    fn list(&mut self) -> Result<Vec<String>>;

    /// Ends the session politely (SFTP only); the transport reconnects if used again.
    fn close(&mut self) -> Result<()>;
}

/// One upload in progress: write the file's bytes, then [`commit`](UploadStream::commit).
///
/// Dropping a stream without committing aborts it: the `.part` file is removed.
pub trait UploadStream: Write + Send {
    /// Bytes accepted so far.
    fn bytes_written(&self) -> u64;

    /// Flushes, `fsync`s, checks the size and renames the temporary file to the final name.
    fn commit(self: Box<Self>) -> Result<Receipt>;

    /// Discards the upload and removes the temporary file.
    fn abort(self: Box<Self>) -> Result<()>;

    /// The transport error behind a failed `write`, if any (taken: a second call returns
    /// `None`). Lets callers tell a network failure (transient) from their own.
    fn take_error(&mut self) -> Option<Error>;
}
