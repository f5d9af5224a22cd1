//! The streaming encryptor: OpenPGP SEIPD v1 (CFB + MDC) with AES-256, written packet by packet.
//!
//! Output layout (RFC 9580 / RFC 4880, all packets in the new format):
//!
//! ```text
//! PKESK v3 (session key encrypted to the subkey, by rPGP)
//! SEIPD v1 (tag 18): 0x01, then AES-256-CFB (zero IV, no resync) of
//!     16 random bytes, 2 repeated bytes (the "quick check")
//!     the literal packet (tag 11), or a ZLIB compressed packet (tag 8) holding it
//!     MDC packet: 0xD3 0x14 + SHA-1 of everything before it, including 0xD3 0x14
//! ```
//!
//! Both the inner packet and the SEIPD packet use partial body lengths of [`INNER_CHUNK`] and
//! [`OUTER_CHUNK`] bytes, ending with a fixed length (possibly 0), so the total size never needs
//! to be known. Memory is two chunk buffers, whatever the input size.
//!
//! Speed: the bulk work runs inside the dependencies (compiled optimised even in test builds):
//! SHA-1 over whole chunks and AES-CFB over whole 16-byte-aligned chunks through rPGP's
//! `encrypt_with_iv_regular`, carrying the CFB state (the last ciphertext block) between calls.
//! This crate only copies bytes (`memcpy`) and writes the few header bytes. The SHA-1 runs on
//! a helper thread ([`Mdc`]) in parallel with AES-CFB.

use std::io::{self, Write};

use flate2::write::ZlibEncoder;
use pgp::composed::RawSessionKey;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::{PacketTrait, PublicKeyEncryptedSessionKey};
use rand08::RngCore;
use sha1::{Digest, Sha1};

use crate::error::Error;
use crate::key::RecipientKey;

/// log2 of the partial body length used for the literal (or compressed) packet.
const INNER_CHUNK_LOG2: u8 = 18;
/// Partial body length of the literal (or compressed) packet: 256 KiB.
pub(crate) const INNER_CHUNK: usize = 1 << INNER_CHUNK_LOG2;
/// log2 of the partial body length used for the SEIPD packet.
const OUTER_CHUNK_LOG2: u8 = 18;
/// Partial body length of the SEIPD packet (and the size of each write to the inner writer).
pub(crate) const OUTER_CHUNK: usize = 1 << OUTER_CHUNK_LOG2;
/// AES block size.
const BLOCK: usize = 16;
/// Room kept in front of the outer buffer for a packet tag and a length header.
const RESERVED: usize = 6;

const TAG_COMPRESSED: u8 = 8;
const TAG_LITERAL: u8 = 11;
const TAG_SEIPD: u8 = 18;
/// OpenPGP compression algorithm ID of ZLIB (RFC 1950).
const ZLIB: u8 = 2;

/// Compression inside the encrypted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (the default): LiveRamp's files are usually gzip'd or hashed already, and
    /// compressing costs CPU for little gain.
    #[default]
    None,
    /// ZLIB (RFC 1950) at the default level, which every OpenPGP implementation reads.
    Zlib,
}

/// Options for [`EncryptingWriter::with_options`]. [`Default`] is what
/// [`EncryptingWriter::new`] uses: binary output, no compression, no embedded file name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptOptions {
    compression: Compression,
    file_name: String,
}

impl EncryptOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the compression inside the message (default [`Compression::None`]).
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Embeds `name` as the file name of the literal data (default: empty). GnuPG shows it and
    /// uses it with `--use-embedded-filename`; at most 255 bytes.
    #[must_use]
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = name.into();
        self
    }
}

/// Encrypts everything written to it into an OpenPGP message for one [`RecipientKey`], and
/// writes the (binary) message to the inner writer as it goes.
///
/// The message is a session key encrypted to the recipient's encryption subkey followed by
/// AES-256 SEIPD v1 data with a modification detection code (the form GnuPG 2.2 reads). Memory
/// stays under 2 MiB whatever the input size (plus ~256 KiB with ZLIB compression). Each writer
/// runs one helper thread that computes the SHA-1 in parallel with the encryption.
///
/// Call [`finish`](Self::finish) at the end: it writes the last bytes and the integrity code
/// and returns the inner writer. A writer dropped without `finish` leaves a truncated message
/// that GnuPG refuses to decrypt. After an I/O error the writer refuses further use: start the
/// file again.
///
/// `flush` flushes the inner writer only: up to about 512 KiB of the message stay buffered
/// until more data arrives or `finish` is called (OpenPGP packet framing needs whole chunks).
pub struct EncryptingWriter<W: Write> {
    state: State<W>,
    failed: bool,
}

