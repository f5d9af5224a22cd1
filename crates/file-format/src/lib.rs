//! LiveRamp CSV files: streamed writing, file naming, limits, splitting, gzip and header
//! fingerprints.
//!
//! (Crate docs: see below.)
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
    CsvFileWriter, FileSummary, Limits, PartSummary, RejectReason, Rejection, RowOutcome,
    WriterOptions,
};
