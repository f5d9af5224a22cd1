//! Streaming OpenPGP encryption to a recipient's encryption subkey that GnuPG decrypts.
//!
//! This is the "Encrypt this file" setting of mParticle's LiveRamp integration: every file is
//! OpenPGP-encrypted to LiveRamp's public key *as it streams*, so plaintext PII never has to
//! exist on disk. It is built on [rPGP](https://docs.rs/pgp) (the `pgp` crate), whose types
//! never appear in this crate's API: a new rPGP release changes this crate only.
//!
//! # The two pieces
//!
//! - [`RecipientKey`] loads the recipient's public key (armored or binary) and selects its
//!   **encryption subkey**: a subkey whose binding signature verifies and carries the
//!   encrypt-communications or encrypt-storage flag, that is neither expired nor revoked (the
//!   newest when several qualify). LiveRamp rejects files encrypted to a primary key, so the
//!   primary key is never used. It exposes what `liveramp check` prints
//!   ([`fingerprint`](RecipientKey::fingerprint),
//!   [`encryption_subkey_id`](RecipientKey::encryption_subkey_id),
//!   [`expires_at`](RecipientKey::expires_at), [`algorithm`](RecipientKey::algorithm)) and
//!   returns a [`Warning`] when the key expires within 30 days. Every way a key can be unusable
//!   is a typed [`Error`] that says what to do; a secret key given by mistake is refused
//!   without echoing any of it.
//! - [`EncryptingWriter`] is a [`std::io::Write`] adapter: everything written to it is
//!   encrypted and written to the inner writer as binary OpenPGP data. Memory stays under
//!   2 MiB whatever the size of the input; [`EncryptingWriter::finish`] ends the message and
//!   returns the inner writer.
//!
//! # What the output is
//!
//! A version 3 public-key encrypted session key packet for the subkey, then a version 1
//! Symmetrically Encrypted Integrity Protected Data packet (AES-256 in OpenPGP CFB mode, with
//! the SHA-1 modification detection code) holding a binary literal data packet, optionally
//! inside a ZLIB compressed packet ([`Compression::Zlib`]; off by default because LiveRamp's
//! files are usually gzip'd or hashed already). That is the form GnuPG 2.2 (which cannot read
//! SEIPD v2/AEAD) decrypts: `gpg --decrypt file.csv.gpg`. Packets use partial body lengths of
//! 256 KiB, so the size of the input never needs to be known.
//!
//! # Design
//!
//! rPGP's message builder *pulls* plaintext from a `Read`; a `Write` adapter on top of it would
//! need a thread and a `Send + 'static` inner writer. Instead this crate writes the (simple)
//! packet framing itself and leaves all cryptography to rPGP and RustCrypto: rPGP encrypts the
//! session key to the subkey and runs AES-256-CFB over whole chunks
//! (`SymmetricKeyAlgorithm::encrypt_with_iv_regular`, carrying the CFB state from chunk to
//! chunk), and the `sha1` crate computes the MDC. The two are independent and each is serial,
//! so the SHA-1 runs on a helper thread (one per writer, fed through a bounded queue of at most
//! three 256 KiB chunks) while AES-CFB runs on the writing thread; if no thread can be started
//! it is computed inline. Each byte is copied twice in memory; each write to the inner writer
//! is one 256 KiB chunk.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//! use liveramp_encrypt::{EncryptingWriter, RecipientKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The public key LiveRamp gave you (here: the project's demo key).
//! let armored = include_str!("../tests/data/demo-public-key.asc");
//! let key = RecipientKey::from_armored(armored)?;
//! assert_eq!(key.fingerprint(), "8B2FAE87B152E00C2620BFC9B6E44EEC946DB937");
//! assert_eq!(key.encryption_subkey_id(), "DE0CDAA688C80D01");
//! assert_eq!(key.algorithm().to_string(), "cv25519");
//! for warning in key.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//!
//! // Encrypt a CSV as it is produced; the inner writer could be a file or an SFTP upload.
//! let mut writer = EncryptingWriter::new(Vec::new(), &key)?;
//! writer.write_all(b"EMAIL1_SHA256\n")?;
//! writer.write_all(b"8b1a9953c4611296a827abf8c47804d7e6c49c6b4fbb0f1d1e4f8c3a2a1f0e2d\n")?;
//! let encrypted: Vec<u8> = writer.finish()?;
//!
//! // Binary OpenPGP: a public-key encrypted session key packet comes first.
//! assert_eq!(encrypted[0], 0xC1);
//! # Ok(())
//! # }
//! ```
//!
//! With options (compression, the file name GnuPG shows):
//!
//! ```
//! # use liveramp_encrypt::{Compression, EncryptOptions, EncryptingWriter, RecipientKey};
//! # fn main() -> Result<(), liveramp_encrypt::Error> {
//! # let key = RecipientKey::from_armored(include_str!("../tests/data/demo-public-key.asc"))?;
//! let options = EncryptOptions::new()
//!     .compression(Compression::Zlib)
//!     .file_name("3242_17095-PII_2020-04-01.csv");
//! let writer = EncryptingWriter::with_options(std::io::sink(), &key, &options)?;
//! writer.finish()?;
//! # Ok(())
//! # }
//! ```
//!
//! Errors are typed and explain themselves:
//!
//! ```
//! use liveramp_encrypt::{Error, RecipientKey};
//!
//! let err = RecipientKey::from_bytes(b"").unwrap_err();
//! assert!(matches!(err, Error::NotAPublicKey { .. }));
//! println!("{err}"); // not an OpenPGP public key: the input is empty; give the recipient's ...
//! ```
//!
//! # Testing
//!
//! The tests use the real `gpg` (GnuPG 2.2 or later) in temporary `GNUPGHOME`s: keys generated
//! by `gpg` (RSA 3072 and ed25519/cv25519) and by rPGP, every kind of unusable key, and
//! messages from 0 bytes to a 200 MiB stream, each decrypted by `gpg --decrypt` and compared
//! byte for byte. `cargo bench -p liveramp-encrypt` compares throughput and peak memory with
//! `gpg --encrypt --compress-algo none` on a 1 GiB stream.
#![deny(missing_docs)]
// Product names (OpenPGP, GnuPG, LiveRamp, ...) are prose here, not code to put in backticks.
#![allow(clippy::doc_markdown)]

mod error;
mod key;
mod writer;

pub use error::{Error, KeyPart};
pub use key::{Curve, EXPIRY_WARNING_DAYS, KeyAlgorithm, RecipientKey, Warning};
pub use writer::{Compression, EncryptOptions, EncryptingWriter};
