//! The member pipeline: chunks of members from a [`MemberSource`], parsed, mapped,
//! normalised, hashed and rendered as CSV rows on worker threads, and handed back in input
//! order.
//!
//! ```text
//! calling thread             worker threads (N)                   calling thread
//! source.fill -> chunk -> parse + map + render -> Batch -> reorder by seq -> consume
//! ```
//!
//! The source is read on the calling thread (it need not be `Send`), which also takes the
//! finished batches back: it fills a chunk whenever fewer than `2 * threads + 2` are in
//! flight, and otherwise waits for a batch. So at most that many chunks and batches exist at
//! once and memory does not grow with the audience. Rows leave in the order of the input
//! whatever the thread count, so the files are byte-identical for any `threads`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};

use liveramp_file_format::{DataType, RowEncoder};
use liveramp_identity_mapping::{MappedMember, Mapper, Profile};

use crate::members::MemberError;
use crate::source::{EMPTY_LINE, Item, MemberChunk, MemberSource};

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
}

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

    /// Renders every member of `chunk` into `batch`.
    fn render_chunk(&mut self, chunk: &MemberChunk, max_line: u64, batch: &mut Batch) {
        batch.clear();
        batch.seq = chunk.seq;
        for (i, item) in chunk.items.iter().enumerate() {
            let number = chunk.first + i as u64;
            match item {
                Item::TooLong { bytes } => batch.malformed.push((
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
                Item::EmptyLine => batch.malformed.push((
                    number,
                    MemberError::malformed(number, EMPTY_LINE).to_string(),
                )),
                Item::Malformed(message) => batch.malformed.push((number, message.clone())),
                Item::Profile(index) => {
                    if let Some(profile) = chunk.profiles.get(*index) {
                        self.render(number, profile, batch);
                    }
                }
                Item::Json { start, end } => {
                    let text = &chunk.data[*start..*end];
                    let mut profile = std::mem::take(&mut self.profile);
                    match profile.parse_into(text) {
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
        batch.failure.clone_from(&chunk.failure);
    }
}

pub(crate) fn count(counts: &mut Vec<(&'static str, u64)>, code: &'static str) {
    if let Some(entry) = counts.iter_mut().find(|(c, _)| *c == code) {
        entry.1 += 1;
    } else {
        counts.push((code, 1));
    }
}

/// Runs the pipeline over `source` with `threads` workers, handing each batch to `consume`
/// in input order on the calling thread. `consume` returns `false` to stop early (the
/// threads then wind down and this returns at once). A source failure arrives as the
/// `failure` of the batch after which it happened.
pub(crate) fn run<F>(
    source: &mut dyn MemberSource,
    mapper: &Mapper,
    types: &[DataType],
    threads: usize,
    max_line: u64,
    mut consume: F,
) where
    F: FnMut(&Batch) -> bool,
{
    let threads = threads.max(1);
    let stop = AtomicBool::new(false);
    // At most `slots` chunks are in flight (sent and their batch not yet consumed), so the
    // channels never fill, the reorder buffer stays bounded and so does memory.
    let slots = 2 * threads + 2;
    let (chunk_tx, chunk_rx) = sync_channel::<MemberChunk>(slots);
    let (done_tx, done_rx) = sync_channel::<(Batch, MemberChunk)>(slots);
    let (free_tx, free_rx) = sync_channel::<Batch>(slots);
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));
    let free_rx = Arc::new(Mutex::new(free_rx));
    std::thread::scope(|scope| {
        let stop = &stop;
        for _ in 0..threads {
            let chunk_rx = Arc::clone(&chunk_rx);
            let free_rx = Arc::clone(&free_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut renderer = Renderer::new(mapper, types);
                loop {
                    let Ok(Ok(chunk)) = chunk_rx.lock().map(|rx| rx.recv()) else {
                        return;
                    };
                    let mut batch = free_rx
                        .lock()
                        .ok()
                        .and_then(|rx| rx.try_recv().ok())
                        .unwrap_or_default();
                    renderer.render_chunk(&chunk, max_line, &mut batch);
                    if stop.load(Ordering::Relaxed) || done_tx.send((batch, chunk)).is_err() {
                        return;
                    }
                }
            });
        }
        // Only the threads hold these now: when they end, the channels close.
        drop((done_tx, chunk_rx, free_rx));
        let mut spare: Vec<MemberChunk> = Vec::new();
        let mut waiting: BTreeMap<u64, Batch> = BTreeMap::new();
        let (mut sent, mut next, mut position) = (0u64, 0u64, 1u64);
        let mut source_done = false;
        'pass: loop {
            // Take back what is finished (waiting for it when nothing else can be done).
            loop {
                let in_flight = sent - next;
                let finished = if in_flight == 0 {
                    break;
                } else if source_done || in_flight >= slots as u64 {
                    done_rx.recv().map_err(|_| TryRecvError::Disconnected)
                } else {
                    done_rx.try_recv()
                };
                let (batch, chunk) = match finished {
                    Ok(finished) => finished,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => break 'pass,
                };
                spare.push(chunk);
                waiting.insert(batch.seq, batch);
                while let Some(batch) = waiting.remove(&next) {
                    next += 1;
                    let go_on = consume(&batch);
                    let _ = free_tx.try_send(batch);
                    if !go_on {
                        break 'pass;
                    }
                }
            }
            if source_done {
                if sent == next {
                    break;
                }
                continue;
            }
            // Read the next chunk.
            let mut chunk = spare.pop().unwrap_or_default();
            chunk.clear();
            chunk.seq = sent;
            chunk.first = position;
            match source.fill(&mut chunk) {
                Ok(more) => source_done = !more,
                Err(failure) => {
                    chunk.failure = Some((position + chunk.len() as u64, failure.to_string()));
                    source_done = true;
                }
            }
            position += chunk.len() as u64;
            if chunk.is_empty() && chunk.failure.is_none() {
                spare.push(chunk);
                continue;
            }
            if chunk_tx.send(chunk).is_err() {
                break;
            }
            sent += 1;
        }
        // Done or stopping early: wake and end every thread (closed channels make their
        // sends and receives fail).
        stop.store(true, Ordering::Relaxed);
        drop(chunk_tx);
        drop(free_tx);
        drop(done_rx);
    });
}
