//! The one error type of this crate.

use std::fmt;

/// Why a message could not be read.
///
/// Every variant names where the problem is: [`Error::path`] is the JSON path of the value
/// (`user_profiles[3].audiences[0].action`, empty for the whole message), [`Error::message`]
/// says what is wrong with it, and [`Error::line`] / [`Error::column`] point into the bytes
/// (1-based; 0 when not known). `Display` is `"{path}: {message}"`, or the message alone when
/// the path is empty.
///
/// **No error ever contains a value of the message**: not an identity, an attribute, an mpid,
/// a name nor a setting. Only enumerated keywords (a bad `action`, `type`, ...) are quoted,
/// and only when they look like keywords (an ASCII letter, then at most 63 ASCII letters,
/// digits, `_`, `-` or `.`); anything else is written `(value withheld)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not one JSON value: truncated, not UTF-8, a syntax error, or something
    /// after the value.
    #[error("{}invalid JSON: {problem} at line {line} column {column}", prefix(.path))]
    Syntax {
        /// Where the reader was, as far as it got (often empty).
        path: String,
        /// What the JSON reader found wrong, such as `EOF while parsing an object`.
        problem: String,
        /// The 1-based line of the problem.
        line: usize,
        /// The 1-based column of the problem.
        column: usize,
    },
    /// The `type` names no message this crate reads (the HTTP answer is `400`), such as
    /// `event_processing_request` or a response type.
    #[error(
        "type: {} is not module_registration_request, audience_subscription_request, \
         audience_membership_change_request or dsr_processing_request",
        Shown(.type_name.as_deref())
    )]
    UnknownType {
        /// The type as given, if it looks like a keyword (`None`: withheld).
        type_name: Option<String>,
        /// The 1-based line of the `type` value.
        line: usize,
        /// The 1-based column just after the `type` value.
        column: usize,
    },
    /// A field the protocol requires (`id`, `timestamp_ms`, `type`, `audience_id`, `action`,
    /// ...) is absent.
    #[error("{}required field is missing", prefix(.path))]
    MissingField {
        /// The path of the missing field, such as `user_profiles[0].audiences[2].audience_id`.
        path: String,
        /// The 1-based line of the end of the object that lacks it.
        line: usize,
        /// The 1-based column just after the object that lacks it.
        column: usize,
    },
    /// A field appears twice in one object.
    #[error("{}field appears more than once", prefix(.path))]
    DuplicateField {
        /// The path of the repeated field.
        path: String,
        /// The 1-based line of its second occurrence.
        line: usize,
        /// The 1-based column of its second occurrence.
        column: usize,
    },
    /// An enumerated field (an `action`, `subject_request_type`, `regulation`) holds a keyword
    /// that is not one of its values.
    #[error("{}{} is not {expected}", prefix(.path), Shown(.value.as_deref()))]
    UnknownKeyword {
        /// The path of the field, such as `user_profiles[3].audiences[0].action`.
        path: String,
        /// The keyword as given, if it looks like a keyword (`None`: withheld).
        value: Option<String>,
        /// The values it may take, such as `add, delete or attribute_update`.
        expected: &'static str,
        /// The 1-based line of the value.
        line: usize,
        /// The 1-based column just after the value.
        column: usize,
    },
    /// A value of the wrong JSON type or out of range, such as a string where an integer
    /// belongs (`invalid type: string (value withheld), expected a non-negative integer`).
    #[error("{}{problem}", prefix(.path))]
    InvalidValue {
        /// The path of the value.
        path: String,
        /// What is wrong with it; never the value itself.
        problem: String,
        /// The 1-based line of the value.
        line: usize,
        /// The 1-based column just after the value.
        column: usize,
    },
}

impl Error {
    /// The JSON path of the value at fault, such as `user_profiles[3].audiences[0].action`,
    /// `account.account_settings["Example Setting"]`, or `""` for the whole message.
    ///
    /// Object keys are joined with `.`; a key that is not an identifier (ASCII letters,
    /// digits, `_`, `$`, not starting with a digit) is written `["key"]` (JSON-escaped);
    /// array elements are `[i]`, 0-based.
    pub fn path(&self) -> &str {
        match self {
            Error::UnknownType { .. } => "type",
            Error::Syntax { path, .. }
            | Error::MissingField { path, .. }
            | Error::DuplicateField { path, .. }
            | Error::UnknownKeyword { path, .. }
            | Error::InvalidValue { path, .. } => path,
        }
    }

    /// What is wrong, without the path: the `Display` text after `"{path}: "`.
    ///
    /// An HTTP server can answer `{"error": err.message(), "path": err.path()}`.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let path = self.path();
        match text
            .strip_prefix(path)
            .and_then(|rest| rest.strip_prefix(": "))
        {
            Some(rest) if !path.is_empty() => rest.to_owned(),
            _ => text,
        }
    }

    /// The 1-based line of the problem in the message's bytes (0 if not known).
    pub fn line(&self) -> usize {
        match self {
            Error::Syntax { line, .. }
            | Error::UnknownType { line, .. }
            | Error::MissingField { line, .. }
            | Error::DuplicateField { line, .. }
            | Error::UnknownKeyword { line, .. }
            | Error::InvalidValue { line, .. } => *line,
        }
    }

    /// The 1-based column of the problem in its line (0 if not known).
    pub fn column(&self) -> usize {
        match self {
            Error::Syntax { column, .. }
            | Error::UnknownType { column, .. }
            | Error::MissingField { column, .. }
            | Error::DuplicateField { column, .. }
            | Error::UnknownKeyword { column, .. }
            | Error::InvalidValue { column, .. } => *column,
        }
    }
}

/// `"{path}: "`, or nothing for the root.
fn prefix(path: &str) -> Prefix<'_> {
    Prefix(path)
}

struct Prefix<'a>(&'a str);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

/// A keyword in quotes, or `(value withheld)`.
struct Shown<'a>(Option<&'a str>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(keyword) => write!(f, "\"{keyword}\""),
            None => f.write_str("(value withheld)"),
        }
    }
}

/// The value if it looks like a protocol keyword, so an error may quote it; `None` otherwise.
///
/// A keyword starts with an ASCII letter and has at most 64 ASCII letters, digits, `_`, `-`
/// or `.`: `remove`, `attribute-update`, `event_processing_request`. An email, a phone
/// number with spaces or a long token does not, so it is never echoed.
pub(crate) fn keyword_shown(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let looks_like_keyword = bytes.len() <= 64
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    looks_like_keyword.then(|| value.to_owned())
}