enum State<W: Write> {
    Plain(Seipd<W>),
    Zlib {
        literal: LiteralFramer,
        zlib: Box<ZlibEncoder<Seipd<W>>>,
    },
}

impl<W: Write> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match (self.failed, &self.state) {
            (true, _) => "failed",
            (false, State::Plain(_)) => "streaming",
            (false, State::Zlib { .. }) => "streaming (zlib)",
        };
        f.debug_struct("EncryptingWriter")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<W: Write> EncryptingWriter<W> {
    /// Starts an encrypted message to `key` on `inner`: binary output, no compression. Writes
    /// the encrypted session key to `inner` right away.
    pub fn new(inner: W, key: &RecipientKey) -> Result<Self, Error> {
        Self::with_options(inner, key, &EncryptOptions::default())
    }

    /// Like [`new`](Self::new), with [`EncryptOptions`] (compression, embedded file name).
    pub fn with_options(
        mut inner: W,
        key: &RecipientKey,
        options: &EncryptOptions,
    ) -> Result<Self, Error> {
        let name = options.file_name.as_bytes();
        let Ok(name_len) = u8::try_from(name.len()) else {
            return Err(Error::FileNameTooLong { len: name.len() });
        };
        let mut rng = rand08::rngs::OsRng;
        let session_key = SymmetricKeyAlgorithm::AES256.new_session_key(rng);
        let pkesk = PublicKeyEncryptedSessionKey::from_session_key_v3(
            &mut rng,
            &session_key,
            SymmetricKeyAlgorithm::AES256,
            key.subkey(),
        )
        .map_err(|e| Error::SessionKey {
            key_id: key.encryption_subkey_id().to_string(),
            reason: e.to_string(),
        })?;
        let mut head = Vec::with_capacity(1024);
        pkesk
            .to_writer_with_header(&mut head)
            .map_err(|e| Error::SessionKey {
                key_id: key.encryption_subkey_id().to_string(),
                reason: e.to_string(),
            })?;
        inner
            .write_all(&head)
            .map_err(|e| Error::io("writing the encrypted output", e))?;

        // Literal data header: binary format, file name, date 0 (RFC 9580 5.9).
        let mut literal_header = Vec::with_capacity(6 + name.len());
        literal_header.push(b'b');
        literal_header.push(name_len);
        literal_header.extend_from_slice(name);
        literal_header.extend_from_slice(&[0; 4]);

        let mut prefix = [0u8; BLOCK];
        rng.fill_bytes(&mut prefix);
        let outer = Outer::new(inner);
        let state = match options.compression {
            Compression::None => {
                let mut seipd = Seipd::new(outer, session_key, prefix, TAG_LITERAL);
                seipd
                    .write_body(&literal_header)
                    .map_err(|e| Error::io("writing the encrypted output", e))?;
                State::Plain(seipd)
            }
            Compression::Zlib => {
                let mut seipd = Seipd::new(outer, session_key, prefix, TAG_COMPRESSED);
                seipd
                    .write_body(&[ZLIB])
                    .map_err(|e| Error::io("writing the encrypted output", e))?;
                State::Zlib {
                    literal: LiteralFramer::new(&literal_header),
                    zlib: Box::new(ZlibEncoder::new(seipd, flate2::Compression::default())),
                }
            }
        };
        Ok(Self {
            state,
            failed: false,
        })
    }

    /// The inner writer (for example to see how much has been written so far).
    pub fn get_ref(&self) -> &W {
        match &self.state {
            State::Plain(s) => &s.out.inner,
            State::Zlib { zlib, .. } => &zlib.get_ref().out.inner,
        }
    }

    /// Ends the message: writes the remaining data, the integrity code (MDC) and the final
    /// packet lengths, flushes the inner writer and returns it.
    pub fn finish(self) -> Result<W, Error> {
        let context = "writing the end of the encrypted output";
        if self.failed {
            return Err(Error::io(context, failed_error()));
        }
        match self.state {
            State::Plain(seipd) => seipd.finish().map_err(|e| Error::io(context, e)),
            State::Zlib { literal, mut zlib } => {
                literal
                    .finish(&mut zlib)
                    .map_err(|e| Error::io(context, e))?;
                let seipd = (*zlib).finish().map_err(|e| Error::io(context, e))?;
                seipd.finish().map_err(|e| Error::io(context, e))
            }
        }
    }
}

