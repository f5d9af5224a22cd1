//! The transport seam of the LiveRamp connector: the [`Transport`] trait every destination
//! implements, the atomic-publish contract it keeps, the shared retry policy, and the
//! local-folder transport.
//!
//! A delivery builds each file once and hands it to one `Transport` value; the delivery
//! neither knows nor cares whether the file goes to LiveRamp's SFTP server
//! (`liveramp-sftp-transport`), a local folder ([`DirectoryTransport`], here), or a new
//! destination (an object store: a new crate implementing this trait, plus one arm in the
//! connector's configuration).
//!
//! # The contract
//!
//! - **Atomic publish.** No reader of the destination ever sees a partial file under its final
//!   name: data goes to the temporary name [`part_name`] (`.NAME.part`, in the same folder,
//!   which LiveRamp does not ingest), is made durable and size-checked, and only then renamed
//!   to `NAME`, replacing an existing `NAME` in one step where the destination can. The
//!   [`Receipt`] says whether a file was replaced.
//! - **Classified failures.** Every error is an [`Error`] whose message names the cause and
//!   the fix; [`Error::is_transient`] tells a dropped connection or a timeout (retried per
//!   [`RetryPolicy`], each attempt restarting the file from its first byte) from a wrong
//!   password, a changed host key or a missing folder (failed at once).
//! - **No secrets** in `Debug`, logs or errors.
//! - **Names** are plain file names checked by [`validate_name`]; the folder comes from the
//!   transport's settings.
//!
//! # Three ways to upload, and two for the connector's streaming
//!
//! - [`Transport::upload_file`]: a finished local file; retried per policy.
//! - [`Transport::upload_with`]: a *replayable producer*, a closure that writes the whole file
//!   into the given writer. On a transient failure the transport discards the partial upload,
//!   waits, reconnects and calls the closure again from the start.
//! - [`Transport::begin`]: one [`UploadStream`] (an [`std::io::Write`]) that the caller fills
//!   and then [`UploadStream::commit`]s; **not retried** (its source is not replayable).
//!   Dropping a stream without committing aborts it and removes its temporary file.
//! - [`Transport::new_session`]: a second, independent session to the same destination, so one
//!   file can be streamed on another thread while it is being built.
//! - [`Transport::staging_dir`] and [`Transport::publish_file`]: a destination that is a local
//!   folder lets the caller build a file in place under its temporary name and publish it with
//!   a rename, so nothing is copied.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//! use liveramp_transport::{DirectoryTransport, Transport};
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
//!
//! // Built in place under the temporary name, published by a rename.
//! let staging = transport.staging_dir().expect("a local folder stages in place").to_owned();
//! let built = staging.join(liveramp_transport::part_name("3242_17095-D_2020-04-01.csv"));
//! std::fs::write(&built, "DEVICE_ID,DEVICE_TYPE\n")?;
//! let receipt = transport.publish_file(&built, "3242_17095-D_2020-04-01.csv")?;
//! assert_eq!(receipt.bytes, 22);
//! assert!(!built.exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
// "LiveRamp" is a proper name, not code.
#![allow(clippy::doc_markdown)]

mod directory;
mod error;
mod names;
mod retry;

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

pub use directory::{DirectoryTransport, run_producer};
pub use error::{Error, Result};
pub use names::{part_name, validate_name};
pub use retry::{RetryPolicy, duration_serde, parse_duration, retry};

/// What one published file looks like, returned by every successful upload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The final path on the server (or in the local folder), e.g. `uploads/x.csv`.
    pub remote_path: String,
    /// Bytes written, equal to the file's size at the destination.
    pub bytes: u64,
    /// Attempts it took (1 when the first one succeeded).
    pub attempts: u32,
    /// Time from the first attempt's start to the rename.
    pub duration: Duration,
    /// Whether a file of the same name was there before and was replaced.
    pub replaced: bool,
}

