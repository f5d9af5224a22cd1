//! The streaming CSV file writer: limits, splitting, gzip, per-part digests.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::encode::{LineEncoder, char_count, encode_line_into, has_line_break};
use crate::error::{Error, Result};
use crate::fingerprint::{HeaderFingerprint, validate_header};
use crate::name::{Compression, FileName};
use crate::sink::PartSink;

/// Bytes collected before they are handed on (to gzip or to the sink) in one call.
const CHUNK_BYTES: usize = 64 * 1024;

/// LiveRamp's file limits, each configurable. [`Limits::default`] is LiveRamp's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// A data line with more characters than this (Unicode scalar values, the `\n` not counted)
    /// is not written: it becomes a [`Rejection`]. LiveRamp: 10,000 (1,000 for EU files).
    pub max_line_chars: usize,
    /// At most this many uncompressed bytes per file (header included): when the next line
    /// would exceed it, the file is split. LiveRamp: 50 GB (50,000,000,000 bytes).
    pub max_file_bytes: u64,
    /// At most this many data rows per file (header not counted): the next row starts a new
    /// part. LiveRamp: 500,000,000.
    pub max_rows: u64,
    /// A file with fewer data rows is still written but reported as
    /// [`below_minimum_rows`](PartSummary::below_minimum_rows): LiveRamp does not process it.
    /// LiveRamp: 25.
    pub min_rows: u64,
}

impl Limits {
    /// LiveRamp's limits (the default).
    pub const LIVERAMP: Limits = Limits {
        max_line_chars: 10_000,
        max_file_bytes: 50_000_000_000,
        max_rows: 500_000_000,
        min_rows: 25,
    };

    /// LiveRamp's limits for EU files: lines of at most 1,000 characters.
    pub const LIVERAMP_EU: Limits = Limits {
        max_line_chars: 1_000,
        ..Limits::LIVERAMP
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::LIVERAMP
    }
}

/// How a [`CsvFileWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriterOptions {
    /// The limits enforced while writing.
    pub limits: Limits,
    /// gzip level 0 (store) to 9 (smallest), used when the file name ends in `.gz`. Default 6,
    /// as `gzip` itself.
    pub gzip_level: u32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            gzip_level: 6,
        }
    }
}

/// Why a row was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The encoded line is longer than [`Limits::max_line_chars`].
    LineTooLong {
        /// Characters in the encoded line (`\n` not counted).
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Header and line together exceed [`Limits::max_file_bytes`]: no part could hold it.
    /// (Only possible with a byte limit far below LiveRamp's.)
    LineTooLargeForFile {
        /// Bytes in the encoded line, `\n` included.
        bytes: u64,
        /// The limit.
        max_file_bytes: u64,
    },
}

/// A row that was not written, with the member it belonged to, for the run's report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rejection {
    /// The member key given with the row.
    pub member_key: String,
    /// Why it was not written.
    pub reason: RejectReason,
}

/// What [`CsvFileWriter::write_row`] did with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum RowOutcome {
    /// Written to the current part.
    Written,
    /// Not written; recorded in the summary's [`rejections`](FileSummary::rejections).
    Rejected(RejectReason),
}

/// Encodes rows ahead of a [`CsvFileWriter`], for example on worker threads, into one buffer
/// of many lines; [`CsvFileWriter::write_encoded_row`] then writes each line as
/// [`CsvFileWriter::write_row`] would have written the same fields.
///
/// ```
/// use liveramp_file_format::{CsvFileWriter, DataType, FileName, MemorySink, RowEncoder};
/// let date = chrono::NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
/// let name = FileName::new("3242", "17095", DataType::Pii, date)?;
/// let encoder = RowEncoder::new(2);
/// let mut lines = Vec::new();
/// encoder.encode_into("m1", &["Zoë, Jr.", "10001"], &mut lines)?;
/// assert_eq!(lines, "\"Zoë, Jr.\",10001\n".as_bytes());
/// let mut writer = CsvFileWriter::new(name, &["FIRSTNAME", "ZIP"], MemorySink)?;
/// let _ = writer.write_encoded_row("m1", &lines)?;
/// let summary = writer.finish()?;
/// assert_eq!(summary.parts[0].output, "FIRSTNAME,ZIP\n\"Zoë, Jr.\",10001\n".as_bytes());
/// # Ok::<(), liveramp_file_format::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowEncoder {
    fields: usize,
}

