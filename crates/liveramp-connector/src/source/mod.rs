//! Member sources: where a delivery's members come from.
//!
//! Every source feeds the same ordered parallel pipeline through one trait,
//! [`MemberSource`]: it appends members to a [`MemberChunk`] (raw profile JSON to be parsed on
//! a worker thread, profiles already parsed, or members already known to be malformed), the
//! workers parse, map, normalise, hash and render them, and the rows come back in source
//! order, so the files do not depend on the thread count. The source itself runs on the
//! delivering thread, so it need not be `Send` (a database cursor borrowing a connection is
//! fine).
//!
//! Implementations here: [`NdjsonSource`] (an NDJSON stream: one profile JSON per line) and
//! [`ProfileSource`] (an iterator of `Result<Profile, E>`, the embedding API behind
//! [`Connector::deliver`](crate::Connector::deliver)). A new kind of source (a database, a
//! message queue) is one more type implementing [`MemberSource`], in this folder or in its
//! own crate.

mod ndjson;
mod profiles;
mod store;

use std::fmt;

use liveramp_identity_mapping::Profile;

pub use ndjson::{NdjsonMembers, NdjsonSource};
pub use profiles::ProfileSource;
pub use store::StoreSource;

/// A chunk is handed to the workers once it holds this many bytes of raw JSON...
pub(crate) const CHUNK_BYTES: usize = 512 << 10;
/// ... or this many members.
pub(crate) const CHUNK_ITEMS: usize = 4096;

/// Where a delivery's members come from. See the crate documentation for the sources there are.
///
/// ```
/// use liveramp_connector::{MemberChunk, MemberSource, SourceFailure};
///
/// /// Members from a vector of JSON lines.
/// struct Lines(std::vec::IntoIter<String>);
///
/// impl MemberSource for Lines {
///     fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
///         while !chunk.is_full() {
///             match self.0.next() {
///                 Some(line) => chunk.push_json(line.as_bytes()),
///                 None => return Ok(false),
///             }
///         }
///         Ok(true)
///     }
/// }
///
/// let mut source = Lines(vec![r#"{"mpid": "1"}"#.to_owned()].into_iter());
/// let mut chunk = MemberChunk::default();
/// assert!(!source.fill(&mut chunk)?);
/// assert_eq!(chunk.len(), 1);
/// # Ok::<(), SourceFailure>(())
/// ```
pub trait MemberSource {
    /// Appends the next members to `chunk`, in order, until [`MemberChunk::is_full`] or the
    /// end. Returns `Ok(true)` when there may be more, `Ok(false)` at the end (the chunk may
    /// still hold members). An `Err` means the source itself failed (a read error, a lost
    /// cursor): the members after it are unknown, so the delivery stops and publishes nothing
    /// rather than sending LiveRamp a truncated audience; the members already in `chunk` are
    /// still counted.
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure>;

    /// What the delivery report says about the source once it has been read (e.g. a
    /// snapshot's size and the newest change it holds); `None` by default.
    fn summary(&self) -> Option<SourceSummary> {
        None
    }
}

impl<S: MemberSource + ?Sized> MemberSource for &mut S {
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
        (**self).fill(chunk)
    }

    fn summary(&self) -> Option<SourceSummary> {
        (**self).summary()
    }
}

impl<S: MemberSource + ?Sized> MemberSource for Box<S> {
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
        (**self).fill(chunk)
    }

    fn summary(&self) -> Option<SourceSummary> {
        (**self).summary()
    }
}

/// A member source that failed as a whole (see [`MemberSource::fill`]). Its message must not
/// quote member data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    message: String,
}

