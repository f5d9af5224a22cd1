//! Verified, atomic, retrying uploads to LiveRamp's SFTP server: the SFTP implementation of
//! `liveramp-transport`'s `Transport` trait.
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
//! # The transport seam
//!
//! [`SftpTransport`] implements `liveramp-transport`'s [`Transport`] trait (re-exported here
//! with [`UploadStream`], [`Receipt`], [`Error`], [`RetryPolicy`] and the local-folder
//! [`DirectoryTransport`]), built on libssh2 through the `ssh2` crate, whose types never appear
//! in this API. Uploads: [`Transport::upload_file`] and [`Transport::upload_with`] (retried per
//! policy), [`Transport::begin`] (one stream, not retried), and [`Transport::new_session`] (a
//! second SSH session, for streaming one file on another thread while it is built).
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

mod hostkey;
mod names;
mod rawsftp;
mod settings;
mod sftp;

// The transport seam, re-exported so that `liveramp_sftp_transport::{Transport, Error, ...}`
// name the same items as `liveramp_transport::...`.
pub use liveramp_transport::{
    CheckReport, DirectoryTransport, Error, Receipt, Result, RetryPolicy, Transport, UploadStream,
};
pub use settings::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OPERATION_TIMEOUT, DEFAULT_PORT, DEFAULT_REMOTE_DIR, Endpoint,
    SftpSettings,
};
pub use sftp::SftpTransport;
