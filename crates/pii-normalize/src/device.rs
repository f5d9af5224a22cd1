//! Mobile advertising IDs.

use crate::Rejected;
use crate::macros::{ascii_str, text_impls};

/// Parses a UUID in 8-4-4-4-12 form or as 32 bare hex digits (any case, surrounding whitespace
/// ignored) into 32 lowercase-or-uppercase hex digits in canonical hyphenated form.
fn parse_uuid(raw: &str, upper: bool) -> Result<[u8; 36], Shape> {
    let s = raw.trim().as_bytes();
    if s.is_empty() {
        return Err(Shape::Empty);
    }
    let mut hex = [0u8; 32];
    match s.len() {
        36 => {
            let mut n = 0;
            for (i, &b) in s.iter().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    if b != b'-' {
                        return Err(Shape::Bad);
                    }
                } else {
                    hex[n] = b;
                    n += 1;
                }
            }
        }
        32 => hex.copy_from_slice(s),
        _ => return Err(Shape::Bad),
    }
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(Shape::Bad);
    }
    if hex.iter().all(|&b| b == b'0') {
        return Err(Shape::Zero);
    }
    let mut out = [b'-'; 36];
    let mut n = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        if !matches!(i, 8 | 13 | 18 | 23) {
            *slot = if upper {
                hex[n].to_ascii_uppercase()
            } else {
                hex[n].to_ascii_lowercase()
            };
            n += 1;
        }
    }
    Ok(out)
}

enum Shape {
    Empty,
    Bad,
    Zero,
}

/// A normalised Apple advertising identifier (IDFA): a UUID in upper case with hyphens,
/// e.g. `6D92078A-8246-4BA4-AE5B-76104861E7DC`.
///
/// Accepts either case and the 32-hex form without hyphens. The all-zero ID means the user
/// limited ad tracking and is rejected with its own code (`idfa.limited_ad_tracking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Idfa([u8; 36]);

impl Idfa {
    /// Normalises a raw IDFA.
    ///
    /// ```
    /// use liveramp_pii_normalize::Idfa;
    /// let id = Idfa::parse("6d92078a82464ba4ae5b76104861e7dc").unwrap();
    /// assert_eq!(id.as_str(), "6D92078A-8246-4BA4-AE5B-76104861E7DC");
    /// ```
    pub fn parse(raw: &str) -> Result<Idfa, Rejected> {
        match parse_uuid(raw, true) {
            Ok(b) => Ok(Idfa(b)),
            Err(Shape::Empty) => Err(Rejected::IdfaEmpty),
            Err(Shape::Bad) => Err(Rejected::IdfaBadShape),
            Err(Shape::Zero) => Err(Rejected::IdfaZero),
        }
    }

    /// The upper-case hyphenated UUID.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

text_impls!(Idfa);

/// A normalised Google advertising identifier (AAID): a UUID in lower case with hyphens,
/// e.g. `38400000-8cf0-11bd-b23e-10b96e40000d`.
///
/// Accepts either case and the 32-hex form without hyphens. The all-zero ID means the user
/// limited ad tracking and is rejected with its own code (`aaid.limited_ad_tracking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aaid([u8; 36]);

impl Aaid {
    /// Normalises a raw AAID.
    ///
    /// ```
    /// use liveramp_pii_normalize::Aaid;
    /// let id = Aaid::parse("38400000-8CF0-11BD-B23E-10B96E40000D").unwrap();
    /// assert_eq!(id.as_str(), "38400000-8cf0-11bd-b23e-10b96e40000d");
    /// ```
    pub fn parse(raw: &str) -> Result<Aaid, Rejected> {
        match parse_uuid(raw, false) {
            Ok(b) => Ok(Aaid(b)),
            Err(Shape::Empty) => Err(Rejected::AaidEmpty),
            Err(Shape::Bad) => Err(Rejected::AaidBadShape),
            Err(Shape::Zero) => Err(Rejected::AaidZero),
        }
    }

    /// The lower-case hyphenated UUID.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

text_impls!(Aaid);
