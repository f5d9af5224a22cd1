//! The member pipeline: raw NDJSON lines read in chunks, parsed, mapped, normalised, hashed
//! and rendered as CSV rows on worker threads, and handed back in input order.
//!
//! ```text
//! reader thread        worker threads (N)                    caller's thread
//! lines -> RawChunk -> parse + map + render -> Batch -> reorder by seq -> write / count
//! ```
//!
//! Every channel is bounded and every buffer is recycled, so memory does not grow with the
//! audience: at most `2 * threads + 2` raw chunks and `3 * threads + 2` batches exist at once.
//! Rows leave in the order of the input whatever the thread count, so the files are
//! byte-identical for any `threads`.

use std::collections::BTreeMap;
use std::io::{BufRead, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use liveramp_file_format::{DataType, RowEncoder};
use liveramp_identity_mapping::{MappedMember, Mapper, Profile};

use crate::members::{MemberError, MemberFault};

/// A raw chunk is handed to the workers once it holds this many bytes...
const CHUNK_BYTES: usize = 512 << 10;
/// ... or this many lines.
const CHUNK_LINES: usize = 4096;
/// Members per batch on the single-threaded (`Profile` iterator) path.
pub(crate) const ITER_BATCH: u64 = 4096;

/// One line of a raw chunk.
#[derive(Debug, Clone, Copy)]
enum Line {
    /// `data[start..end]`, its line break removed.
    Text { start: usize, end: usize },
    /// Longer than the limit: skipped without being held; `bytes` is its length (its line
    /// break not counted).
    TooLong { bytes: u64 },
}

/// Consecutive raw member lines.
#[derive(Debug, Default)]
struct RawChunk {
    seq: u64,
    /// The 1-based number of the first line.
    first_line: u64,
    data: Vec<u8>,
    lines: Vec<Line>,
    /// The source failed after these lines: `(line, message)`.
    failure: Option<(u64, String)>,
}

/// One row in a batch's buffer: where it ends, and where its member key ends in `keys`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRef {
    end: usize,
    key_end: usize,
}

/// Rendered rows of one data type.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    bytes: Vec<u8>,
    refs: Vec<RowRef>,
    keys: String,
    /// Rejection counts by reason code, in first-seen order.
    pub(crate) counts: Vec<(&'static str, u64)>,
    /// A row could not be encoded (a programming error): the file fails with this.
    pub(crate) failed: Option<String>,
}

impl Rows {
    fn clear(&mut self) {
        self.bytes.clear();
        self.refs.clear();
        self.keys.clear();
        self.counts.clear();
        self.failed = None;
    }

    /// The rows as `(member key, encoded line)`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let mut start = 0;
        let mut key_start = 0;
        self.refs.iter().map(move |r| {
            let line = &self.bytes[start..r.end];
            let key = self.keys.get(key_start..r.key_end).unwrap_or_default();
            start = r.end;
            key_start = r.key_end;
            (key, line)
        })
    }

    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.refs.len()
    }

    /// Bytes of the rendered rows.
    pub(crate) fn byte_len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// What the members of one chunk became.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    seq: u64,
    /// Valid profiles.
    pub(crate) members: u64,
    /// Malformed lines `(line, error)`, in order.
    pub(crate) malformed: Vec<(u64, String)>,
    /// Device rows.
    pub(crate) device: Rows,
    /// PII rows.
    pub(crate) pii: Rows,
    /// The source failed after this batch: `(line, message)`.
    pub(crate) failure: Option<(u64, String)>,
}

impl Batch {
    pub(crate) fn clear(&mut self) {
        self.members = 0;
        self.malformed.clear();
        self.device.clear();
        self.pii.clear();
        self.failure = None;
    }

    /// Items (members and malformed lines) in this batch.
    pub(crate) fn items(&self) -> u64 {
        self.members + self.malformed.len() as u64
    }

    /// Records a malformed member at `line`.
    pub(crate) fn malformed(&mut self, line: u64, error: &dyn MemberFault) {
        self.malformed.push((line, error.to_string()));
    }
}

/// Hands one batch on; `false` stops the member pass.
pub(crate) type Consume<'a> = dyn FnMut(&Batch) -> bool + 'a;

/// The worker's side: maps one profile and renders its rows into a batch.
pub(crate) struct Renderer<'m> {
    mapper: &'m Mapper,
    mapped: MappedMember,
    device: Option<RowEncoder>,
    pii: Option<RowEncoder>,
    key: String,
    /// The profile each line is parsed into, its buffers reused from line to line.
    profile: Profile,
}

impl<'m> Renderer<'m> {
    /// Renders the data types in `types`.
    pub(crate) fn new(mapper: &'m Mapper, types: &[DataType]) -> Self {
        Renderer {
            mapper,
            mapped: MappedMember::new(),
            device: types
                .contains(&DataType::Device)
                .then(|| RowEncoder::new(mapper.device_headers().len())),
            pii: types
                .contains(&DataType::Pii)
                .then(|| RowEncoder::new(mapper.pii_headers().len())),
            key: String::new(),
            profile: Profile::default(),
        }
    }