impl RowEncoder {
    /// An encoder for rows of `fields` fields (the header's width).
    pub fn new(fields: usize) -> Self {
        Self { fields }
    }

    /// Appends `fields` to `out` as one line (`\n` included), as [`CsvFileWriter::write_row`]
    /// encodes them. A row without the header's number of fields is an
    /// [`Error::FieldCount`] and nothing is appended.
    pub fn encode_into<S: AsRef<str>>(
        &self,
        member_key: &str,
        fields: &[S],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if fields.len() != self.fields {
            return Err(Error::FieldCount {
                expected: self.fields,
                found: fields.len(),
                member_key: member_key.to_owned(),
            });
        }
        encode_line_into(fields, out);
        Ok(())
    }
}

/// One finished part (one file LiveRamp receives).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartSummary<O> {
    /// Its final name (with `_file-part-N` when the file was split).
    pub name: FileName,
    /// Data rows (the header not counted).
    pub rows: u64,
    /// Bytes of CSV, header included: what LiveRamp's size limit counts.
    pub uncompressed_bytes: u64,
    /// Bytes handed to the sink's writer: the gzip stream when the name ends in `.gz`, else
    /// the CSV (then equal to `uncompressed_bytes`).
    pub written_bytes: u64,
    /// SHA-256 of exactly the `written_bytes` bytes handed to the sink's writer, in order,
    /// computed while streaming. It is the digest of the file as the sink received it: before
    /// any encryption the sink itself applies. `None` when the writer was told not to digest
    /// ([`CsvFileWriter::without_digest`]).
    pub sha256: Option<[u8; 32]>,
    /// `rows` is below [`Limits::min_rows`]: LiveRamp does not process this file.
    pub below_minimum_rows: bool,
    /// What the sink's [`close`](PartSink::close) returned.
    pub output: O,
}

impl<O> PartSummary<O> {
    /// [`sha256`](Self::sha256) as 64 lower-case hexadecimal digits (as `sha256sum` prints),
    /// if it was computed.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }
}

/// What [`CsvFileWriter::finish`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSummary<O> {
    /// Every part, in order; at least one.
    pub parts: Vec<PartSummary<O>>,
    /// Data rows written, over all parts.
    pub rows: u64,
    /// Rows not written, in the order they came.
    pub rejections: Vec<Rejection>,
    /// The fingerprint of the header every part starts with.
    pub header_fingerprint: HeaderFingerprint,
    /// Some part has fewer rows than [`Limits::min_rows`]: LiveRamp will not process it; the
    /// connector decides whether to deliver.
    pub below_minimum_rows: bool,
}

/// The part being written.
struct OpenPart<W> {
    /// The name it was opened under.
    opened_as: FileName,
    writer: W,
    gzip: Option<GzEncoder<Vec<u8>>>,
    /// `None` when the writer does not digest (see [`CsvFileWriter::without_digest`]).
    hasher: Option<Sha256>,
    rows: u64,
    uncompressed_bytes: u64,
    written_bytes: u64,
}

