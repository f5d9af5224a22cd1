//! The crate's one error type.

use std::fmt;
use std::io;

/// Which identifier of a [`FileName`](crate::FileName) an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdField {
    /// The organisation ID (`{org_id}` in `{org_id}_{audience_id}-D_{date}.csv`).
    OrgId,
    /// The audience ID (`{audience_id}` in `{org_id}_{audience_id}-D_{date}.csv`).
    AudienceId,
}

impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdField::OrgId => "org ID",
            IdField::AudienceId => "audience ID",
        })
    }
}

/// Everything that can go wrong while naming or writing a LiveRamp file.
///
/// Bad rows are not errors: a line that breaks LiveRamp's length limit is a counted
/// [`Rejection`](crate::Rejection). Errors are configuration mistakes, programming errors (a row
/// with the wrong number of fields) and failures of the caller's sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An org or audience ID contains a character LiveRamp forbids in file names.
    #[error(
        "the {field} {value:?} contains {character:?} ({code}), which breaks LiveRamp's file-name \
         rule: {rule}; use an ID without it"
    )]
    InvalidIdCharacter {
        /// Which ID.
        field: IdField,
        /// The ID as given.
        value: String,
        /// The offending character.
        character: char,
        /// The character's code point, `U+XXXX`.
        code: String,
        /// The rule it breaks.
        rule: &'static str,
    },

    /// An org or audience ID is empty.
    #[error("the {field} is empty; LiveRamp file names need a non-empty {field}")]
    EmptyId {
        /// Which ID.
        field: IdField,
    },

    /// The file name would exceed LiveRamp's 250-character limit.
    #[error(
        "the file name {name:?} is {len} characters long but LiveRamp allows at most {max}; \
         shorten the org or audience ID"
    )]
    NameTooLong {
        /// The name that is too long.
        name: String,
        /// Its length in characters.
        len: usize,
        /// The limit (250).
        max: usize,
    },

    /// The run date cannot be written as `YYYY-MM-DD`.
    #[error(
        "the run date's year {year} is not a four-digit year; use a date between 0000 and 9999"
    )]
    InvalidRunDate {
        /// The year given.
        year: i32,
    },

    /// Part numbers start at 1.
    #[error("file part number {part} is invalid: parts are numbered from 1")]
    InvalidPartNumber {
        /// The part number given.
        part: u32,
    },

    /// A string is not a file name this crate produces.
    #[error(
        "{name:?} is not a LiveRamp file name of the form {{org}}_{{audience}}-D|PII_{{YYYY-MM-DD}}[_file-part-N].csv[.gz][.gpg]: {reason}"
    )]
    UnrecognisedFileName {
        /// The string given.
        name: String,
        /// What does not match.
        reason: &'static str,
    },

    /// A string is not a [`DataType`](crate::DataType) name (`device` or `pii`).
    #[error("unknown data type {name:?}: use \"device\" or \"pii\"")]
    UnknownDataType {
        /// The string given.
        name: String,
    },

    /// The header row is not usable.
    #[error("invalid header row: {reason}; fix the column names")]
    InvalidHeader {
        /// What is wrong with it.
        reason: String,
    },

    /// A row does not have the header's number of fields (a programming error in the caller).
    #[error(
        "the row for member {member_key:?} has {found} fields but the header has {expected}; \
         every row must have exactly one value per header column (use empty strings for \
         missing values)"
    )]
    FieldCount {
        /// The header's field count.
        expected: usize,
        /// The row's field count.
        found: usize,
        /// The member the row belongs to.
        member_key: String,
    },

    /// A pre-encoded row given to `CsvFileWriter::write_encoded_row` is not exactly one line
    /// ending in `\n` (a programming error in the caller).
    #[error(
        "the encoded row for member {member_key:?} is not one line ending in \\n; encode each \
         row with RowEncoder::encode_into and pass one line at a time"
    )]
    NotOneLine {
        /// The member the row belongs to.
        member_key: String,
    },

    /// A limit is configured so that no file could be written.
    #[error("invalid limits: {reason}")]
    InvalidLimits {
        /// What is wrong.
        reason: String,
    },

    /// The header differs from the one last delivered for this audience and data type.
    #[error(
        "the header of this file (fingerprint {current}) differs from the header last delivered \
         for this audience and data type (fingerprint {previous}); LiveRamp pauses such files \
         until someone re-maps them by hand. Restore the previous columns, or accept the header \
         change explicitly if the new columns are intended"
    )]
    HeaderChanged {
        /// Hex fingerprint of the header last delivered.
        previous: String,
        /// Hex fingerprint of this file's header.
        current: String,
    },

    /// A header fingerprint string is not 64 hexadecimal digits.
    #[error("{value:?} is not a header fingerprint: expected 64 hexadecimal digits")]
    InvalidFingerprint {
        /// The string given.
        value: String,
    },

    /// The caller's sink failed to open, write or close a part.
    #[error(
        "could not {action} part {part:?}: {source}; the unfinished part was discarded: fix the \
         destination, then write the file again"
    )]
    Sink {
        /// `"open"`, `"write"`, `"flush"` or `"close"`.
        action: &'static str,
        /// The part's file name.
        part: String,
        /// The sink's error.
        #[source]
        source: io::Error,
    },

    /// An earlier sink error left the writer unusable.
    #[error(
        "the writer stopped after an earlier error writing part {part:?}; the open part was \
         discarded: start the file again"
    )]
    WriterFailed {
        /// The part that failed.
        part: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
