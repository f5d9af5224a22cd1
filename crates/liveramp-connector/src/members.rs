//! Reading members from an NDJSON file: one mParticle profile JSON per line.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use liveramp_identity_mapping::Profile;

/// A member line that is not a valid profile, with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberError {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for MemberError {}

/// Reads profiles from NDJSON, one item per line (so an item's position is its line number):
/// a valid profile, or a [`MemberError`] for a line that is not one (an empty line included).
/// A read error of the underlying source ends the iteration with one last error item.
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

    /// Reads profiles from any reader (buffered here).
    pub fn from_reader<T: Read>(reader: T) -> NdjsonMembers<BufReader<T>> {
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
                    return Some(Err(MemberError {
                        line: self.line,
                        message: "empty line: each line must be one profile JSON object".to_owned(),
                    }));
                }
                Some(Profile::from_json_slice(line).map_err(|e| MemberError {
                    line: self.line,
                    message: e.to_string(),
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(MemberError {
                    line: self.line + 1,
                    message: format!("could not read the member file: {e}"),
                }))
            }
        }
    }
}
