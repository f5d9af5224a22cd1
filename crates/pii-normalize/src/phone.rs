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
            .map_or_else(|| parse_full(raw), Ok)
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
/// 10 digits, separated only by spaces, `-`, `.`, `(` and `)`. For these shapes `phonenumber`
/// yields country code 1 with those 10 digits as the national number, so only validity
/// remains, which [`nanp::TABLE`] decides exactly. Only acceptance is decided here: `None`
/// means "use the full parse", which also gives the exact rejection reason (for invalid
/// numbers `phonenumber` sometimes fails earlier, e.g. `+1212-000-0000` is unparsable to it).
pub(crate) fn parse_fast(raw: &str) -> Option<[u8; 10]> {
    let digits = canonical_digits(raw)?;
    nanp::TABLE
        .as_ref()
        .is_some_and(|table| table.is_valid(&digits))
        .then_some(digits)
}

/// The 10 national digits of a common-shape NANP number (see [`parse_fast`]).
fn canonical_digits(raw: &str) -> Option<[u8; 10]> {
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
    for &c in bytes.get(i..)? {
        match c {
            b'0'..=b'9' => {
                *buf.get_mut(n)? = c;
                n += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
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
    national.try_into().ok()
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
