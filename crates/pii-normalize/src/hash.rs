//! Hex digests of normalised values.

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// A hash algorithm LiveRamp accepts for hashed identifiers.
///
/// Its text form (for [`FromStr`] and [`Display`](fmt::Display)) is `md5`, `sha1` or `sha256`;
/// parsing also accepts any case and the hyphenated spellings `sha-1` and `sha-256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    /// MD5 (32 hex characters).
    Md5,
    /// SHA-1 (40 hex characters). The only hash LiveRamp accepts for phones.
    Sha1,
    /// SHA-256 (64 hex characters).
    Sha256,
}

impl HashAlgorithm {
    /// All algorithms, in the order MD5, SHA-1, SHA-256.
    pub const ALL: [HashAlgorithm; 3] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
    ];

    /// The text form: `md5`, `sha1` or `sha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// Length of the digest in lowercase hex characters: 32, 40 or 64.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 32,
            HashAlgorithm::Sha1 => 40,
            HashAlgorithm::Sha256 => 64,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a hash algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash algorithm: use md5, sha1 or sha256")]
pub struct UnknownHashAlgorithm;

impl FromStr for HashAlgorithm {
    type Err = UnknownHashAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("md5") {
            Ok(HashAlgorithm::Md5)
        } else if s.eq_ignore_ascii_case("sha1") || s.eq_ignore_ascii_case("sha-1") {
            Ok(HashAlgorithm::Sha1)
        } else if s.eq_ignore_ascii_case("sha256") || s.eq_ignore_ascii_case("sha-256") {
            Ok(HashAlgorithm::Sha256)
        } else {
            Err(UnknownHashAlgorithm)
        }
    }
}

/// A lowercase hex digest held inline (no heap allocation): at most 64 characters.
///
/// Returned by [`digest`]; use [`HexDigest::as_str`] to write it out. This is the hot-path
/// alternative to [`hex_digest`], which allocates a `String`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexDigest {
    buf: [u8; 64],
    len: u8,
}

impl HexDigest {
    fn from_bytes(bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 64];
        let mut len = 0usize;
        for &b in bytes.iter().take(32) {
            buf[len] = HEX[usize::from(b >> 4)];
            buf[len + 1] = HEX[usize::from(b & 0x0f)];
            len += 2;
        }
        HexDigest {
            buf,
            // At most 64, always fits.
            len: u8::try_from(len).unwrap_or(64),
        }
    }

    /// The digest as lowercase hex.
    pub fn as_str(&self) -> &str {
        let bytes = &self.buf[..usize::from(self.len)];
        // Only ASCII hex digits are ever written into the buffer.
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HexDigest").field(&self.as_str()).finish()
    }
}

impl AsRef<str> for HexDigest {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Hashes the UTF-8 bytes of `normalized` and returns the digest inline, without allocating.
///
/// ```
/// use liveramp_pii_normalize::{digest, HashAlgorithm};
/// let d = digest(HashAlgorithm::Md5, "");
/// assert_eq!(d.as_str(), "d41d8cd98f00b204e9800998ecf8427e");
/// ```
pub fn digest(algorithm: HashAlgorithm, normalized: &str) -> HexDigest {
    let data = normalized.as_bytes();
    match algorithm {
        HashAlgorithm::Md5 => HexDigest::from_bytes(&Md5::digest(data)),
        HashAlgorithm::Sha1 => HexDigest::from_bytes(&Sha1::digest(data)),
        HashAlgorithm::Sha256 => HexDigest::from_bytes(&Sha256::digest(data)),
    }
}

/// Lowercase hex digest of the UTF-8 bytes of `normalized`, as LiveRamp wants it (no `0x`).
///
/// The value should already be normalised (for example [`Email::as_str`](crate::Email::as_str)).
///
/// ```
/// use liveramp_pii_normalize::{hex_digest, HashAlgorithm};
/// assert_eq!(
///     hex_digest(HashAlgorithm::Sha1, "abc"),
///     "a9993e364706816aba3e25717850c26c9cd0d89d"
/// );
/// ```
pub fn hex_digest(algorithm: HashAlgorithm, normalized: &str) -> String {
    digest(algorithm, normalized).as_str().to_owned()
}

/// Appends the lowercase hex digest of `normalized` to `out`, without any other allocation.
///
/// Reusing one `String` across rows keeps the hot path allocation-free.
pub fn hex_digest_into(algorithm: HashAlgorithm, normalized: &str, out: &mut String) {
    out.push_str(digest(algorithm, normalized).as_str());
}

/// Whether `value` already looks like a digest of `algorithm`: exactly the right number of hex
/// digits (32, 40 or 64), in any case, with no `0x` prefix and no surrounding whitespace.
///
/// ```
/// use liveramp_pii_normalize::{looks_hashed, HashAlgorithm};
/// assert!(looks_hashed("D41D8CD98F00B204E9800998ECF8427E", HashAlgorithm::Md5));
/// assert!(!looks_hashed("0xd41d8cd98f00b204e9800998ecf8427e", HashAlgorithm::Md5));
/// ```
pub fn looks_hashed(value: &str, algorithm: HashAlgorithm) -> bool {
    value.len() == algorithm.hex_len() && value.bytes().all(|b| b.is_ascii_hexdigit())
}