fn failed_error() -> io::Error {
    io::Error::other(
        "an earlier write to this encrypted file failed, so the output is incomplete; \
         start the file again with a new EncryptingWriter",
    )
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(failed_error());
        }
        let res = match &mut self.state {
            State::Plain(seipd) => seipd.write_body(buf),
            State::Zlib { literal, zlib } => literal.write(buf, zlib),
        };
        match res {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(failed_error());
        }
        match &mut self.state {
            State::Plain(s) => s.out.inner.flush(),
            State::Zlib { zlib, .. } => zlib.get_mut().out.inner.flush(),
        }
    }
}

/// Encodes a fixed body length (RFC 9580 4.2.1.1-3) into `out`, returning the length used.
/// Each cast is of a value the branch has bounded (lengths are at most one 256 KiB chunk).
#[allow(clippy::cast_possible_truncation)]
fn fixed_length(len: usize, out: &mut [u8; 5]) -> usize {
    if len < 192 {
        out[0] = len as u8;
        1
    } else if len < 8384 {
        let v = len - 192;
        out[0] = ((v >> 8) + 192) as u8;
        out[1] = (v & 0xff) as u8;
        2
    } else {
        out[0] = 0xff;
        // Lengths here are at most one chunk (256 KiB), far below u32::MAX.
        out[1..5].copy_from_slice(&(len as u32).to_be_bytes());
        5
    }
}

/// Frames a packet body into partial chunks of [`INNER_CHUNK`] bytes, buffering one chunk.
/// Used for the literal packet when it is compressed (its frames go into the compressor).
struct LiteralFramer {
    buf: Vec<u8>,
    first: bool,
}

impl LiteralFramer {
    fn new(literal_header: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(INNER_CHUNK);
        buf.extend_from_slice(literal_header);
        Self { buf, first: true }
    }

    fn header_byte(&mut self) -> Option<u8> {
        std::mem::replace(&mut self.first, false).then_some(0xC0 | TAG_LITERAL)
    }

