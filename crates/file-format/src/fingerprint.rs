//! Header fingerprints: LiveRamp pauses a file whose header differs from the audience's first.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::encode::LineEncoder;
use crate::error::{Error, Result};

/// A stable digest of a header row: the SHA-256 of the header line exactly as the
/// [`CsvFileWriter`](crate::CsvFileWriter) writes it (UTF-8 CSV, trailing `\n` included).
///
/// Because it hashes the file's own first line, anyone can recompute it from a delivered
/// (decrypted, decompressed) file with `head -n 1 FILE | sha256sum`. Names, capitalisation and
/// order all change it, which is exactly what makes LiveRamp pause a file.
///
/// The connector stores the fingerprint of the last header delivered per audience and data
/// type (as [`to_hex`](Self::to_hex)) and calls [`check_unchanged`](Self::check_unchanged)
/// before uploading the next file.
///
/// ```
/// use liveramp_file_format::{Error, HeaderCheck, HeaderFingerprint};
///
/// let delivered = HeaderFingerprint::of(&["EMAIL1", "PHONE1"])?;
/// let tonight = HeaderFingerprint::of(&["PHONE1", "EMAIL1"])?;
/// assert_eq!(delivered.check_unchanged(Some(&delivered), false)?, HeaderCheck::Unchanged);
/// assert!(matches!(tonight.check_unchanged(Some(&delivered), false), Err(Error::HeaderChanged { .. })));
/// assert_eq!(tonight.check_unchanged(Some(&delivered), true)?, HeaderCheck::ChangeAccepted);
/// assert_eq!(delivered.to_hex().parse::<HeaderFingerprint>()?, delivered);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderFingerprint([u8; 32]);

/// The outcome of [`HeaderFingerprint::check_unchanged`] when the file may be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderCheck {
    /// No header was delivered before for this audience and data type: this one becomes the
    /// reference LiveRamp maps automatically.
    First,
    /// Same header as last delivered.
    Unchanged,
    /// The header differs and the operator accepted the change: LiveRamp will pause the file
    /// until someone re-maps it.
    ChangeAccepted,
}

impl HeaderFingerprint {
    /// The fingerprint of `header` after checking it the way the writer does (see
    /// [`CsvFileWriter::new`](crate::CsvFileWriter::new)).
    pub fn of<S: AsRef<str>>(header: &[S]) -> Result<Self> {
        validate_header(header)?;
        let mut encoder = LineEncoder::new();
        encoder.encode(header).map_err(|err| Error::InvalidHeader {
            reason: err.to_string(),
        })?;
        Ok(Self::of_line(&encoder.line()))
    }

    pub(crate) fn of_line(line: &[u8]) -> Self {
        Self(Sha256::digest(line).into())
    }

    /// Parses 64 hexadecimal digits (as written by [`to_hex`](Self::to_hex)).
    pub fn from_hex(hex_digits: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).map_err(|_| Error::InvalidFingerprint {
            value: hex_digits.to_owned(),
        })?;
        Ok(Self(bytes))
    }

    /// Lower-case hexadecimal, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether a file with this header may be delivered after one whose header had fingerprint
    /// `previous` (`None`: nothing delivered yet). A different header is an
    /// [`Error::HeaderChanged`] unless `accept_change` records the operator's explicit consent.
    pub fn check_unchanged(
        &self,
        previous: Option<&HeaderFingerprint>,
        accept_change: bool,
    ) -> Result<HeaderCheck> {
        match previous {
            None => Ok(HeaderCheck::First),
            Some(previous) if previous == self => Ok(HeaderCheck::Unchanged),
            Some(_) if accept_change => Ok(HeaderCheck::ChangeAccepted),
            Some(previous) => Err(Error::HeaderChanged {
                previous: previous.to_hex(),
                current: self.to_hex(),
            }),
        }
    }
}

impl fmt::Debug for HeaderFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeaderFingerprint({})", self.to_hex())
    }
}

impl fmt::Display for HeaderFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for HeaderFingerprint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::from_hex(s)
    }
}

/// Checks a header row: at least one column, every name non-empty, unique, and free of
/// whitespace and control characters (LiveRamp: "no spaces"; a line break would split the row).
pub(crate) fn validate_header<S: AsRef<str>>(header: &[S]) -> Result<()> {
    if header.is_empty() {
        return Err(Error::InvalidHeader {
            reason: "it has no columns".to_owned(),
        });
    }
    for (i, name) in header.iter().enumerate() {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(Error::InvalidHeader {
                reason: format!("column {} has an empty name", i + 1),
            });
        }
        if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidHeader {
                reason: format!(
                    "column {} ({name:?}) contains {c:?} (U+{:04X}); LiveRamp header names \
                     have no spaces or control characters",
                    i + 1,
                    u32::from(c)
                ),
            });
        }
        if header[..i].iter().any(|other| other.as_ref() == name) {
            return Err(Error::InvalidHeader {
                reason: format!("column name {name:?} appears more than once"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_the_written_line() {
        let fp = HeaderFingerprint::of(&["FIRSTNAME", "EMAIL1_SHA-1"]).unwrap();
        // printf 'FIRSTNAME,EMAIL1_SHA-1\n' | sha256sum
        assert_eq!(
            fp.to_hex(),
            hex::encode(Sha256::digest(b"FIRSTNAME,EMAIL1_SHA-1\n"))
        );
        assert_eq!(fp.to_hex().len(), 64);
        assert_ne!(
            fp,
            HeaderFingerprint::of(&["firstname", "EMAIL1_SHA-1"]).unwrap()
        );
        assert_ne!(
            fp,
            HeaderFingerprint::of(&["EMAIL1_SHA-1", "FIRSTNAME"]).unwrap()
        );
        assert_ne!(
            fp,
            HeaderFingerprint::of(&["FIRSTNAME,EMAIL1_SHA-1"]).unwrap()
        );
    }

    #[test]
    fn check_unchanged() {
        let a = HeaderFingerprint::of(&["A"]).unwrap();
        let b = HeaderFingerprint::of(&["B"]).unwrap();
        assert_eq!(a.check_unchanged(None, false).unwrap(), HeaderCheck::First);
        assert_eq!(
            a.check_unchanged(Some(&a), false).unwrap(),
            HeaderCheck::Unchanged
        );
        assert_eq!(
            b.check_unchanged(Some(&a), true).unwrap(),
            HeaderCheck::ChangeAccepted
        );
        let err = b.check_unchanged(Some(&a), false).unwrap_err();
        match &err {
            Error::HeaderChanged { previous, current } => {
                assert_eq!(previous, &a.to_hex());
                assert_eq!(current, &b.to_hex());
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("accept the header change"));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let a = HeaderFingerprint::of(&["A", "B"]).unwrap();
        assert_eq!(HeaderFingerprint::from_hex(&a.to_hex()).unwrap(), a);
        assert_eq!(a.to_string(), a.to_hex());
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(66)] {
            assert!(matches!(
                HeaderFingerprint::from_hex(bad),
                Err(Error::InvalidFingerprint { .. })
            ));
        }
    }

    #[test]
    fn invalid_headers() {
        let empty: [&str; 0] = [];
        for header in [
            &empty[..],
            &["A", ""],
            &["FIRST NAME"],
            &["A\nB"],
            &["A", "B", "A"],
        ] {
            assert!(
                matches!(
                    HeaderFingerprint::of(header),
                    Err(Error::InvalidHeader { .. })
                ),
                "{header:?}"
            );
        }
    }
}
