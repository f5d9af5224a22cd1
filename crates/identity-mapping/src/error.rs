//! Errors, warnings and rejections.

use std::fmt;

use liveramp_pii_normalize::HashAlgorithm;

/// What went wrong: a line that is not a profile, or a mapping configuration that cannot work.
///
/// The messages say what is wrong and what to fix; they never contain PII values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line is not a valid mParticle profile (not JSON, not an object, a field of the wrong
    /// type, ...). Count it and go on with the next line.
    #[error(
        "not a valid mParticle profile: {problem} (at column {column}); each line must be one \
         JSON object with optional `mpid`, `user_identities`, `device_identities`, \
         `user_attributes` and `calculated_attributes`"
    )]
    InvalidProfile {
        /// What is wrong, as the JSON reader saw it.
        problem: String,
        /// The 1-based column of the line where the problem was found (0 if not known).
        column: usize,
    },
    /// A `send_pii` token is neither a built-in column nor the header of a custom column.
    ///
    /// The message lists every built-in token, in the order of the crate's column tables.
    #[error(
        "unknown PII column {token:?}: use {tokens} or the header of a custom column",
        tokens = crate::columns::BuiltinTokens
    )]
    UnknownColumn {
        /// The token as given.
        token: String,
    },
    /// A header LiveRamp would not accept.
    #[error(
        "invalid header {header:?}: {reason}; headers use upper-case letters A-Z, digits, `_` \
         and `-`, at most 128 characters"
    )]
    InvalidHeader {
        /// The header as given.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two columns of one file would have the same header.
    #[error(
        "header {header} appears twice in the {file} file: remove the repeated column token or \
         rename the custom column (with hash_emails_and_phones on, EMAIL and PHONE already \
         expand to their hash columns)"
    )]
    DuplicateHeader {
        /// The repeated header.
        header: String,
        /// `PII` or `device`.
        file: &'static str,
    },
    /// A setting has a value the mapping cannot work with.
    #[error("invalid setting `{setting}`: {problem}")]
    InvalidConfig {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// Something in a configuration that works but that LiveRamp may not accept or that will match
/// poorly. [`Mapper::warnings`](crate::Mapper::warnings) lists them; the connector reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// A phone hash column other than SHA-1: LiveRamp accepts only SHA-1 for hashed phones.
    PhoneHashNotSha1 {
        /// The algorithm of the column.
        algorithm: HashAlgorithm,
    },
    /// PII is sent but no column can identify a member (no email or phone column, and not
    /// `FIRSTNAME`, `LASTNAME`, `ADDRESS1` with `ZIP` or `CITY` and `STATE`): every member will
    /// be rejected with `pii.no_matchable_identifier`.
    NoMatchableColumns,
}

impl Warning {
    /// A stable short code, such as `config.phone_hash_not_sha1`.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::PhoneHashNotSha1 { .. } => "config.phone_hash_not_sha1",
            Warning::NoMatchableColumns => "config.no_matchable_columns",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::PhoneHashNotSha1 { algorithm } => write!(
                f,
                "phone hash columns use {algorithm}, but LiveRamp accepts only SHA-1 for hashed \
                 phones: those columns will probably not match (set phone_hashes to [\"sha1\"])"
            ),
            Warning::NoMatchableColumns => f.write_str(
                "the PII columns cannot identify anyone (no email or phone column, and not \
                 FIRSTNAME, LASTNAME, ADDRESS1 with ZIP or CITY and STATE): every member will be \
                 rejected; add EMAIL or PHONE",
            ),
        }
    }
}

/// A value the mapping did not send, and why. Rejections are counted, never fatal.
///
/// All parts are static strings, so recording a rejection never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rejection {
    /// The stable reason code: a [`Rejected::code`](liveramp_pii_normalize::Rejected::code) of
    /// `pii-normalize` (such as `phone.invalid`) or one of this crate's codes (see the crate
    /// documentation), such as `pii.no_matchable_identifier`.
    pub code: &'static str,
    /// Where the value came from: `user_identities.<type>`, `device_identities.<type>`,
    /// `user_attributes.<name>` for the built-in sources, or `profile` for the whole member.
    pub field: &'static str,
    /// The column (family) the value would have fed: `FIRSTNAME`, `LASTNAME`, `ADDRESS1`,
    /// `CITY`, `STATE`, `ZIP`, `COUNTRY`, `EMAIL`, `PHONE` or `DEVICE_ID`; `None` for the
    /// whole PII row.
    pub column: Option<&'static str>,
}

impl Rejection {
    /// The stable reason code (the same as the `code` field), such as `phone.invalid`.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "{} ({} -> {column})", self.code, self.field),
            None => write!(f, "{} ({})", self.code, self.field),
        }
    }
}
