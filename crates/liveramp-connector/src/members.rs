//! Reading members from an NDJSON file: one mParticle profile JSON per line.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use liveramp_identity_mapping::Profile;

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

/// Reads profiles from NDJSON, one item per line (so an item's position is its line number):
/// a valid profile, or a [`MemberError`] for a line that is not one (an empty line included).
/// A read error of the underlying source ends the iteration with one last error item whose
/// `source_failed` is set, so a delivery stops instead of publishing a truncated audience.
pub struct NdjsonMembers<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl NdjsonMembers<BufReader<File>> {
    /// Opens a member file.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let file = File::open(path)?;
        Ok(Self::new(BufReader::with_capacity(256 * 1024, file)))
    }
}

impl<R: BufRead> NdjsonMembers<R> {
    /// Reads profiles from `reader`.
    pub fn new(reader: R) -> Self {
        NdjsonMembers {
            reader,
            line: 0,
            buf: Vec::with_capacity(1024),
            done: false,
        }
    }
}

impl<T: Read> NdjsonMembers<BufReader<T>> {
    /// Reads profiles from any reader (buffered here).
    pub fn from_reader(reader: T) -> Self {
        NdjsonMembers::new(BufReader::with_capacity(256 * 1024, reader))
    }
}

impl<R: BufRead> Iterator for NdjsonMembers<R> {
    type Item = Result<Profile, MemberError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) => {
                self.line += 1;
                let mut line = self.buf.as_slice();
                while let [rest @ .., b'\n' | b'\r'] = line {
                    line = rest;
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Some(Err(MemberError::malformed(
                        self.line,
                        "empty line: each line must be one profile JSON object",
                    )));
                }
                Some(
                    Profile::from_json_slice(line)
                        .map_err(|e| MemberError::malformed(self.line, e.to_string())),
                )
            }
            Err(e) => {
                self.done = true;
                Some(Err(MemberError {
                    line: self.line + 1,
                    message: format!("could not read the member file: {e}"),
                    source_failed: true,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_member_messages_withhold_the_values_they_quote() {
        let lines = [
            (
                r#"{"user_identities": "jane.doe@example.com"}"#,
                "line 1: not a valid mParticle profile: invalid type: string (value withheld), \
                 expected a sequence (at column 42)",
            ),
            (
                r#"{"user_identities": 5551234567}"#,
                "line 2: not a valid mParticle profile: invalid type: integer (value withheld), \
                 expected a sequence (at column 30)",
            ),
            (
                r#"{"mpid": [1]}"#,
                "line 3: not a valid mParticle profile: invalid type: sequence, expected a \
                 string, a number or null (at column 10)",
            ),
            (
                "not json",
                "line 4: not a valid mParticle profile: expected ident (at column 2)",
            ),
        ];
        let text: String = lines.iter().flat_map(|(l, _)| [*l, "\n"]).collect();
        let errors: Vec<String> = NdjsonMembers::from_reader(text.as_bytes())
            .map(|m| m.unwrap_err().to_string())
            .collect();
        for (error, (_, expected)) in errors.iter().zip(lines) {
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
