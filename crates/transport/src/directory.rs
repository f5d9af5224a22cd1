//! A local folder with the same atomic-publish semantics as the SFTP transport.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::names::{part_name, validate_name};
use crate::retry::{RetryPolicy, retry};
use crate::{CheckReport, Receipt, Transport, UploadStream};

/// Write buffer for local files.
const BUFFER: usize = 1 << 20;

/// Writes files into a local folder: `.NAME.part`, `fsync`, size check, rename to `NAME`
/// (replacing an existing `NAME` atomically), then `fsync` of the folder.
///
/// The default transport for trying the project without a server.
#[derive(Debug, Clone)]
pub struct DirectoryTransport {
    dir: PathBuf,
    create_dir: bool,
    retry: RetryPolicy,
}

impl DirectoryTransport {
    /// A transport writing into `dir`, which must exist (see
    /// [`create_dir`](Self::create_dir)).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirectoryTransport {
            dir: dir.into(),
            create_dir: false,
            retry: RetryPolicy::default(),
        }
    }

    /// Create the folder (and its parents) when it is missing, like `create_remote_dir`.
    #[must_use]
    pub fn create_dir(mut self, yes: bool) -> Self {
        self.create_dir = yes;
        self
    }

    /// The folder files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn local(&self, during: &str, path: &Path, e: &io::Error) -> Error {
        if e.kind() == io::ErrorKind::PermissionDenied {
            Error::PermissionDenied {
                path: path.display().to_string(),
                during: during.to_owned(),
            }
        } else if e.kind() == io::ErrorKind::NotFound && !self.dir.is_dir() {
            self.missing()
        } else {
            Error::Local {
                path: path.to_path_buf(),
                during: during.to_owned(),
                detail: e.to_string(),
            }
        }
    }

    fn missing(&self) -> Error {
        Error::RemoteDirMissing {
            dir: self.dir.display().to_string(),
        }
    }

    fn ensure_dir(&self) -> Result<()> {
        if self.dir.is_dir() {
            return Ok(());
        }
        if self.dir.exists() {
            return Err(Error::Local {
                path: self.dir.clone(),
                during: "using the upload folder".to_owned(),
                detail: "it is not a folder".to_owned(),
            });
        }
        if !self.create_dir {
            return Err(self.missing());
        }
        fs::create_dir_all(&self.dir)
            .map_err(|e| self.local("creating the upload folder", &self.dir, &e))
    }

    fn open(&self, remote_name: &str) -> Result<DirectoryStream> {
        validate_name(remote_name)?;
        self.ensure_dir()?;
        let part = self.dir.join(part_name(remote_name));
        let file = File::create(&part).map_err(|e| self.local("creating", &part, &e))?;
        Ok(DirectoryStream {
            transport: self.clone(),
            file: Some(BufWriter::with_capacity(BUFFER, file)),
            part,
            target: self.dir.join(remote_name),
            written: 0,
            started: Instant::now(),
            error: None,
        })
    }
}

impl Transport for DirectoryTransport {
    fn describe(&self) -> String {
        format!("local folder {}", self.dir.display())
    }

    fn check(&mut self) -> Result<CheckReport> {
        self.ensure_dir()?;
        let probe = self
            .dir
            .join(format!(".liveramp-check-{}", std::process::id()));
        fs::write(&probe, b"probe").map_err(|e| self.local("creating probe file", &probe, &e))?;
        fs::remove_file(&probe).map_err(|e| self.local("removing probe file", &probe, &e))?;
        Ok(CheckReport {
            destination: self.describe(),
            host_key_fingerprint: None,
            host_key_verified_by: "not applicable (local folder)".to_owned(),
            warnings: Vec::new(),
        })
    }