impl<W: Write> OpenPart<W> {
    /// Hands `bytes` to the sink's writer, hashing and counting them.
    fn hand_to_sink(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        self.written_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Passes one chunk of CSV on: through gzip if compressing, then to the sink.
    fn push(&mut self, csv: &[u8]) -> io::Result<()> {
        match self.gzip.as_mut() {
            Some(gzip) => {
                gzip.write_all(csv)?;
                let compressed = std::mem::take(gzip.get_mut());
                let result = self.hand_to_sink(&compressed);
                let mut compressed = compressed;
                compressed.clear();
                if let Some(gzip) = self.gzip.as_mut() {
                    *gzip.get_mut() = compressed;
                }
                result
            }
            None => self.hand_to_sink(csv),
        }
    }

    /// Ends the gzip stream (if any) and flushes the writer.
    fn end(&mut self) -> io::Result<()> {
        if let Some(gzip) = self.gzip.take() {
            let tail = gzip.finish()?;
            self.hand_to_sink(&tail)?;
        }
        self.writer.flush()
    }
}

/// Writes one LiveRamp file (and its split parts) row by row into writers the caller's
/// [`PartSink`] provides, never holding the file in memory.
///
/// - Header first, then rows: `,`-delimited, `\n` line endings, UTF-8 without BOM, a field
///   quoted only when it contains `,` or `"` (embedded `"` doubled), each `\r`/`\n` inside a
///   field replaced with a space (LiveRamp forbids line breaks in fields). A lone empty field in
///   a one-column file is written `""` so the line is not empty.
/// - [`Limits`] enforced while writing: too-long lines become [`Rejection`]s; the file is split
///   into `_file-part-N` parts (each with the header) before it exceeds the byte or row limit;
///   small files are flagged [`below_minimum_rows`](FileSummary::below_minimum_rows).
/// - gzip when the name ends in `.gz` (streaming; a standard `.gz` `gzip -d` reads, with no
///   file name or time stamp in its header, so equal input gives equal bytes).
/// - Per part, the SHA-256 of the bytes handed to the sink, computed while streaming.
///
/// Dropping the writer without [`finish`](Self::finish) aborts the open part through
/// [`PartSink::abort`]. Parts already closed stay closed.
pub struct CsvFileWriter<P: PartSink> {
    sink: P,
    /// The file's name without a part number.
    base: FileName,
    options: WriterOptions,
    /// The line being written (reused).
    line: Vec<u8>,
    header_line: Vec<u8>,
    header_fields: usize,
    fingerprint: HeaderFingerprint,
    part: Option<OpenPart<P::Writer>>,
    part_number: u32,
    chunk: Vec<u8>,
    done: Vec<PartSummary<P::Output>>,
    rows: u64,
    rejections: Vec<Rejection>,
    /// Set after a sink error: the name of the part that failed.
    failed: Option<String>,
    /// Whether parts are digested ([`PartSummary::sha256`]).
    digest: bool,
}

impl<P: PartSink> CsvFileWriter<P> {
    /// Starts the file `name` with LiveRamp's limits: checks the header, opens the first part
    /// and writes the header. gzip iff `name` ends in `.gz`; `.gpg` is the sink's business.
    ///
    /// `name` may be given by value or by reference (`&FileName`).
    pub fn new<S: AsRef<str>>(name: impl Into<FileName>, header: &[S], sink: P) -> Result<Self> {
        Self::with_options(name, header, sink, WriterOptions::default())
    }

    /// Like [`new`](Self::new) with explicit options.
    ///
    /// The header must have at least one column; names must be non-empty, unique, without
    /// whitespace or control characters, and the header line within the limits.
    pub fn with_options<S: AsRef<str>>(
        name: impl Into<FileName>,
        header: &[S],
        sink: P,
        options: WriterOptions,
    ) -> Result<Self> {
        let base = name.into().without_part();
        // A split file's first part is `_file-part-1`: check that name now, before any data.
        base.with_part(1)?;
        validate_header(header)?;
        let limits = options.limits;
        if limits.max_rows == 0 {
            return Err(Error::InvalidLimits {
                reason: "max_rows is 0: no row could be written; use at least 1".to_owned(),
            });
        }
        if options.gzip_level > 9 {
            return Err(Error::InvalidLimits {
                reason: format!(
                    "gzip_level {} is out of range; use 0 (store) to 9 (smallest)",
                    options.gzip_level
                ),
            });
        }
        let mut encoder = LineEncoder::new();
        encoder.encode(header).map_err(|err| Error::InvalidHeader {
            reason: err.to_string(),
        })?;
        let header_line = encoder.line().clone();
        let header_chars = char_count(&header_line[..header_line.len() - 1]);
        if header_chars > limits.max_line_chars {
            return Err(Error::InvalidHeader {
                reason: format!(
                    "the header line has {header_chars} characters, more than max_line_chars \
                     ({})",
                    limits.max_line_chars
                ),
            });
        }
        if header_line.len() as u64 >= limits.max_file_bytes {
            return Err(Error::InvalidLimits {
                reason: format!(
                    "max_file_bytes ({}) leaves no room for a row after the {}-byte header; \
                     raise it",
                    limits.max_file_bytes,
                    header_line.len()
                ),
            });
        }
        let fingerprint = HeaderFingerprint::of_line(&header_line);
        let mut writer = Self {
            sink,
            base,
            options,
            line: Vec::with_capacity(1024),
            header_fields: header.len(),
            header_line,
            fingerprint,
            part: None,
            part_number: 0,
            chunk: Vec::with_capacity(CHUNK_BYTES + 16 * 1024),
            done: Vec::new(),
            rows: 0,
            rejections: Vec::new(),
            failed: None,
            digest: true,
        };
        writer.open_part()?;
        Ok(writer)
    }