impl Receipt {
    /// A receipt of one successful attempt (for [`Transport`] implementations).
    pub fn new(
        remote_path: impl Into<String>,
        bytes: u64,
        duration: Duration,
        replaced: bool,
    ) -> Self {
        Receipt {
            remote_path: remote_path.into(),
            bytes,
            attempts: 1,
            duration,
            replaced,
        }
    }
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

impl CheckReport {
    /// A report for `destination` (for [`Transport`] implementations).
    pub fn new(destination: impl Into<String>, host_key_verified_by: impl Into<String>) -> Self {
        CheckReport {
            destination: destination.into(),
            host_key_fingerprint: None,
            host_key_verified_by: host_key_verified_by.into(),
            warnings: Vec::new(),
        }
    }
}

/// Where the connector's files go, with the atomic-publish semantics of the crate
/// documentation.
///
/// All names given to a transport are plain file names ([`validate_name`]); the folder comes
/// from the transport's settings.
pub trait Transport: Send {
    /// A one-line description of the destination, without secrets.
    fn describe(&self) -> String;

    /// Connects, verifies the host key, authenticates and confirms that the folder exists and
    /// is writable by creating and removing a probe file whose name starts with `.`.
    fn check(&mut self) -> Result<CheckReport>;

    /// Starts one upload to `remote_name`: bytes written to the stream go to the temporary
    /// [`part_name`]; [`UploadStream::commit`] publishes it. Not retried: see the crate
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
        upload_file_checked(self, local_path, remote_name, &mut || Ok(()))
    }

    /// The names in the folder (files only, including temporary `.part` files), sorted.
    fn list(&mut self) -> Result<Vec<String>>;

    /// Ends the session politely (SFTP only); the transport reconnects if used again.
    fn close(&mut self) -> Result<()>;

    /// A second, independent session to the same destination, with the same settings; it
    /// connects when first used. The connector streams one file over it on another thread
    /// while the file is being built, and uses this one for the rest.
    fn new_session(&self) -> Result<Box<dyn Transport>>;

    /// A local folder where a caller may build a file under its temporary name
    /// ([`part_name`]) and publish it with [`publish_file`](Self::publish_file), a rename
    /// instead of a copy: `Some` for a transport whose destination is a local folder, `None`
    /// (the default) otherwise.
    fn staging_dir(&self) -> Option<&Path> {
        None
    }

    /// Publishes a finished local file as `remote_name`. The default uploads it with
    /// [`upload_file`](Self::upload_file) (retried, the local file left in place); a
    /// transport with a [`staging_dir`](Self::staging_dir) renames a file built there under
    /// the temporary name into place (the local file then *is* the published file).
    fn publish_file(&mut self, local_path: &Path, remote_name: &str) -> Result<Receipt> {
        self.upload_file(local_path, remote_name)
    }
}

/// [`Transport::upload_file`], calling `check` before each block (1 MiB) is sent and once
/// more after the last, before the upload is published: an error from it stops the upload at
/// once ([`Error::Source`] with its text; not retried), e.g. when the caller no longer holds
/// the right to write this file.
pub fn upload_file_checked<T: Transport + ?Sized>(
    transport: &mut T,
    local_path: &Path,
    remote_name: &str,
    check: &mut dyn FnMut() -> io::Result<()>,
) -> Result<Receipt> {
    let mut read_error = None;
    let result = transport.upload_with(remote_name, &mut |out| {
        check()?;
        let mut file = std::fs::File::open(local_path).inspect_err(|e| {
            read_error = Some(e.to_string());
        })?;
        // Large reads: one system call per MiB instead of per 8 KiB.
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match io::Read::read(&mut file, &mut buf) {
                // The last look before the transport publishes what was written.
                Ok(0) => return check(),
                Ok(n) => {
                    check()?;
                    out.write_all(&buf[..n])?;
                }
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

/// One upload in progress: write the file's bytes, then [`commit`](UploadStream::commit).
///
/// Dropping a stream without committing aborts it: the `.part` file is removed.
pub trait UploadStream: Write + Send {
    /// Bytes accepted so far.
    fn bytes_written(&self) -> u64;

    /// Flushes, makes durable, checks the size and renames the temporary file to the final
    /// name.
    fn commit(self: Box<Self>) -> Result<Receipt>;

    /// Discards the upload and removes the temporary file.
    fn abort(self: Box<Self>) -> Result<()>;

    /// The transport error behind a failed `write`, if any (taken: a second call returns
    /// `None`). Lets callers tell a network failure (transient) from their own.
    fn take_error(&mut self) -> Option<Error>;
}
