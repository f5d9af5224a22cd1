//! US / NANP phone numbers.

use crate::Rejected;
use crate::hash::{HashAlgorithm, HexDigest, digest};
use crate::macros::{ascii_str, text_impls};

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
        parse_full(raw).map(Phone)
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

/// The full libphonenumber parse: the reference every fast path must agree with.
pub(crate) fn parse_full(raw: &str) -> Result<[u8; 10], Rejected> {
    if !raw.chars().any(char::is_alphanumeric) {
        return Err(Rejected::PhoneEmpty);
    }
    let number = phonenumber::parse(Some(phonenumber::country::Id::US), raw)
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
