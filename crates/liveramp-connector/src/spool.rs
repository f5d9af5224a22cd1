//! Where parts are built: local files (`0600`, ciphertext only when encrypting), hashed as
//! they are written, optionally teed to a streamed upload, and removed if not published.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::NaiveDate;
use liveramp_encrypt::{EncryptOptions, EncryptingWriter, RecipientKey};
use liveramp_file_format::{FileName, PartSink};
use liveramp_transport::{Transport, part_name};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::error::Error;
use crate::error_chain;
use crate::stream::StreamedPart;
use liveramp_scheduler::Fence;

/// Where a delivery builds its parts: a folder, and whether under the hidden temporary names
/// (`.NAME.part`, in the destination's own folder, published by a rename) or under their own
/// names (a private spool or the dry-run folder).
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub(crate) dir: PathBuf,
    pub(crate) hidden: bool,
}

impl Workspace {
    /// The local path a part named `name` is built at.
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        if self.hidden {
            self.dir.join(part_name(name))
        } else {
            self.dir.join(name)
        }
    }
}

/// A finished part waiting to be published.
pub(crate) struct Spooled {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    /// The same bytes streamed to the destination, waiting for the commit. A `Mutex` only to
    /// take it out of the shared summary; dropping it aborts the remote temporary file.
    pub(crate) stream: Mutex<Option<StreamedPart>>,
}

/// Removes spooled files that were not published (on error, cancellation or panic).
pub(crate) struct SpoolGuard(pub(crate) Vec<PathBuf>);

impl Drop for SpoolGuard {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// Removes what a killed process (`kill -9`, power loss: no drop guard ran) left in the spool
/// for this delivery stream, whatever its run date: plaintext PII when encryption is off. Safe
/// because the caller holds the stream's ledger claim, so no other process is building these
/// files. `name` is this run's file name; its part before the run date identifies the stream.
pub(crate) fn remove_stale(workspace: &Workspace, name: &str, run_date: NaiveDate) {
    let (dir, hidden) = (&workspace.dir, workspace.hidden);
    let Some(at) = name.find(&run_date.format("%Y-%m-%d").to_string()) else {
        return;
    };
    let stream = &name[..at];
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let stale = if hidden {
            // In a destination folder only our hidden `.NAME.part` files, never a final file.
            file_name
                .strip_prefix('.')
                .is_some_and(|rest| rest.starts_with(stream))
                && Path::new(file_name)
                    .extension()
                    .is_some_and(|e| e == "part")
        } else {
            file_name.starts_with(stream)
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            warn!(
                "removing {}, left by a delivery that did not finish",
                entry.path().display()
            );
            let _ = fs::remove_file(entry.path());
        }
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::Io {
        action: "create the folder",
        path: dir.to_path_buf(),
        source: e,
    })
}

/// The spool file, and the upload stream the same bytes go to (when streaming).
struct Tee {
    file: BufWriter<File>,
    stream: Option<StreamedPart>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all(buf)?;
        if let Some(stream) = &mut self.stream {
            stream.push(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Counts and hashes the bytes that reach the file (after encryption).
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Layer {
    Plain(Hashing<Tee>),
    Encrypted(Box<EncryptingWriter<Hashing<Tee>>>),
}

/// One part's writer: file, hashing, optional encryption.
pub(crate) struct PartWriter {
    layer: Layer,
    path: PathBuf,
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.layer {
            Layer::Plain(w) => w.write(buf),
            Layer::Encrypted(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.layer {
            Layer::Plain(w) => w.write_all(buf),
            Layer::Encrypted(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.layer {
            Layer::Plain(w) => w.flush(),
            Layer::Encrypted(w) => w.flush(),
        }
    }
}

/// Builds parts as local files: in the destination's own folder under hidden `.NAME.part`
/// names (a transport with a staging folder), or in a private spool folder. Files are created
/// `0600`; with encryption they hold only ciphertext.
pub(crate) struct SpoolSink<'k> {
    pub(crate) workspace: Workspace,
    pub(crate) key: Option<&'k RecipientKey>,
    /// Stream each part, while it is built, over a new session of this transport.
    pub(crate) stream_from: Option<&'k Mutex<Box<dyn Transport>>>,
    /// The claim's fence, checked before each block streamed and before the commit.
    pub(crate) fence: Option<Fence>,
}

impl PartSink for SpoolSink<'_> {
    type Writer = PartWriter;
    type Output = Spooled;

    fn open(&mut self, name: &FileName) -> io::Result<PartWriter> {
        let path = self.workspace.path_of(name.as_str());
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        let stream = self.stream_from.map(|transport| {
            let session = transport
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .new_session();
            match session {
                Ok(session) => StreamedPart::start(session, name.as_str(), self.fence.clone()),
                Err(e) => StreamedPart::failed(error_chain(&e)),
            }
        });
        let hashing = Hashing {
            inner: Tee {
                file: BufWriter::with_capacity(256 * 1024, file),
                stream,
            },
            hasher: Sha256::new(),
            bytes: 0,
        };
        let layer = match self.key {
            Some(key) => {
                let options = EncryptOptions::new().file_name(name.csv_name());
                let writer = EncryptingWriter::with_options(hashing, key, &options)
                    .map_err(io::Error::other)?;
                Layer::Encrypted(Box::new(writer))
            }
            None => Layer::Plain(hashing),
        };
        Ok(PartWriter { layer, path })
    }

    fn close(&mut self, writer: PartWriter, _name: &FileName) -> io::Result<Spooled> {
        let hashing = match writer.layer {
            Layer::Plain(h) => h,
            Layer::Encrypted(w) => w.finish().map_err(io::Error::other)?,
        };
        let Hashing {
            inner,
            hasher,
            bytes,
        } = hashing;
        let Tee { file, mut stream } = inner;
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        if let Some(stream) = &mut stream {
            stream.finish_feed();
        }
        Ok(Spooled {
            path: writer.path,
            bytes,
            sha256: hex::encode(hasher.finalize()),
            stream: Mutex::new(stream),
        })
    }

    fn abort(&mut self, writer: PartWriter, _name: &FileName) {
        let path = writer.path.clone();
        drop(writer);
        let _ = fs::remove_file(path);
    }
}
