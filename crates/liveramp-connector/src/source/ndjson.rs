//! NDJSON: one mParticle profile JSON per line. The one place member lines are split.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::Path;

use liveramp_identity_mapping::Profile;

use super::{EMPTY_LINE, Item, MemberChunk, MemberSource, SourceFailure};
use crate::members::MemberError;

/// Members from NDJSON bytes, one profile JSON object per line; a member's position is its
/// line number.
///
/// Lines are split here and parsed on the delivery's workers. A line longer than `max_line`
/// bytes (its line break not counted) is reported as malformed by number without being held
/// in memory, so memory does not depend on the longest line. A `\r` before a line break is
/// dropped; an empty line and a last line without its line break are members like any other
/// (the empty one malformed). A read error ends the source with a [`SourceFailure`] saying at
/// which line, so the delivery publishes nothing.
pub struct NdjsonSource<R> {
    reader: R,
    max_line: u64,
    /// Lines completed so far.
    line: u64,
    done: bool,
    /// The read error that ended the source, if one did.
    read_error: Option<String>,
}

impl NdjsonSource<BufReader<File>> {
    /// Opens a member file (read in 1 MiB blocks).
    pub fn open(path: impl AsRef<Path>, max_line: u64) -> std::io::Result<Self> {
        let file = File::open(path)?;
        Ok(NdjsonSource::new(
            BufReader::with_capacity(1 << 20, file),
            max_line,
        ))
    }
}

impl<R: BufRead> NdjsonSource<R> {
    /// Members from `reader`; lines over `max_line` bytes are skipped and reported.
    pub fn new(reader: R, max_line: u64) -> Self {
        NdjsonSource {
            reader,
            max_line,
            line: 0,
            done: false,
            read_error: None,
        }
    }

    fn failure(&mut self, e: &std::io::Error) -> SourceFailure {
        let message = format!("could not read the member file: {e}");
        self.read_error = Some(message.clone());
        SourceFailure::new(
            MemberError {
                line: self.line + 1,
                message,
                source_failed: true,
            }
            .to_string(),
        )
    }
}

impl<R: BufRead> MemberSource for NdjsonSource<R> {
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
        if self.done {
            return Ok(false);
        }
        // The line being read: where it starts in `chunk.data`, its length so far, and whether
        // it is already too long (then its bytes are counted, not kept).
        let mut start = chunk.data.len();
        let mut length: u64 = 0;
        let mut too_long = false;
        let mut in_line = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Drop the partial line: the delivery stops at this line anyway.
                    chunk.data.truncate(start);
                    self.done = true;
                    return Err(self.failure(&e));
                }
            };
            if buf.is_empty() {
                break;
            }
            let (piece, ends_line) = match memchr::memchr(b'\n', buf) {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            in_line = true;
            length += piece.len() as u64;
            if !too_long {
                if length > self.max_line {
                    too_long = true;
                    chunk.data.truncate(start);
                } else {
                    chunk.data.extend_from_slice(piece);
                }
            }
            let consumed = piece.len() + usize::from(ends_line);
            self.reader.consume(consumed);
            if ends_line {
                self.line += 1;
                push(chunk, start, length, too_long);
                start = chunk.data.len();
                length = 0;
                too_long = false;
                in_line = false;
                if chunk.is_full() {
                    return Ok(true);
                }
            }
        }
        // A last line without a line break (a file truncated mid-line included).
        if in_line {
            self.line += 1;
            push(chunk, start, length, too_long);
        }
        self.done = true;
        Ok(false)
    }
}

fn push(chunk: &mut MemberChunk, start: usize, length: u64, too_long: bool) {
    if too_long {
        chunk.push_too_long(length);
    } else {
        chunk.push_line_at(start, chunk.data.len());
    }
}

/// Reads profiles from NDJSON, one item per line (so an item's position is its line number):
/// a valid profile, or a [`MemberError`] for a line that is not one (an empty line included).
/// A read error of the underlying source ends the iteration with one last error item whose
/// `source_failed` is set, so a delivery stops instead of publishing a truncated audience.
///
/// Lines are split exactly as [`NdjsonSource`] splits them (with no length limit); prefer
/// `NdjsonSource` for deliveries, which parses on every core.
pub struct NdjsonMembers<R> {
    source: NdjsonSource<R>,
    chunk: MemberChunk,
    next: usize,
    line: u64,
    more: bool,
    failed: bool,
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
            source: NdjsonSource::new(reader, u64::MAX),
            chunk: MemberChunk::new(),
            next: 0,
            line: 0,
            more: true,
            failed: false,
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
        while self.next >= self.chunk.items.len() {
            if self.failed {
                self.failed = false;
                return Some(Err(MemberError {
                    line: self.line + 1,
                    message: self.source.read_error.clone().unwrap_or_default(),
                    source_failed: true,
                }));
            }
            if !self.more {
                return None;
            }
            self.chunk.clear();
            self.next = 0;
            if let Ok(more) = self.source.fill(&mut self.chunk) {
                self.more = more;
            } else {
                self.more = false;
                self.failed = true;
            }
        }
        let item = &self.chunk.items[self.next];
        self.next += 1;
        self.line += 1;
        let line = self.line;
        Some(match item {
            Item::Json { start, end } => Profile::from_json_slice(&self.chunk.data[*start..*end])
                .map_err(|e| MemberError::malformed(line, e.to_string())),
            Item::EmptyLine => Err(MemberError::malformed(line, EMPTY_LINE)),
            Item::TooLong { .. } | Item::Profile(_) | Item::Malformed(_) => Err(
                MemberError::malformed(line, "the line could not be read as a profile"),
            ),
        })
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
        assert_eq!(errors.len(), lines.len());
        for (error, (_, expected)) in errors.iter().zip(lines) {
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn lines_split_the_same_way_whatever_the_chunk() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str("{\"mpid\": \"");
            text.push_str(&i.to_string());
            text.push_str("\"}\r\n");
            if i % 1000 == 0 {
                text.push('\n');
            }
        }
        text.push_str("{\"mpid\": \"last\"}");
        let items: Vec<Result<Profile, MemberError>> =
            NdjsonMembers::from_reader(text.as_bytes()).collect();
        assert_eq!(items.len(), 10_000 + 10 + 1);
        assert_eq!(
            items[1].as_ref().unwrap_err().to_string(),
            "line 2: empty line: each line must be one profile JSON object"
        );
        assert_eq!(
            items.last().unwrap().as_ref().unwrap().mpid.as_deref(),
            Some("last")
        );
        let mut source = NdjsonSource::new(text.as_bytes(), 8);
        let mut chunk = MemberChunk::new();
        let mut total = 0;
        loop {
            chunk.clear();
            let more = source.fill(&mut chunk).unwrap();
            total += chunk.len();
            assert!(
                chunk
                    .items
                    .iter()
                    .all(|i| matches!(i, Item::TooLong { bytes: 14..=18 } | Item::EmptyLine))
            );
            if !more {
                break;
            }
        }
        assert_eq!(total, items.len());
    }
}