    fn begin(&mut self, remote_name: &str) -> Result<Box<dyn UploadStream + '_>> {
        Ok(Box::new(self.open(remote_name)?))
    }

    fn upload_with(
        &mut self,
        remote_name: &str,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<Receipt> {
        let policy = self.retry.clone();
        retry(&policy, remote_name, |_| {
            let mut stream = Box::new(self.open(remote_name)?);
            run_producer(stream.as_mut(), remote_name, produce)?;
            stream.commit()
        })
    }

    fn list(&mut self) -> Result<Vec<String>> {
        self.ensure_dir()?;
        let entries = fs::read_dir(&self.dir).map_err(|e| self.local("listing", &self.dir, &e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.local("listing", &self.dir, &e))?;
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }

    fn new_session(&self) -> Result<Box<dyn Transport>> {
        Ok(Box::new(self.clone()))
    }

    fn staging_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    /// A file built in this folder under `remote_name`'s temporary name is renamed into place
    /// (`rename(2)`, replacing an existing file atomically; then the folder is `fsync`ed); any
    /// other file is copied with [`Transport::upload_file`]. The caller makes the built file
    /// durable before publishing it.
    fn publish_file(&mut self, local_path: &Path, remote_name: &str) -> Result<Receipt> {
        validate_name(remote_name)?;
        let staged = self.dir.join(part_name(remote_name));
        if local_path != staged {
            return self.upload_file(local_path, remote_name);
        }
        let started = Instant::now();
        let bytes = fs::metadata(&staged)
            .map_err(|e| self.local("checking the size of", &staged, &e))?
            .len();
        let target = self.dir.join(remote_name);
        let replaced = target.exists();
        fs::rename(&staged, &target).map_err(|e| self.local("renaming", &staged, &e))?;
        if let Ok(dir) = File::open(&self.dir) {
            // Make the rename itself durable; not every filesystem supports this.
            let _ = dir.sync_all();
        }
        Ok(Receipt::new(
            target.display().to_string(),
            bytes,
            started.elapsed(),
            replaced,
        ))
    }
}

/// Runs a producer into a stream (and flushes it), turning a failure into the stream's own
/// error when the stream caused it ([`UploadStream::take_error`]), else into
/// [`Error::Source`]. For implementing [`Transport::upload_with`]: the caller then commits the
/// stream, or drops it (aborting) on error.
pub fn run_producer(
    stream: &mut dyn UploadStream,
    remote_name: &str,
    produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let outcome = produce(&mut *stream).and_then(|()| stream.flush());
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(stream.take_error().unwrap_or_else(|| Error::Source {
            name: remote_name.to_owned(),
            detail: e.to_string(),
        })),
    }
}

struct DirectoryStream {
    transport: DirectoryTransport,
    file: Option<BufWriter<File>>,
    part: PathBuf,
    target: PathBuf,
    written: u64,
    started: Instant,
    error: Option<Error>,
}

impl DirectoryStream {
    fn fail(&mut self, during: &str, e: &io::Error) -> io::Error {
        self.error = Some(self.transport.local(during, &self.part, e));
        io::Error::new(e.kind(), e.to_string())
    }

    fn publish(&mut self) -> Result<Receipt> {
        let writer = self.file.take().ok_or_else(|| Error::Local {
            path: self.part.clone(),
            during: "committing".to_owned(),
            detail: "the upload was already finished".to_owned(),
        })?;
        let file = writer
            .into_inner()
            .map_err(|e| self.transport.local("writing", &self.part, e.error()))?;
        file.sync_all()
            .map_err(|e| self.transport.local("syncing", &self.part, &e))?;
        let actual = file
            .metadata()
            .map_err(|e| self.transport.local("checking the size of", &self.part, &e))?
            .len();
        drop(file);
        if actual != self.written {
            return Err(Error::SizeMismatch {
                path: self.part.display().to_string(),
                expected: self.written,
                actual,
            });
        }
        let replaced = self.target.exists();
        // rename(2) replaces an existing target atomically.
        fs::rename(&self.part, &self.target)
            .map_err(|e| self.transport.local("renaming", &self.part, &e))?;
        if let Ok(dir) = File::open(&self.transport.dir) {
            // Make the rename itself durable; not every filesystem supports this.
            let _ = dir.sync_all();
        }
        Ok(Receipt {
            remote_path: self.target.display().to_string(),
            bytes: self.written,
            attempts: 1,
            duration: self.started.elapsed(),
            replaced,
        })
    }

    fn discard(&mut self) -> Result<()> {
        self.file = None;
        match fs::remove_file(&self.part) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.transport.local("removing", &self.part, &e)),
        }
    }
}

impl Write for DirectoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the upload was already finished"));
        };
        match file.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.fail("writing", &e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut().map(BufWriter::flush) {
            Some(Err(e)) => Err(self.fail("writing", &e)),
            _ => Ok(()),
        }
    }
}

impl UploadStream for DirectoryStream {
    fn bytes_written(&self) -> u64 {
        self.written
    }

    fn commit(mut self: Box<Self>) -> Result<Receipt> {
        let result = self.publish();
        if result.is_err() {
            let _ = self.discard();
        }
        result
    }

    fn abort(mut self: Box<Self>) -> Result<()> {
        self.discard()
    }

    fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

impl Drop for DirectoryStream {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = self.discard();
        }
    }
}
