//! Reading a request body as it arrives: under the size limit (before and after gzip), under
//! the memory budget shared by all requests, before the deadline.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::time::Instant;

/// Why a body was not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Over the size limit (raw or decompressed).
    TooLarge,
    /// The memory budget of all requests is spent.
    Busy,
    /// Not a valid gzip stream (or something after it).
    BadGzip,
    /// The client stopped sending before the deadline.
    TimedOut,
    /// The connection failed while reading.
    Broken,
}

/// Body bytes held by all requests together, with a ceiling.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Bytes taken from a [`Budget`], given back on drop.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Held {
    pub(crate) fn new(budget: &Arc<Budget>) -> Held {
        Held {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Takes `n` more bytes, or says the budget is spent.
    fn take(&mut self, n: usize) -> Result<(), BodyError> {
        let budget = &self.budget;
        budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= budget.limit)
            })
            .map_err(|_| BodyError::Busy)?;
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The decompressed bytes, refusing to grow past the limit or the budget.
struct Capped {
    out: Vec<u8>,
    limit: usize,
    held: Held,
    refused: Option<BodyError>,
}

impl Capped {
    fn push(&mut self, bytes: &[u8]) -> Result<(), BodyError> {
        if self.out.len() + bytes.len() > self.limit {
            return Err(BodyError::TooLarge);
        }
        self.held.take(bytes.len())?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

impl Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.push(bytes) {
            Ok(()) => Ok(bytes.len()),
            Err(e) => {
                self.refused = Some(e);
                Err(io::Error::other("body limit"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `body` whole: at most `limit` bytes as sent, and (when `gzip`) at most `limit` bytes
/// once decompressed, inflating only as far as the limit (a gzip bomb costs `limit` bytes of
/// work, not its full size). Every byte kept is taken from `budget` first, and given back when
/// the returned [`Held`] is dropped.
pub(crate) async fn read(
    body: &mut Body,
    gzip: bool,
    limit: usize,
    deadline: Instant,
    budget: &Arc<Budget>,
) -> Result<(Vec<u8>, Held), BodyError> {
    let mut raw_len = 0usize;
    let mut plain: Vec<u8> = Vec::new();
    let mut held = Held::new(budget);
    let mut inflater = gzip.then(|| {
        flate2::write::GzDecoder::new(Capped {
            out: Vec::new(),
            limit,
            held: Held::new(budget),
            refused: None,
        })
    });
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers
        };
        raw_len = raw_len.saturating_add(chunk.len());
        if raw_len > limit {
            return Err(BodyError::TooLarge);
        }
        if let Some(inflater) = inflater.as_mut() {
            if inflater.write_all(&chunk).is_err() {
                return Err(inflater.get_ref().refused.unwrap_or(BodyError::BadGzip));
            }
        } else {
            held.take(chunk.len())?;
            plain.extend_from_slice(&chunk);
        }
    }
    match inflater {
        Some(mut inflater) => {
            // Finishing writes out what is left, so the limit can still be crossed here; it
            // also checks the CRC and length of the trailer (a truncated stream fails).
            if inflater.try_finish().is_err() {
                return Err(inflater.get_ref().refused.unwrap_or(BodyError::BadGzip));
            }
            match inflater.finish() {
                Ok(capped) => Ok((capped.out, capped.held)),
                Err(_) => Err(BodyError::BadGzip),
            }
        }
        None => Ok((plain, held)),
    }
}

/// Reads and drops up to `limit` more bytes of a body that was refused, so that the client
/// (still sending) reads the answer instead of a reset connection.
pub(crate) async fn drain(body: &mut Body, limit: usize, deadline: Instant) {
    let mut seen = 0usize;
    while seen <= limit {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    seen = seen.saturating_add(data.len());
                }
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    async fn read_all(
        bytes: Vec<u8>,
        gz: bool,
        limit: usize,
        budget: &Arc<Budget>,
    ) -> Result<Vec<u8>, BodyError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        read(&mut Body::from(bytes), gz, limit, deadline, budget)
            .await
            .map(|(bytes, _)| bytes)
    }

    #[tokio::test]
    async fn limits_budget_and_gzip() {
        let budget = Budget::new(1000);
        assert_eq!(
            read_all(b"{}".to_vec(), false, 10, &budget).await,
            Ok(b"{}".to_vec())
        );
        assert_eq!(
            read_all(vec![b' '; 11], false, 10, &budget).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            read_all(gzip(b"{\"a\":1}"), true, 100, &budget).await,
            Ok(b"{\"a\":1}".to_vec())
        );
        // Small when compressed, too large when not.
        assert!(gzip(&[b' '; 101]).len() < 100);
        assert_eq!(
            read_all(gzip(&[b' '; 101]), true, 100, &budget).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            read_all(gzip(&[b' '; 100]), true, 100, &budget)
                .await
                .map(|b| b.len()),
            Ok(100)
        );
        assert_eq!(
            read_all(b"not gzip".to_vec(), true, 100, &budget).await,
            Err(BodyError::BadGzip)
        );
        let mut truncated = gzip(b"{\"a\":1}");
        truncated.truncate(truncated.len() - 4);
        assert_eq!(
            read_all(truncated, true, 100, &budget).await,
            Err(BodyError::BadGzip)
        );
        // The budget is shared and given back.
        assert_eq!(
            read_all(vec![b' '; 1001], false, 2000, &budget).await,
            Err(BodyError::Busy)
        );
        assert_eq!(budget.used(), 0);
        let mut held = Held::new(&budget);
        held.take(600).unwrap();
        assert_eq!(
            read_all(vec![b' '; 500], false, 2000, &budget).await,
            Err(BodyError::Busy)
        );
        drop(held);
        assert_eq!(
            read_all(vec![b' '; 500], false, 2000, &budget)
                .await
                .map(|b| b.len()),
            Ok(500)
        );
        assert_eq!(budget.used(), 0);
    }
}
