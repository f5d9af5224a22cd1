//! LiveRamp CSV files: streamed writing, file naming, limits, splitting, gzip and header
//! fingerprints.
//!
//! This crate turns rows (from `liveramp-identity-mapping`, or anything else: a row is a slice
//! of string fields plus a member key for reports) into the files LiveRamp ingests, one row at
//! a time into any [`std::io::Write`], without ever holding a file in memory. The rules come from
//! LiveRamp's documentation and the mParticle integration this project implements.
//!
//! # Names
//!
//! [`FileName`] builds and checks names: `{org_id}_{audience_id}-D_{YYYY-MM-DD}.csv` for device
//! IDs, `{org_id}_{audience_id}-PII_{YYYY-MM-DD}.csv` for PII; `_file-part-N` before `.csv` for
//! the parts of a split file; `.gz` and `.gpg` appended to the full inner name. Every name is
//! checked against LiveRamp's rules (ASCII, at most 250 characters, no spaces, none of
//! `! @ # $ % [ ] : { } ? * \`, not starting with `.` or `_`); an ID that would break them is an
//! [`Error::InvalidIdCharacter`] naming the character, before any data is written.
//! [`segment_name`] gives the segment LiveRamp shows (`High-value customers-D`).
//!
//! # Writing
//!
//! [`CsvFileWriter`] writes the header, then each row: `,`-delimited, `\n` line endings, UTF-8
//! without BOM, a field quoted only when it contains `,` or `"` (embedded `"` doubled), each
//! `\r` or `\n` inside a field replaced with a space. It enforces [`Limits`] as it goes:
//!
//! - a line over 10,000 characters is not written but recorded as a [`Rejection`] with its
//!   member key ([`RowOutcome::Rejected`]);
//! - before a part would exceed 50 GB of CSV or 500,000,000 rows it is closed and the next part
//!   opened, each with the header, through the caller's [`PartSink`];
//! - a part with fewer than 25 rows is written and flagged
//!   [`below_minimum_rows`](PartSummary::below_minimum_rows) (LiveRamp ignores such files);
//! - a row with the wrong number of fields is an [`Error::FieldCount`], not a panic.
//!
//! A name ending in `.gz` makes the writer gzip each part (a standard stream `gzip -d` reads).
//! [`finish`](CsvFileWriter::finish) reports per part: name, rows, CSV bytes, bytes written, and
//! the SHA-256 of exactly the bytes handed to the sink's writer (the gzip stream when
//! compressing), computed while streaming.
//!
//! ```
//! use chrono::NaiveDate;
//! use liveramp_file_format::{CsvFileWriter, DataType, FileName, MemorySink, RowOutcome};
//!
//! let date = NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
//! let name = FileName::new("3242", "17095", DataType::Pii, date)?;
//! let mut writer = CsvFileWriter::new(&name, &["FIRSTNAME", "ADDRESS1", "EMAIL1"], MemorySink)?;
//! let outcome = writer.write_row("member-1", &["Zoë", "12 Main St, Apt 4", "zoe@example.com"])?;
//! assert_eq!(outcome, RowOutcome::Written);
//! let _ = writer.write_row("member-2", &["Say \"Hi\"", "1 Loop\nBuilding 2", ""])?;
//! let summary = writer.finish()?;
//!
//! let part = &summary.parts[0];
//! assert_eq!(part.name.as_str(), "3242_17095-PII_2020-04-01.csv");
//! assert_eq!(
//!     String::from_utf8(part.output.clone()).unwrap(),
//!     "FIRSTNAME,ADDRESS1,EMAIL1\n\
//!      Zoë,\"12 Main St, Apt 4\",zoe@example.com\n\
//!      \"Say \"\"Hi\"\"\",1 Loop Building 2,\n"
//! );
//! assert_eq!(part.rows, 2);
//! assert!(summary.below_minimum_rows); // fewer than 25 rows: LiveRamp would not process it
//! # Ok::<(), liveramp_file_format::Error>(())
//! ```
//!
//! # Composing each part's output
//!
//! The writer owns only the CSV and gzip layers. Everything after is the [`PartSink`]'s: its
//! `Writer` can be a stack (e.g. OpenPGP encryption into an SFTP upload), and its `close`
//! finishes the stack in order and returns a per-part result. Write under a temporary name and
//! publish under the name `close` receives: a file's first part is renamed `_file-part-1` if
//! the file turns out to need splitting.
//!
//! ```
//! use std::io::{self, Write};
//! use liveramp_file_format::{Compression, CsvFileWriter, DataType, FileName, PartSink};
//!
//! /// Stand-in for an encrypting writer with `finish(self) -> Result<W>`.
//! struct Encrypting<W: Write>(W);
//! impl<W: Write> Write for Encrypting<W> {
//!     fn write(&mut self, buf: &[u8]) -> io::Result<usize> { self.0.write(buf) }
//!     fn flush(&mut self) -> io::Result<()> { self.0.flush() }
//! }
//! impl<W: Write> Encrypting<W> {
//!     fn finish(self) -> io::Result<W> { Ok(self.0) }
//! }
//!
//! /// gzip (by the writer) -> encrypt -> "upload" (here: a Vec), per part.
//! struct EncryptThenUpload { uploaded: Vec<(String, usize)> }
//! impl PartSink for EncryptThenUpload {
//!     type Writer = Encrypting<Vec<u8>>;
//!     type Output = usize;
//!     fn open(&mut self, _name: &FileName) -> io::Result<Self::Writer> {
//!         Ok(Encrypting(Vec::new())) // e.g. open `{name}.partial` on the server
//!     }
//!     fn close(&mut self, writer: Self::Writer, name: &FileName) -> io::Result<usize> {
//!         let upload = writer.finish()?; // errors of other types: io::Error::other(e)
//!         self.uploaded.push((name.to_string(), upload.len())); // e.g. rename to `name`
//!         Ok(upload.len())
//!     }
//! }
//!
//! let date = chrono::NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
//! let name = FileName::new("3242", "17095", DataType::Device, date)?
//!     .with_compression(Compression::Gzip)?
//!     .with_encryption(true)?;
//! let mut sink = EncryptThenUpload { uploaded: Vec::new() };
//! let mut writer = CsvFileWriter::new(&name, &["DEVICE_ID"], &mut sink)?;
//! let _ = writer.write_row("m-1", &["AEBE52E7-03EE-455A-B3C4-E57283966239"])?;
//! let summary = writer.finish()?;
//! assert_eq!(sink.uploaded[0].0, "3242_17095-D_2020-04-01.csv.gz.gpg");
//! // The digest covers the gzip bytes the sink received, before its own encryption.
//! assert_eq!(summary.parts[0].sha256_hex().map(|h| h.len()), Some(64));
//! # Ok::<(), liveramp_file_format::Error>(())
//! ```
//!
//! # Header stability
//!
//! LiveRamp pauses every file whose header differs from the audience's first file.
//! [`HeaderFingerprint`] is the SHA-256 of the header line as written (`head -n 1 | sha256sum`
//! reproduces it); [`HeaderFingerprint::check_unchanged`] refuses a changed header with an
//! [`Error::HeaderChanged`] unless the operator accepts the change.
//!
//! # Errors and rejections
//!
//! Bad rows are never dropped silently: a row is written, or it is a counted [`Rejection`]
//! with its member key, or (wrong field count) a typed [`Error`]. A sink failure is an
//! [`Error::Sink`]; the open part is then aborted through [`PartSink::abort`] and the writer
//! refuses further rows. Nothing here panics on input.
#![deny(missing_docs)]
// "LiveRamp", "OpenPGP", "SHA-256" are prose here, not code.
#![allow(clippy::doc_markdown)]

mod encode;
mod error;
mod fingerprint;
mod name;
mod sink;
mod writer;

pub use error::{Error, IdField, Result};
pub use fingerprint::{HeaderCheck, HeaderFingerprint};
pub use name::{
    Compression, DataType, FORBIDDEN_NAME_CHARS, FileName, MAX_NAME_CHARS, segment_name,
};
pub use sink::{DirectoryPart, DirectorySink, MemorySink, PartSink};
pub use writer::{
    CsvFileWriter, FileSummary, Limits, PartSummary, RejectReason, Rejection, RowEncoder,
    RowOutcome, WriterOptions,
};
