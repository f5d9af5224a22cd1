//! US / NANP phone numbers.

use std::borrow::Cow;

use crate::Rejected;
use crate::hash::{HashAlgorithm, HexDigest, digest};
use crate::macros::{ascii_str, text_impls};
use crate::nanp;

/// A normalised US/NANP phone number: its 10 national digits, e.g. `2125550123`.
///
/// Parsing follows libphonenumber (the `phonenumber` crate) with default region US: a number
/// is accepted when it is a *valid* number of country calling code 1 (the United States,
/// Canada and the other North American Numbering Plan regions). Extensions are dropped;
/// punctuation, a leading `+1`/`1` and vanity letters (`1-800-FLOWERS`) are handled as
/// libphonenumber handles them. Numbers of other countries, invalid numbers (such as the
/// unassigned area code 555) and text that is not a number are rejected with distinct codes.
///
/// Common shapes (10 digits, or `1`/`+1` and 10 digits, with spaces, dashes, dots, slashes or
/// parentheses, optionally an `x12`/`ext. 12`/`#12` extension) skip the parser: their validity
/// is looked up in a table compiled once, on first use (a few hundred milliseconds), from the
/// very regular expressions `phonenumber` validates with, so the answer is the same, about 40
/// times faster and without `phonenumber`'s global regex-cache lock. Everything else (vanity
/// letters, foreign numbers, `tel:` URIs, ...) goes through `phonenumber` itself.
///
/// One deliberate difference from the `phonenumber` crate: it misreads `+1` immediately
/// followed by the area code and a dash or dot (`+1212-555-0123`) as country code `+1212`;
/// libphonenumber reads country code 1, and so does this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone([u8; 10]);

impl Phone {
    /// Normalises a raw phone number; see the type docs for the rules.
    ///
    /// ```
    /// use liveramp_pii_normalize::Phone;
    /// assert_eq!(Phone::parse("+1 (212) 555-0123").unwrap().as_str(), "2125550123");
    /// assert_eq!(Phone::parse("+44 20 7946 0958").unwrap_err().code(), "phone.not_nanp");
    /// assert_eq!(Phone::parse("(555) 123-4567").unwrap_err().code(), "phone.invalid");
    /// ```
    pub fn parse(raw: &str) -> Result<Phone, Rejected> {
        parse_fast(raw)
            .unwrap_or_else(|| parse_full(raw))
            .map(Phone)
    }

    /// The 10 national digits.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }

    /// Lowercase hex digest of the 10 digits; equals
    /// [`hex_digest`](crate::hex_digest)`(algorithm, self.as_str())`. LiveRamp accepts only
    /// SHA-1 for hashed phones.
    pub fn hashed(&self, algorithm: HashAlgorithm) -> String {
        crate::hex_digest(algorithm, self.as_str())
    }

    /// Like [`Phone::hashed`] but without allocating.
    pub fn digest(&self, algorithm: HashAlgorithm) -> HexDigest {
        digest(algorithm, self.as_str())
    }
}

text_impls!(Phone);

/// The fast path for the common shapes: 10 digits (first 2-9), or `1` + 10 digits, or `+1` +
/// 10 digits, separated only by spaces, `-`, `.`, `(` and `)`, optionally followed by an
/// extension written `x12`, `ext 12`, `ext. 12`, `extension 12` or `#12` (which is dropped). For these shapes `phonenumber` yields country code 1 with those 10 digits as
/// the national number, so only validity remains, which [`nanp::TABLE`] decides exactly.
/// `None` means "use the full parse". The unit tests check both claims against the full parse.
pub(crate) fn parse_fast(raw: &str) -> Option<Result<[u8; 10], Rejected>> {
    let (digits, extension) = canonical_digits(raw)?;
    let table = nanp::TABLE.as_ref()?;
    if table.is_valid(&digits) {
        Some(Ok(digits))
    } else if extension {
        // `phonenumber` may fail earlier on some of these: let it give the reason.
        None
    } else {
        Some(Err(Rejected::PhoneInvalid))
    }
}

