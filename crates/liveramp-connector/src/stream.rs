//! Streaming a part to the destination while it is built: its own thread and session.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use liveramp_scheduler::Fence;
use liveramp_transport::{Receipt, Transport, UploadStream};

use crate::error_chain;

/// Bytes handed to the uploading thread at a time.
const STREAM_BUF: usize = 256 * 1024;

/// What the writer sends to a part's uploading thread.
enum Feed {
    /// The next bytes of the part.
    Data(Vec<u8>),
    /// All bytes were sent and the part may be published: commit (rename) it.
    Commit,
}

/// One part being uploaded on its own thread and transport session while it is built: the bytes
/// written to the spool are also sent here (bounded queue, so memory stays flat and a slow
/// server slows the build instead of filling memory). Dropping it aborts the upload.
pub(crate) struct StreamedPart {
    tx: Option<SyncSender<Feed>>,
    buf: Vec<u8>,
    result: Receiver<Result<Receipt, String>>,
}

impl StreamedPart {
    /// Starts streaming `name` over `session` (a transport session of its own) on a new
    /// thread.
    ///
    /// With a `fence` (a claim that is a lease), each block is written and the part committed
    /// only while the fence holds; once it fails the upload stops where it is and its
    /// temporary file is left alone (the node that took the delivery over may be writing it).
    pub(crate) fn start(
        session: Box<dyn Transport>,
        name: &str,
        fence: Option<Fence>,
    ) -> StreamedPart {
        let (tx, rx) = sync_channel::<Feed>(2);
        let (result_tx, result) = sync_channel(1);
        let name = name.to_owned();
        let spawned = std::thread::Builder::new()
            .name("liveramp-upload".to_owned())
            .spawn(move || {
                let outcome = stream_part(session, &name, &rx, fence.as_ref());
                if let Some(outcome) = outcome {
                    let _ = result_tx.send(outcome);
                }
            });
        StreamedPart {
            tx: spawned.ok().map(|_| tx),
            buf: Vec::with_capacity(STREAM_BUF),
            result,
        }
    }

    /// A stream that could not start (no session): the part is uploaded from the spool.
    pub(crate) fn failed(message: String) -> StreamedPart {
        let (result_tx, result) = sync_channel(1);
        let _ = result_tx.send(Err(message));
        StreamedPart {
            tx: None,
            buf: Vec::new(),
            result,
        }
    }

    /// Queues `bytes` (sent in large blocks); after a failure, does nothing (the spool has
    /// them and the upload falls back to it).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.tx.is_none() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= STREAM_BUF {
            self.send_buf();
        }
    }

    fn send_buf(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_BUF));
        if let Some(tx) = &self.tx
            && tx.send(Feed::Data(data)).is_err()
        {
            self.tx = None;
        }
    }

    /// Sends the rest; the part is complete.
    pub(crate) fn finish_feed(&mut self) {
        self.send_buf();
        self.buf = Vec::new();
    }

    /// Publishes the streamed part: the receipt, or why the stream failed.
    pub(crate) fn commit(mut self) -> Result<Receipt, String> {
        self.finish_feed();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Feed::Commit);
        }
        self.result
            .recv()
            .unwrap_or_else(|_| Err("the upload thread ended without a result".to_owned()))
    }
}

/// The uploading thread: writes what arrives over its own session to the temporary remote
/// name, and commits when told. `None` when the writer went away without committing (the
/// upload is then aborted and its temporary file removed).
fn stream_part(
    mut transport: Box<dyn Transport>,
    name: &str,
    rx: &Receiver<Feed>,
    fence: Option<&Fence>,
) -> Option<Result<Receipt, String>> {
    let outcome = {
        if let Some(lost) = lease_lost(fence) {
            return Some(Err(lost));
        }
        let mut stream = match transport.begin(name) {
            Ok(s) => s,
            Err(e) => return Some(Err(error_chain(&e))),
        };
        loop {
            let feed = rx.recv();
            if let (Ok(_), Some(lost)) = (&feed, lease_lost(fence)) {
                abandon(stream);
                break Some(Err(lost));
            }
            match feed {
                Ok(Feed::Data(data)) => {
                    if let Err(e) = stream.write_all(&data) {
                        let detail = stream
                            .take_error()
                            .map_or_else(|| e.to_string(), |t| error_chain(&t));
                        let _ = stream.abort();
                        break Some(Err(detail));
                    }
                }
                Ok(Feed::Commit) => break Some(stream.commit().map_err(|e| error_chain(&e))),
                Err(_) => {
                    let _ = stream.abort();
                    break None;
                }
            }
        }
    };
    let _ = transport.close();
    outcome
}

/// Why the part must not be written any more, if the claim's lease was lost.
pub(crate) fn lease_lost(fence: Option<&Fence>) -> Option<String> {
    let fence = fence?;
    fence.check().err().map(|e| {
        format!(
            "{e}; the upload was stopped and its temporary file left to the node now holding it"
        )
    })
}

/// Stops an upload without removing its temporary file: after a lost lease the name belongs to
/// the node that took the delivery over. The stream's handle is leaked on purpose (dropping it
/// would remove the file); this happens once per lost lease.
fn abandon(stream: Box<dyn UploadStream + '_>) {
    std::mem::forget(stream);
}