    /// Maps the profile at 1-based `position` and appends its rows and rejections to `batch`.
    pub(crate) fn render(&mut self, position: u64, profile: &Profile, batch: &mut Batch) {
        use std::fmt::Write as _;
        batch.members += 1;
        self.mapper.map_into(profile, &mut self.mapped);
        let key: &str = if let Some(id) = &profile.mpid {
            id
        } else {
            self.key.clear();
            let _ = write!(self.key, "member #{position}");
            &self.key
        };
        if let Some(encoder) = &self.device {
            let rows = &mut batch.device;
            if rows.failed.is_none() {
                for row in self.mapped.device_rows() {
                    if let Err(e) = encoder.encode_into(key, &row.fields(), &mut rows.bytes) {
                        rows.failed = Some(format!("writing the file failed: {e}"));
                        break;
                    }
                    rows.keys.push_str(key);
                    rows.refs.push(RowRef {
                        end: rows.bytes.len(),
                        key_end: rows.keys.len(),
                    });
                }
            }
            for r in self.mapped.rejections() {
                if r.column == Some("DEVICE_ID") {
                    count(&mut rows.counts, r.code);
                }
            }
        }
        if let Some(encoder) = &self.pii {
            let rows = &mut batch.pii;
            if rows.failed.is_none()
                && let Some(row) = self.mapped.pii_row()
            {
                match encoder.encode_into(key, row, &mut rows.bytes) {
                    Ok(()) => {
                        rows.keys.push_str(key);
                        rows.refs.push(RowRef {
                            end: rows.bytes.len(),
                            key_end: rows.keys.len(),
                        });
                    }
                    Err(e) => rows.failed = Some(format!("writing the file failed: {e}")),
                }
            }
            for r in self.mapped.rejections() {
                if r.column != Some("DEVICE_ID") {
                    count(&mut rows.counts, r.code);
                }
            }
        }
    }

    /// Renders every line of `raw` into `batch`.
    fn render_chunk(&mut self, raw: &RawChunk, max_line: u64, batch: &mut Batch) {
        batch.clear();
        batch.seq = raw.seq;
        for (i, line) in raw.lines.iter().enumerate() {
            let number = raw.first_line + i as u64;
            match *line {
                Line::TooLong { bytes } => batch.malformed.push((
                    number,
                    MemberError::malformed(
                        number,
                        format!(
                            "the line has {bytes} bytes, more than max_member_line_bytes \
                             ({max_line}): it was skipped without being read into memory; fix \
                             the export, or raise max_member_line_bytes if such profiles are \
                             real"
                        ),
                    )
                    .to_string(),
                )),
                Line::Text { start, end } => {
                    let text = &raw.data[start..end];
                    if text.iter().all(u8::is_ascii_whitespace) {
                        batch.malformed.push((
                            number,
                            MemberError::malformed(
                                number,
                                "empty line: each line must be one profile JSON object",
                            )
                            .to_string(),
                        ));
                        continue;
                    }
                    let mut profile = std::mem::take(&mut self.profile);
                    let parsed = profile.parse_into(text);
                    match parsed {
                        Ok(()) => self.render(number, &profile, batch),
                        Err(e) => batch.malformed.push((
                            number,
                            MemberError::malformed(number, e.to_string()).to_string(),
                        )),
                    }
                    self.profile = profile;
                }
            }
        }
        batch.failure.clone_from(&raw.failure);
    }
}

