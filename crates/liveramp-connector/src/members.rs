//! Malformed members and failing sources: what an `Err` from a member source means.

use std::fmt;

/// A member line that is not a valid profile, or the member file failing to be read, with
/// its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberError {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
    /// `true` when the file itself could not be read any further (an I/O error), rather than
    /// one line being malformed: the delivery then stops instead of publishing a truncated
    /// audience.
    pub source_failed: bool,
}

impl MemberError {
    /// A malformed member at `line`: counted and reported, the rest is delivered.
    pub fn malformed(line: u64, message: impl Into<String>) -> Self {
        MemberError {
            line,
            message: message.into(),
            source_failed: false,
        }
    }
}

/// What an `Err` item of a member source means to a delivery.
///
/// Most errors are one malformed member: counted, reported by position, and the delivery of
/// the rest goes on. An error for which [`is_source_failure`](Self::is_source_failure) is
/// `true` means the source itself failed (a read error, a lost database cursor): the members
/// after it are unknown, so the delivery stops with [`Error::MemberSource`](crate::Error)
/// and publishes nothing, rather than sending LiveRamp a truncated audience.
pub trait MemberFault: fmt::Display {
    /// Whether the source failed as a whole (default: no, one member is malformed).
    fn is_source_failure(&self) -> bool {
        false
    }
}

impl MemberFault for MemberError {
    fn is_source_failure(&self) -> bool {
        self.source_failed
    }
}

impl MemberFault for String {}
impl MemberFault for &str {}
impl MemberFault for liveramp_identity_mapping::Error {}
impl MemberFault for serde_json::Error {}

/// An I/O error is the source failing.
impl MemberFault for std::io::Error {
    fn is_source_failure(&self) -> bool {
        true
    }
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for MemberError {}