/// The 10 national digits of a common-shape NANP number (see [`parse_fast`]), and whether an
/// extension followed them.
fn canonical_digits(raw: &str) -> Option<([u8; 10], bool)> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    let plus = bytes.get(i) == Some(&b'+');
    if plus {
        if bytes.get(i + 1) != Some(&b'1') {
            return None;
        }
        i += 1;
    }
    let mut buf = [0u8; 11];
    let mut n = 0;
    let mut extension = false;
    let rest = bytes.get(i..)?;
    for (j, &c) in rest.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                *buf.get_mut(n)? = c;
                n += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' => {}
            _ if n >= 10 && is_extension(&rest[j..]) => {
                extension = true;
                break;
            }
            _ => return None,
        }
    }
    let national = match (plus, n) {
        (false, 10) => &buf[..10],
        (_, 11) if buf[0] == b'1' => &buf[1..],
        _ => return None,
    };
    if !(b'2'..=b'9').contains(&national[0]) {
        return None;
    }
    Some((national.try_into().ok()?, extension))
}

/// Whether `tail` is exactly an extension: a marker (`x`, `ext`, `ext.`, `extension`, `#`,
/// any case), optional spaces, 1-6 digits, optional trailing spaces.
fn is_extension(tail: &[u8]) -> bool {
    let lower = |b: &u8| b.to_ascii_lowercase();
    let starts =
        |p: &[u8]| tail.len() >= p.len() && tail.iter().zip(p).all(|(t, q)| lower(t) == *q);
    let marker = [&b"extension"[..], b"ext.", b"ext", b"x", b"#"]
        .into_iter()
        .find(|p| starts(p));
    let Some(marker) = marker else {
        return false;
    };
    let mut rest = &tail[marker.len()..];
    while let [b' ', tail @ ..] = rest {
        rest = tail;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (1..=6).contains(&digits) && rest[digits..].iter().all(|&b| b == b' ')
}

/// The full libphonenumber parse: the reference every fast path must agree with.
pub(crate) fn parse_full(raw: &str) -> Result<[u8; 10], Rejected> {
    if !raw.chars().any(char::is_alphanumeric) {
        return Err(Rejected::PhoneEmpty);
    }
    let number = phonenumber::parse(
        Some(phonenumber::country::Id::US),
        &*with_plus_one_spaced(raw),
    )
    .map_err(|_| Rejected::PhoneUnparsable)?;
    let code = number.code().value();
    if code != 1 {
        return Err(Rejected::PhoneNotNanp { country_code: code });
    }
    if !phonenumber::is_valid(&number) {
        return Err(Rejected::PhoneInvalid);
    }
    let national = number.national();
    if national.zeros() != 0 {
        return Err(Rejected::PhoneInvalid);
    }
    ten_digits(national.value()).ok_or(Rejected::PhoneInvalid)
}

/// Works around a `phonenumber` parser bug: after a `+` it takes the whole first digit group
/// as the country calling code, so `+1212-555-0123` fails with "invalid country code" (and
/// `+1212555-0123` overflows), where libphonenumber reads country code 1. Every country
/// calling code that starts with 1 *is* 1 (ITU world zone 1), so writing `+1 ` instead of `+1`
/// changes nothing for libphonenumber and sidesteps the bug (upstream:
/// whisperfish/rust-phonenumber issues 47 and 83).
fn with_plus_one_spaced(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim_start();
    match trimmed.strip_prefix("+1") {
        Some(rest) if rest.starts_with(|c: char| ('2'..='9').contains(&c)) => {
            Cow::Owned(format!("+1 {rest}"))
        }
        _ => Cow::Borrowed(raw),
    }
}

/// The 10 ASCII digits of `n`, if it has exactly 10 digits.
fn ten_digits(mut n: u64) -> Option<[u8; 10]> {
    if !(1_000_000_000..10_000_000_000).contains(&n) {
        return None;
    }
    let mut out = [0u8; 10];
    for slot in out.iter_mut().rev() {
        // n % 10 < 10, so the cast cannot truncate.
        *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
    }
    Some(out)
}

#[cfg(test)]
#[path = "phone_tests.rs"]
mod tests;