pub(crate) fn count(counts: &mut Vec<(&'static str, u64)>, code: &'static str) {
    if let Some(entry) = counts.iter_mut().find(|(c, _)| *c == code) {
        entry.1 += 1;
    } else {
        counts.push((code, 1));
    }
}

/// Reads `reader` into raw chunks and sends them; stops at the end, at a read error (sent as
/// the last chunk's failure), or when `stop` is set or nobody listens any more.
fn read_chunks<R: BufRead>(
    mut reader: R,
    max_line: u64,
    out: &SyncSender<RawChunk>,
    free: &Receiver<RawChunk>,
    stop: &AtomicBool,
) {
    let mut seq = 0;
    let mut line_number: u64 = 0; // lines completed so far
    let fresh = |free: &Receiver<RawChunk>| match free.try_recv() {
        Ok(mut c) => {
            c.data.clear();
            c.lines.clear();
            c.failure = None;
            c
        }
        Err(_) => RawChunk {
            data: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
            lines: Vec::with_capacity(4096),
            ..RawChunk::default()
        },
    };
    let mut chunk = fresh(free);
    chunk.first_line = 1;
    // The line being read: where it starts in `chunk.data`, its length so far, and whether it
    // is already too long (then its bytes are counted, not kept).
    let mut start = 0usize;
    let mut length: u64 = 0;
    let mut too_long = false;
    let mut in_line = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                // Drop the partial line: the delivery stops at this line anyway.
                chunk.data.truncate(start);
                chunk.failure = Some((
                    line_number + 1,
                    MemberError {
                        line: line_number + 1,
                        message: format!("could not read the member file: {e}"),
                        source_failed: true,
                    }
                    .to_string(),
                ));
                let _ = out.send(chunk);
                return;
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
            if length > max_line {
                too_long = true;
                chunk.data.truncate(start);
            } else {
                chunk.data.extend_from_slice(piece);
            }
        }
        let consumed = piece.len() + usize::from(ends_line);
        reader.consume(consumed);
        if ends_line {
            line_number += 1;
            push_line(&mut chunk, start, length, too_long);
            start = chunk.data.len();
            length = 0;
            too_long = false;
            in_line = false;
            if chunk.data.len() >= CHUNK_BYTES || chunk.lines.len() >= CHUNK_LINES {
                let next_first = line_number + 1;
                chunk.seq = seq;
                seq += 1;
                if out.send(chunk).is_err() {
                    return;
                }
                chunk = fresh(free);
                chunk.first_line = next_first;
                start = 0;
            }
        }
    }
    // A last line without a line break (a file truncated mid-line included).
    if in_line {
        push_line(&mut chunk, start, length, too_long);
    }
    if !chunk.lines.is_empty() || chunk.failure.is_some() {
        chunk.seq = seq;
        let _ = out.send(chunk);
    }
}

fn push_line(chunk: &mut RawChunk, start: usize, length: u64, too_long: bool) {
    if too_long {
        chunk.lines.push(Line::TooLong { bytes: length });
        return;
    }
    let mut end = chunk.data.len();
    if end > start && chunk.data[end - 1] == b'\r' {
        end -= 1;
    }
    chunk.lines.push(Line::Text { start, end });
}

/// Runs the pipeline over `reader` with `threads` workers, handing each batch to `consume`
/// in input order on the calling thread. `consume` returns `false` to stop early (the
/// threads then wind down and this returns at once).
pub(crate) fn run<R, F>(
    reader: R,
    mapper: &Mapper,
    types: &[DataType],
    threads: usize,
    max_line: u64,
    mut consume: F,
) where
    R: BufRead + Send,
    F: FnMut(&Batch) -> bool,
{
    let threads = threads.max(1);
    let stop = AtomicBool::new(false);
    // At most `slots` batches exist: a worker takes one before it takes a raw chunk and the
    // consumer gives it back, so the reorder buffer and the workers' lead stay bounded.
    let slots = 2 * threads + 2;
    let (raw_tx, raw_rx) = sync_channel::<RawChunk>(threads + 1);
    let (raw_free_tx, raw_free_rx) = sync_channel::<RawChunk>(2 * threads + 4);
    let (done_tx, done_rx) = sync_channel::<Batch>(slots);
    let (free_tx, free_rx) = sync_channel::<Batch>(slots);
    for _ in 0..slots {
        let _ = free_tx.try_send(Batch::default());
    }
    let raw_rx = Arc::new(Mutex::new(raw_rx));
    let free_rx = Arc::new(Mutex::new(free_rx));
    std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || read_chunks(reader, max_line, &raw_tx, &raw_free_rx, stop));
        for _ in 0..threads {
            let raw_rx = Arc::clone(&raw_rx);
            let free_rx = Arc::clone(&free_rx);
            let done_tx = done_tx.clone();
            let raw_free_tx = raw_free_tx.clone();
            scope.spawn(move || {
                let mut renderer = Renderer::new(mapper, types);
                loop {
                    // A batch first, then a chunk (see `slots`).
                    let Ok(Ok(mut batch)) = free_rx.lock().map(|rx| rx.recv()) else {
                        return;
                    };
                    let Ok(Ok(raw)) = raw_rx.lock().map(|rx| rx.recv()) else {
                        return;
                    };
                    renderer.render_chunk(&raw, max_line, &mut batch);
                    let _ = raw_free_tx.try_send(raw);
                    if stop.load(Ordering::Relaxed) || done_tx.send(batch).is_err() {
                        return;
                    }
                }
            });
        }
        // Only the threads hold these now: when they end, the channels close.
        drop((done_tx, raw_free_tx, raw_rx, free_rx));
        // Reassemble in input order.
        let mut waiting: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut next = 0u64;
        'receive: for batch in &done_rx {
            waiting.insert(batch.seq, batch);
            while let Some(batch) = waiting.remove(&next) {
                next += 1;
                let go_on = consume(&batch);
                let _ = free_tx.try_send(batch);
                if !go_on {
                    break 'receive;
                }
            }
        }
        // Stopping early: wake and end every thread (closed channels make their sends and
        // receives fail).
        stop.store(true, Ordering::Relaxed);
        drop(free_tx);
        drop(done_rx);
    });
}
