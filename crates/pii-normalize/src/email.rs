//! Email addresses.

use crate::Rejected;
use crate::hash::{HashAlgorithm, HexDigest, digest};
use crate::macros::text_impls;

/// A normalised email address: no whitespace, lowercase, one `@`, a dotted domain.
///
/// Normalisation (LiveRamp: "lower-case, remove all whitespace"):
/// 1. remove every Unicode whitespace character (`char::is_whitespace`), and the invisible
///    zero-width space U+200B, word joiner U+2060 and byte-order mark U+FEFF that exports leave
///    around values;
/// 2. lowercase with full Unicode lowercasing (`str::to_lowercase`);
/// 3. require exactly one `@`, a non-empty local part, a domain of at least two non-empty labels
///    separated by dots, no label starting or ending with `-`, and only characters that can
///    appear in an unquoted address: in the local part ASCII letters, digits, ``.!#$%&'*+-/=?^_`{|}~``;
///    in the domain ASCII letters, digits and `-`; anywhere, non-ASCII characters other than
///    control characters (internationalised addresses). At most 254 bytes.
///
/// Dots and `+tags` are kept: LiveRamp does not ask to remove them. `parse` is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Characters removed from emails besides Unicode whitespace.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

fn local_byte_ok(b: u8) -> bool {
    b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || matches!(
            b,
            b'.' | b'!'
                | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

fn domain_byte_ok(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
}

/// The longest address SMTP allows (RFC 5321 forward-path minus angle brackets).
const MAX_LEN: usize = 254;

fn validate(s: &str) -> Result<(), Rejected> {
    if s.is_empty() {
        return Err(Rejected::EmailEmpty);
    }
    let mut parts = s.splitn(3, '@');
    let local = parts.next().unwrap_or_default();
    let Some(domain) = parts.next() else {
        return Err(Rejected::EmailNoAt);
    };
    if parts.next().is_some() {
        return Err(Rejected::EmailManyAt);
    }
    if local.is_empty() {
        return Err(Rejected::EmailEmptyLocal);
    }
    if local.is_ascii() {
        if !local.bytes().all(local_byte_ok) {
            return Err(Rejected::EmailBadChar);
        }
    } else if !local.chars().all(|c| {
        if c.is_ascii() {
            local_byte_ok(c as u8)
        } else {
            !c.is_control()
        }
    }) {
        return Err(Rejected::EmailBadChar);
    }
    if domain.is_ascii() {
        if !domain.bytes().all(domain_byte_ok) {
            return Err(Rejected::EmailBadChar);
        }
    } else if !domain.chars().all(|c| {
        if c.is_ascii() {
            domain_byte_ok(c as u8)
        } else {
            !c.is_control()
        }
    }) {
        return Err(Rejected::EmailBadChar);
    }
    let mut labels = 0usize;
    for label in domain.split('.') {
        if label.is_empty() || label.starts_with('-') || label.ends_with('-') {
            return Err(Rejected::EmailBadDomain);
        }
        labels += 1;
    }
    if labels < 2 {
        return Err(Rejected::EmailBadDomain);
    }
    if s.len() > MAX_LEN {
        return Err(Rejected::EmailTooLong);
    }
    Ok(())
}

impl Email {
    /// Normalises a raw email; see the type docs for the rules.
    ///
    /// ```
    /// use liveramp_pii_normalize::Email;
    /// let e = Email::parse(" MyName@LiveRamp.com ").unwrap();
    /// assert_eq!(e.as_str(), "myname@liveramp.com");
    /// assert_eq!(Email::parse("no-at-sign").unwrap_err().code(), "email.no_at");
    /// ```
    pub fn parse(raw: &str) -> Result<Email, Rejected> {
        Email::parse_with(raw, String::new())
    }

    /// Like [`Email::parse`], storing the address in `buffer` (cleared first) so that a
    /// buffer taken back with [`Email::into_buffer`] is reused instead of allocating.
    ///
    /// ```
    /// use liveramp_pii_normalize::Email;
    /// let e = Email::parse_with(" MyName@LiveRamp.com ", String::with_capacity(64)).unwrap();
    /// assert_eq!(e, Email::parse(" MyName@LiveRamp.com ").unwrap());
    /// let buffer = e.into_buffer();
    /// assert_eq!(Email::parse_with("x", buffer).unwrap_err().code(), "email.no_at");
    /// ```
    pub fn parse_with(raw: &str, buffer: String) -> Result<Email, Rejected> {
        let mut s = buffer;
        s.clear();
        let normalized = if raw.is_ascii() {
            s.reserve(raw.len());
            for b in raw.bytes() {
                // ASCII members of Unicode White_Space: \t \n \x0B \x0C \r and space.
                if !matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ') {
                    s.push(char::from(b.to_ascii_lowercase()));
                }
            }
            s
        } else {
            let stripped: String = raw
                .chars()
                .filter(|&c| !c.is_whitespace() && !is_invisible(c))
                .collect();
            stripped.to_lowercase()
        };
        validate(&normalized)?;
        Ok(Email(normalized))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address's storage, for reuse by [`Email::parse_with`].
    pub fn into_buffer(self) -> String {
        self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }

    /// Lowercase hex digest of the normalised address; equals
    /// [`hex_digest`](crate::hex_digest)`(algorithm, self.as_str())`.
    pub fn hashed(&self, algorithm: HashAlgorithm) -> String {
        crate::hex_digest(algorithm, &self.0)
    }

    /// Like [`Email::hashed`] but without allocating.
    pub fn digest(&self, algorithm: HashAlgorithm) -> HexDigest {
        digest(algorithm, &self.0)
    }
}

text_impls!(Email);