impl SourceFailure {
    /// A failure saying what went wrong, e.g. `could not read the member file: ...`.
    pub fn new(message: impl Into<String>) -> Self {
        SourceFailure {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceFailure {}

/// What a source tells the report about itself (see [`MemberSource::summary`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SourceSummary {
    /// What the source is, e.g. `members file ./members.ndjson` or `store snapshot`.
    pub kind: String,
    /// Members the source held when it was read (a snapshot's size), if it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<u64>,
    /// The newest change the source holds, in milliseconds since the epoch, if it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_change_ms: Option<i64>,
}

impl SourceSummary {
    /// A summary of a source of this kind, with nothing else known.
    pub fn new(kind: impl Into<String>) -> Self {
        SourceSummary {
            kind: kind.into(),
            members: None,
            newest_change_ms: None,
        }
    }
}

/// One member in a chunk.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// Profile JSON in `data[start..end]`, parsed on a worker.
    Json { start: usize, end: usize },
    /// A line longer than the limit, skipped without being held: its length in bytes.
    TooLong { bytes: u64 },
    /// An empty (or all-whitespace) line.
    EmptyLine,
    /// `profiles[index]`, already parsed.
    Profile(usize),
    /// A malformed member, with what is wrong with it (no member values quoted).
    Malformed(String),
}

/// Consecutive members handed from a [`MemberSource`] to the delivery's workers. Its buffers
/// are reused from chunk to chunk, so a source should append to it, not rebuild it.
#[derive(Debug)]
pub struct MemberChunk {
    pub(crate) data: Vec<u8>,
    pub(crate) items: Vec<Item>,
    pub(crate) profiles: Vec<Profile>,
    /// The order of the chunk in the source (set by the pipeline).
    pub(crate) seq: u64,
    /// The 1-based position of the first member (set by the pipeline).
    pub(crate) first: u64,
    /// The source failed after these members: `(position, message)`.
    pub(crate) failure: Option<(u64, String)>,
}

impl Default for MemberChunk {
    fn default() -> Self {
        MemberChunk::new()
    }
}

impl MemberChunk {
    /// An empty chunk, its buffers sized for a full one.
    pub fn new() -> Self {
        MemberChunk {
            data: Vec::with_capacity(CHUNK_BYTES + (64 << 10)),
            items: Vec::with_capacity(CHUNK_ITEMS),
            profiles: Vec::new(),
            seq: 0,
            first: 0,
            failure: None,
        }
    }

    /// Whether the chunk holds enough to hand on (about 512 KiB of JSON, or 4,096 members).
    /// A source may go on past it; it should stop soon after.
    pub fn is_full(&self) -> bool {
        self.data.len() >= CHUNK_BYTES || self.items.len() >= CHUNK_ITEMS
    }

    /// Members in the chunk.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the chunk holds no member.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends one member as profile JSON (identity-mapping's shape, one object), to be
    /// parsed on a worker. Text that is not a profile becomes a malformed member there.
    pub fn push_json(&mut self, json: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(json);
        self.items.push(Item::Json {
            start,
            end: self.data.len(),
        });
    }

    /// Appends whole lines of NDJSON that `write` appends to the given buffer, one member per
    /// line (a last line without its line break included), without copying them again. A
    /// `\r` before a line break is dropped; an empty line is a malformed member, as in a
    /// member file.
    pub fn push_lines<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut start = self.data.len();
        let result = write(&mut self.data);
        let end = self.data.len();
        while start < end {
            let line_end = memchr::memchr(b'\n', &self.data[start..end]).map_or(end, |i| start + i);
            let next = (line_end + 1).min(end);
            self.push_line_at(start, line_end);
            start = if line_end == end { end } else { next };
        }
        result
    }

    /// Registers `data[start..end]` (its line break excluded) as one line of NDJSON.
    pub(crate) fn push_line_at(&mut self, start: usize, mut end: usize) {
        if end > start && self.data[end - 1] == b'\r' {
            end -= 1;
        }
        if self.data[start..end].iter().all(u8::is_ascii_whitespace) {
            self.items.push(Item::EmptyLine);
        } else {
            self.items.push(Item::Json { start, end });
        }
    }

    /// Appends one member already parsed.
    pub fn push_profile(&mut self, profile: Profile) {
        self.items.push(Item::Profile(self.profiles.len()));
        self.profiles.push(profile);
    }

    /// Appends a member the source already knows is malformed, with what is wrong with it
    /// (never quoting its values): counted and reported by position, the rest is delivered.
    pub fn push_malformed(&mut self, message: impl Into<String>) {
        self.items.push(Item::Malformed(message.into()));
    }

    /// Appends a member whose text was longer than the delivery's limit
    /// (`max_member_line_bytes`) and was skipped without being held: reported by position.
    pub fn push_too_long(&mut self, bytes: u64) {
        self.items.push(Item::TooLong { bytes });
    }

    /// Empties the chunk, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
        self.profiles.clear();
        self.failure = None;
    }
}

/// What an empty line of a member file is.
pub(crate) const EMPTY_LINE: &str = "empty line: each line must be one profile JSON object";