    /// Writes one row, or rejects it (recorded with `member_key`) when it breaks a line limit.
    /// Splits the file first when the row would push the part past a limit.
    ///
    /// A row without exactly the header's number of fields is an [`Error::FieldCount`] and
    /// nothing is written; the writer stays usable. A sink error is an [`Error::Sink`]: the
    /// open part is aborted and the writer refuses further rows ([`Error::WriterFailed`]).
    pub fn write_row<S: AsRef<str>>(
        &mut self,
        member_key: &str,
        fields: &[S],
    ) -> Result<RowOutcome> {
        if let Some(part) = &self.failed {
            return Err(Error::WriterFailed { part: part.clone() });
        }
        if self.part.is_none() {
            // Only a failed writer has no open part; `failed` says which one.
            return Err(Error::WriterFailed {
                part: self.base.to_string(),
            });
        }
        if fields.len() != self.header_fields {
            return Err(Error::FieldCount {
                expected: self.header_fields,
                found: fields.len(),
                member_key: member_key.to_owned(),
            });
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        encode_line_into(fields, &mut line);
        let outcome = self.accept(member_key, &line);
        self.line = line;
        outcome
    }

    /// Writes one row encoded beforehand by a [`RowEncoder`] (for example on another thread),
    /// exactly as [`write_row`](Self::write_row) writes the same fields: same limits, same
    /// splitting, same bytes.
    ///
    /// `line` must be one line from [`RowEncoder::encode_into`] for a header of this file's
    /// width; a `line` that is not one line ending in `\n` is an [`Error::NotOneLine`] and
    /// nothing is written.
    pub fn write_encoded_row(&mut self, member_key: &str, line: &[u8]) -> Result<RowOutcome> {
        if let Some(part) = &self.failed {
            return Err(Error::WriterFailed { part: part.clone() });
        }
        if self.part.is_none() {
            return Err(Error::WriterFailed {
                part: self.base.to_string(),
            });
        }
        match line.split_last() {
            Some((b'\n', text)) if !has_line_break(text) => self.accept(member_key, line),
            _ => Err(Error::NotOneLine {
                member_key: member_key.to_owned(),
            }),
        }
    }

    /// The number of fields of this file's header (what each row must have).
    pub fn header_width(&self) -> usize {
        self.header_fields
    }

    /// Checks one encoded line against the limits, splits if needed, and buffers it.
    fn accept(&mut self, member_key: &str, line: &[u8]) -> Result<RowOutcome> {
        let limits = self.options.limits;
        let (bytes, chars) = {
            let text = &line[..line.len() - 1];
            // A line has at most as many characters as bytes: count only when it matters.
            let chars = if text.len() <= limits.max_line_chars {
                text.len()
            } else {
                char_count(text)
            };
            (line.len() as u64, chars)
        };
        let reason = if chars > limits.max_line_chars {
            Some(RejectReason::LineTooLong {
                chars,
                max: limits.max_line_chars,
            })
        } else if self.header_line.len() as u64 + bytes > limits.max_file_bytes {
            Some(RejectReason::LineTooLargeForFile {
                bytes,
                max_file_bytes: limits.max_file_bytes,
            })
        } else {
            None
        };
        if let Some(reason) = reason {
            self.rejections.push(Rejection {
                member_key: member_key.to_owned(),
                reason,
            });
            return Ok(RowOutcome::Rejected(reason));
        }
        let must_split = self.part.as_ref().is_some_and(|part| {
            part.rows >= limits.max_rows || part.uncompressed_bytes + bytes > limits.max_file_bytes
        });
        if must_split {
            self.close_part(true)?;
            self.open_part()?;
        }
        self.chunk.extend_from_slice(line);
        if let Some(part) = self.part.as_mut() {
            part.rows += 1;
            part.uncompressed_bytes += bytes;
        }
        self.rows += 1;
        if self.chunk.len() >= CHUNK_BYTES {
            self.push_chunk()?;
        }
        Ok(RowOutcome::Written)
    }

    /// Closes the last part and reports every part. A file with no rows is still one part
    /// with the header (and `below_minimum_rows`).
    pub fn finish(mut self) -> Result<FileSummary<P::Output>> {
        if let Some(part) = &self.failed {
            return Err(Error::WriterFailed { part: part.clone() });
        }
        self.close_part(self.part_number > 1)?;
        let parts = std::mem::take(&mut self.done);
        Ok(FileSummary {
            below_minimum_rows: parts.iter().any(|part| part.below_minimum_rows),
            parts,
            rows: self.rows,
            rejections: std::mem::take(&mut self.rejections),
            header_fingerprint: self.fingerprint,
        })
    }

    /// Discards the open part through [`PartSink::abort`] (parts already closed stay) and
    /// returns the summaries of the closed ones.
    pub fn abort(mut self) -> Vec<PartSummary<P::Output>> {
        self.abort_open_part();
        std::mem::take(&mut self.done)
    }

    /// The fingerprint of this file's header.
    pub fn header_fingerprint(&self) -> HeaderFingerprint {
        self.fingerprint
    }

    /// Data rows written so far, over all parts.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Rows rejected so far.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }

    /// The name of the part being written, as it was opened (see [`PartSink`] on names).
    pub fn current_name(&self) -> FileName {
        match &self.part {
            Some(part) => part.opened_as.clone(),
            None => self.base.clone(),
        }
    }

    /// Stops computing each part's SHA-256, for a sink that hashes what it stores itself
    /// (an encrypting sink's file is not the CSV anyway): the bytes handed to the sink are the
    /// same, only [`PartSummary::sha256`] is then `None`. Call it right after
    /// [`new`](Self::new) or [`with_options`](Self::with_options).
    ///
    /// ```
    /// use liveramp_file_format::{CsvFileWriter, FileName, MemorySink};
    /// let name: FileName = "3242_17095-D_2026-11-28.csv".parse()?;
    /// let mut writer = CsvFileWriter::new(&name, &["DEVICE_ID", "ID_TYPE"], MemorySink)?
    ///     .without_digest();
    /// writer.write_row("m1", &["6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA"])?;
    /// let summary = writer.finish()?;
    /// assert_eq!(summary.parts[0].sha256, None);
    ///
    /// // The same file with the digest: the same bytes.
    /// let mut writer = CsvFileWriter::new(&name, &["DEVICE_ID", "ID_TYPE"], MemorySink)?;
    /// writer.write_row("m1", &["6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA"])?;
    /// let digested = writer.finish()?;
    /// assert_eq!(digested.parts[0].output, summary.parts[0].output);
    /// assert!(digested.parts[0].sha256.is_some());
    /// # Ok::<(), liveramp_file_format::Error>(())
    /// ```
    #[must_use]
    pub fn without_digest(mut self) -> Self {
        self.digest = false;
        if let Some(part) = &mut self.part {
            part.hasher = None;
        }
        self
    }

    /// The options in force.
    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    fn fail(&mut self, action: &'static str, name: &FileName, source: io::Error) -> Error {
        self.failed = Some(name.to_string());
        self.abort_open_part();
        Error::Sink {
            action,
            part: name.to_string(),
            source,
        }
    }

    fn abort_open_part(&mut self) {
        self.chunk.clear();
        if let Some(part) = self.part.take() {
            self.sink.abort(part.writer, &part.opened_as);
        }
    }

    fn open_part(&mut self) -> Result<()> {
        let number = self.part_number + 1;
        let name = if number == 1 {
            Ok(self.base.clone())
        } else {
            self.base.with_part(number)
        };
        let name = match name {
            Ok(name) => name,
            Err(err) => {
                self.failed = Some(self.base.to_string());
                return Err(err);
            }
        };
        let writer = match self.sink.open(&name) {
            Ok(writer) => writer,
            Err(source) => {
                self.failed = Some(name.to_string());
                return Err(Error::Sink {
                    action: "open",
                    part: name.to_string(),
                    source,
                });
            }
        };
        let gzip = (self.base.compression() == Compression::Gzip).then(|| {
            GzEncoder::new(
                Vec::with_capacity(CHUNK_BYTES),
                flate2::Compression::new(self.options.gzip_level),
            )
        });
        self.part_number = number;
        self.part = Some(OpenPart {
            opened_as: name,
            writer,
            gzip,
            hasher: self.digest.then(Sha256::new),
            rows: 0,
            uncompressed_bytes: self.header_line.len() as u64,
            written_bytes: 0,
        });
        self.chunk.clear();
        self.chunk.extend_from_slice(&self.header_line);
        Ok(())
    }

    fn push_chunk(&mut self) -> Result<()> {
        let Some(part) = self.part.as_mut() else {
            return Ok(());
        };
        if let Err(source) = part.push(&self.chunk) {
            let name = part.opened_as.clone();
            return Err(self.fail("write", &name, source));
        }
        self.chunk.clear();
        Ok(())
    }

    /// Closes the open part; `split` names it `_file-part-N`.
    fn close_part(&mut self, split: bool) -> Result<()> {
        let name = if split {
            self.base.with_part(self.part_number)
        } else {
            Ok(self.current_name())
        };
        let name = match name {
            Ok(name) => name,
            Err(err) => {
                self.failed = Some(self.current_name().to_string());
                self.abort_open_part();
                return Err(err);
            }
        };
        self.push_chunk()?;
        let Some(mut part) = self.part.take() else {
            return Ok(());
        };
        if let Err(source) = part.end() {
            let name = part.opened_as.clone();
            self.part = Some(part);
            return Err(self.fail("flush", &name, source));
        }
        let output = match self.sink.close(part.writer, &name) {
            Ok(output) => output,
            Err(source) => {
                self.failed = Some(name.to_string());
                return Err(Error::Sink {
                    action: "close",
                    part: name.to_string(),
                    source,
                });
            }
        };
        self.done.push(PartSummary {
            name,
            rows: part.rows,
            uncompressed_bytes: part.uncompressed_bytes,
            written_bytes: part.written_bytes,
            sha256: part.hasher.map(|h| h.finalize().into()),
            below_minimum_rows: part.rows < self.options.limits.min_rows,
            output,
        });
        Ok(())
    }
}

impl<P: PartSink> std::fmt::Debug for CsvFileWriter<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvFileWriter")
            .field("name", &self.base.as_str())
            .field("header_fingerprint", &self.fingerprint)
            .field("part", &self.part_number)
            .field("rows", &self.rows)
            .field("rejections", &self.rejections.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<P: PartSink> Drop for CsvFileWriter<P> {
    fn drop(&mut self) {
        self.abort_open_part();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::DataType;
    use crate::sink::{DirectorySink, MemorySink};

    fn assert_send<T: Send>() {}

    #[test]
    fn writers_can_move_to_another_thread() {
        assert_send::<CsvFileWriter<MemorySink>>();
        assert_send::<CsvFileWriter<DirectorySink>>();
        assert_send::<FileSummary<Vec<u8>>>();
    }

    #[test]
    fn debug_shows_progress() {
        let date = chrono::NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
        let name = FileName::new("3242", "17095", DataType::Device, date).unwrap();
        let mut writer = CsvFileWriter::new(name, &["DEVICE_ID"], MemorySink).unwrap();
        let _ = writer.write_row("k", &["x"]).unwrap();
        let debug = format!("{writer:?}");
        assert!(debug.contains("3242_17095-D_2020-04-01.csv"), "{debug}");
        assert!(debug.contains("rows: 1"), "{debug}");
    }
}
