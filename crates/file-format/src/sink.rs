//! Where parts go: the caller-supplied factory of writers.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::name::FileName;

/// A factory of writers, one per part of a file: the [`CsvFileWriter`](crate::CsvFileWriter)
/// opens a part, writes its bytes, and hands the writer back to [`close`](Self::close).
///
/// The writer receives exactly the file's bytes: the CSV, or its gzip when the name ends in
/// `.gz`. Anything further (OpenPGP encryption, upload) is the sink's: its `Writer` can be a
/// stack such as "encrypt into an upload", and its `close` finishes that stack (e.g.
/// `EncryptingWriter::finish`, then the upload's own finish and rename) and returns whatever
/// the caller wants per part as [`Output`](Self::Output).
///
/// **Names.** `open` is given the name the part will have if nothing else happens. Only the
/// first part's name can change: a file opens as `..._2020-04-01.csv` and, if it has to be
/// split, that first part is closed as `..._2020-04-01_file-part-1.csv`. So write each part
/// under a temporary name and publish it under the name given to `close` (which is also what
/// LiveRamp needs: it must never see a partly written file). Later parts open under their
/// final `_file-part-N` name.
///
/// Errors are `io::Error`s; wrap others with `io::Error::other`, and the caller gets them back
/// inside [`Error::Sink`](crate::Error::Sink) (`std::error::Error::source`, downcastable).
pub trait PartSink {
    /// Receives one part's bytes.
    type Writer: io::Write;
    /// What closing a part yields (a path, an upload receipt, the bytes...), reported in the
    /// part's [`PartSummary`](crate::PartSummary).
    type Output;

    /// Starts a part that will be called `name` unless the file gets split (see above).
    fn open(&mut self, name: &FileName) -> io::Result<Self::Writer>;

    /// Completes a part: every byte has been written and flushed. `name` is its final name.
    fn close(&mut self, writer: Self::Writer, name: &FileName) -> io::Result<Self::Output>;

    /// Discards an unfinished part after an error, or when the file writer is dropped or
    /// [`abort`](crate::CsvFileWriter::abort)ed before `finish`. `name` is the name it was
    /// opened under. The default drops the writer.
    fn abort(&mut self, writer: Self::Writer, name: &FileName) {
        let _ = name;
        drop(writer);
    }
}

impl<P: PartSink + ?Sized> PartSink for &mut P {
    type Writer = P::Writer;
    type Output = P::Output;

    fn open(&mut self, name: &FileName) -> io::Result<Self::Writer> {
        (**self).open(name)
    }

    fn close(&mut self, writer: Self::Writer, name: &FileName) -> io::Result<Self::Output> {
        (**self).close(writer, name)
    }

    fn abort(&mut self, writer: Self::Writer, name: &FileName) {
        (**self).abort(writer, name);
    }
}

/// Keeps every part in memory: each part's [`Output`](PartSink::Output) is its bytes. For tests
/// and small files.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemorySink;

impl PartSink for MemorySink {
    type Writer = Vec<u8>;
    type Output = Vec<u8>;

    fn open(&mut self, _name: &FileName) -> io::Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn close(&mut self, writer: Vec<u8>, _name: &FileName) -> io::Result<Vec<u8>> {
        Ok(writer)
    }
}

/// Writes parts as files in a local folder: each part is written to `{name}.partial`, synced
/// to disk and renamed to its final name on close (removed on abort). Each part's
/// [`Output`](PartSink::Output) is its final path.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    dir: PathBuf,
}

impl DirectorySink {
    /// Parts go into `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A part being written by a [`DirectorySink`]: the file and its temporary path.
#[derive(Debug)]
pub struct DirectoryPart {
    file: File,
    temp: PathBuf,
}

impl io::Write for DirectoryPart {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl PartSink for DirectorySink {
    type Writer = DirectoryPart;
    type Output = PathBuf;

    fn open(&mut self, name: &FileName) -> io::Result<DirectoryPart> {
        let temp = self.dir.join(format!("{name}.partial"));
        let file = File::create(&temp)?;
        Ok(DirectoryPart { file, temp })
    }

    fn close(&mut self, writer: DirectoryPart, name: &FileName) -> io::Result<PathBuf> {
        writer.file.sync_all()?;
        drop(writer.file);
        let target = self.dir.join(name.as_str());
        fs::rename(&writer.temp, &target)?;
        Ok(target)
    }

    fn abort(&mut self, writer: DirectoryPart, _name: &FileName) {
        drop(writer.file);
        let _ = fs::remove_file(&writer.temp);
    }
}