    fn write(&mut self, mut data: &[u8], sink: &mut impl Write) -> io::Result<()> {
        while !data.is_empty() {
            let n = (INNER_CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == INNER_CHUNK {
                if let Some(tag) = self.header_byte() {
                    sink.write_all(&[tag])?;
                }
                sink.write_all(&[0xE0 | INNER_CHUNK_LOG2])?;
                sink.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    fn finish(mut self, sink: &mut impl Write) -> io::Result<()> {
        if let Some(tag) = self.header_byte() {
            sink.write_all(&[tag])?;
        }
        let mut len = [0u8; 5];
        let n = fixed_length(self.buf.len(), &mut len);
        sink.write_all(&len[..n])?;
        sink.write_all(&self.buf)
    }
}

/// The encryption layer. `buf` holds plaintext of the encrypted stream not yet encrypted:
/// bytes before `hdr_pos` are final (and already hashed); `buf[hdr_pos]` is the placeholder for
/// the length header of the open chunk of the inner packet, whose body bytes follow it. A chunk
/// is encrypted only once it is complete and its header known.
struct Seipd<W: Write> {
    out: Outer<W>,
    session_key: RawSessionKey,
    iv: [u8; BLOCK],
    hasher: Mdc,
    buf: Vec<u8>,
    hdr_pos: usize,
}

impl<W: Write> Seipd<W> {
    fn new(out: Outer<W>, session_key: RawSessionKey, prefix: [u8; BLOCK], tag: u8) -> Self {
        let mut buf = Vec::with_capacity(INNER_CHUNK + 64);
        buf.extend_from_slice(&prefix);
        buf.extend_from_slice(&prefix[BLOCK - 2..]);
        buf.push(0xC0 | tag);
        let mut hasher = Mdc::new();
        // Cannot fail: the hashing thread has just started.
        let _ = hasher.update(&buf);
        let hdr_pos = buf.len();
        buf.push(0);
        Self {
            out,
            session_key,
            iv: [0; BLOCK],
            hasher,
            buf,
            hdr_pos,
        }
    }

    fn body_len(&self) -> usize {
        self.buf.len() - self.hdr_pos - 1
    }

    fn write_body(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = INNER_CHUNK - self.body_len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if n == room {
                self.close_chunk()?;
            }
        }
        Ok(())
    }

    /// The open chunk is full: give it a partial length header, hash it, encrypt every whole
    /// block and pass the ciphertext on; keep the unaligned tail (< 16 bytes) for next time.
    fn close_chunk(&mut self) -> io::Result<()> {
        self.buf[self.hdr_pos] = 0xE0 | INNER_CHUNK_LOG2;
        self.hasher.update(&self.buf[self.hdr_pos..])?;
        let aligned = self.buf.len() / BLOCK * BLOCK;
        cfb_encrypt(&self.session_key, &mut self.iv, &mut self.buf[..aligned])?;
        self.out.push(&self.buf[..aligned])?;
        let tail = self.buf.len() - aligned;
        self.buf.copy_within(aligned.., 0);
        self.buf.truncate(tail);
        self.hdr_pos = tail;
        self.buf.push(0);
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        let mut len = [0u8; 5];
        let n = fixed_length(self.body_len(), &mut len);
        self.buf
            .splice(self.hdr_pos..=self.hdr_pos, len[..n].iter().copied());
        self.hasher.update(&self.buf[self.hdr_pos..])?;
        let mdc_header = [0xD3, 0x14];
        self.hasher.update(&mdc_header)?;
        let digest = self.hasher.finalize()?;
        self.buf.extend_from_slice(&mdc_header);
        self.buf.extend_from_slice(&digest);
        cfb_encrypt(&self.session_key, &mut self.iv, &mut self.buf)?;
        self.out.push(&self.buf)?;
        self.out.finish()
    }
}

/// How many chunks may wait for the hashing thread (bounds memory: each is at most 256 KiB).
const MDC_QUEUE: usize = 3;

/// The SHA-1 of the modification detection code, computed on its own thread so that it runs
/// in parallel with AES-CFB (each is serial; together they would double the time per byte).
/// Chunks are copied into recycled buffers and queued; the writer waits only when the queue is
/// full or at the end. Without a thread (it could not be started) it hashes inline.
enum Mdc {
    Inline(Sha1),
    Thread {
        queue: std::sync::mpsc::SyncSender<Vec<u8>>,
        recycled: std::sync::mpsc::Receiver<Vec<u8>>,
        handle: std::thread::JoinHandle<Sha1>,
    },
}

impl Mdc {
    fn new() -> Self {
        let (queue, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(MDC_QUEUE);
        let (give_back, recycled) = std::sync::mpsc::sync_channel::<Vec<u8>>(MDC_QUEUE + 2);
        let spawned = std::thread::Builder::new()
            .name("liveramp-encrypt-mdc".into())
            .spawn(move || {
                let mut sha = Sha1::new();
                for chunk in chunks {
                    sha.update(&chunk);
                    let _ = give_back.try_send(chunk);
                }
                sha
            });
        match spawned {
            Ok(handle) => Mdc::Thread {
                queue,
                recycled,
                handle,
            },
            Err(_) => Mdc::Inline(Sha1::new()),
        }
    }

    fn update(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Mdc::Inline(sha) => {
                sha.update(data);
                Ok(())
            }
            Mdc::Thread {
                queue, recycled, ..
            } => {
                let mut chunk = recycled
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(INNER_CHUNK + 64));
                chunk.clear();
                chunk.extend_from_slice(data);
                queue
                    .send(chunk)
                    .map_err(|_| io::Error::other("the SHA-1 (MDC) thread stopped unexpectedly"))
            }
        }
    }

    fn finalize(self) -> io::Result<[u8; 20]> {
        let sha = match self {
            Mdc::Inline(sha) => sha,
            Mdc::Thread { queue, handle, .. } => {
                drop(queue);
                handle
                    .join()
                    .map_err(|_| io::Error::other("the SHA-1 (MDC) thread panicked"))?
            }
        };
        Ok(sha.finalize().into())
    }
}

/// Encrypts `data` in place with AES-256 in CFB mode from `iv`, and leaves in `iv` the last
/// ciphertext block, which continues the stream. `data` must be a whole number of blocks except
/// on the last call.
fn cfb_encrypt(key: &RawSessionKey, iv: &mut [u8; BLOCK], data: &mut [u8]) -> io::Result<()> {
    SymmetricKeyAlgorithm::AES256
        .encrypt_with_iv_regular(key.as_ref(), iv.as_slice(), data)
        .map_err(|e| io::Error::other(format!("AES-256-CFB encryption failed: {e}")))?;
    if let Some(last) = data.len().checked_sub(BLOCK) {
        iv.copy_from_slice(&data[last..]);
    }
    Ok(())
}

/// Lets the compressor write into the encrypted packet body.
impl<W: Write> Write for Seipd<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_body(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The SEIPD packet framing: `buf` is [`RESERVED`] bytes of room for the header, then the body
/// of the open chunk. Each full chunk goes to the inner writer in one `write_all`.
struct Outer<W: Write> {
    inner: W,
    buf: Vec<u8>,
    first: bool,
}

impl<W: Write> Outer<W> {
    fn new(inner: W) -> Self {
        let mut buf = Vec::with_capacity(RESERVED + OUTER_CHUNK);
        buf.resize(RESERVED, 0);
        buf.push(1); // SEIPD version 1
        Self {
            inner,
            buf,
            first: true,
        }
    }

    fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = OUTER_CHUNK - (self.buf.len() - RESERVED);
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if n == room {
                self.buf[RESERVED - 1] = 0xE0 | OUTER_CHUNK_LOG2;
                let start = self.start_with_tag(RESERVED - 1);
                self.inner.write_all(&self.buf[start..])?;
                self.buf.truncate(RESERVED);
            }
        }
        Ok(())
    }

    /// Puts the packet tag before `start` on the first chunk; returns where the output begins.
    fn start_with_tag(&mut self, start: usize) -> usize {
        if std::mem::replace(&mut self.first, false) {
            self.buf[start - 1] = 0xC0 | TAG_SEIPD;
            start - 1
        } else {
            start
        }
    }

    fn finish(mut self) -> io::Result<W> {
        let mut len = [0u8; 5];
        let n = fixed_length(self.buf.len() - RESERVED, &mut len);
        let start = RESERVED - n;
        self.buf[start..RESERVED].copy_from_slice(&len[..n]);
        let start = self.start_with_tag(start);
        self.inner.write_all(&self.buf[start..])?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connector moves writers to worker threads and shares keys between them.
    #[test]
    fn writers_are_send_and_keys_are_send_and_sync() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<EncryptingWriter<std::fs::File>>();
        send_sync::<RecipientKey>();
        send_sync::<Error>();
    }

    /// The integration tests place their boundary sizes with these values.
    #[test]
    fn chunk_sizes_are_the_documented_ones() {
        assert_eq!(INNER_CHUNK, 256 * 1024);
        assert_eq!(OUTER_CHUNK, 256 * 1024);
        assert_eq!(BLOCK, 16);
    }

    #[test]
    fn fixed_lengths_follow_rfc_9580() {
        let mut b = [0u8; 5];
        assert_eq!((fixed_length(0, &mut b), b[0]), (1, 0));
        assert_eq!((fixed_length(191, &mut b), b[0]), (1, 191));
        assert_eq!(fixed_length(192, &mut b), 2);
        assert_eq!(&b[..2], &[192, 0]);
        assert_eq!(fixed_length(8383, &mut b), 2);
        assert_eq!(&b[..2], &[223, 255]);
        assert_eq!(fixed_length(8384, &mut b), 5);
        assert_eq!(b, [255, 0, 0, 0x20, 0xC0]);
    }
}
