//! Free-text fields: person names and cities.

use crate::Rejected;
use crate::email::is_invisible;
use crate::macros::text_impls;

/// Trims, collapses whitespace runs (including line breaks) to one ASCII space and removes
/// control and invisible characters. Returns `None` when nothing is left.
fn clean(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    clean_into(raw, &mut out).then_some(out)
}

/// [`clean`], appended to `out`; returns whether anything was appended.
fn clean_into(raw: &str, out: &mut String) -> bool {
    let start = out.len();
    let mut pending_space = false;
    if raw.is_ascii() {
        for b in raw.bytes() {
            if matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ') {
                pending_space = true;
            } else if b.is_ascii_control() {
                // Removed outright: NUL, ESC, DEL, ...
            } else {
                if pending_space && out.len() > start {
                    out.push(' ');
                }
                pending_space = false;
                out.push(char::from(b));
            }
        }
    } else {
        for c in raw.chars() {
            if c.is_whitespace() {
                pending_space = true;
            } else if c.is_control() || is_invisible(c) {
                // Removed outright.
            } else {
                if pending_space && out.len() > start {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c);
            }
        }
    }
    out.len() > start
}

/// A cleaned person name (first or last name): trimmed, inner whitespace runs (spaces, tabs,
/// line breaks, any Unicode whitespace) collapsed to one space, control characters and the
/// invisible U+200B/U+2060/U+FEFF removed. Case and accents are kept. Never empty.
///
/// LiveRamp forbids newlines inside fields; names are never hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonName(String);

impl PersonName {
    /// Cleans a raw name.
    ///
    /// ```
    /// use liveramp_pii_normalize::PersonName;
    /// assert_eq!(PersonName::parse("  Mary \n Ann ").unwrap().as_str(), "Mary Ann");
    /// ```
    pub fn parse(raw: &str) -> Result<PersonName, Rejected> {
        clean(raw).map(PersonName).ok_or(Rejected::NameEmpty)
    }

    /// Like [`PersonName::parse`], appending the cleaned name to `out` instead of allocating
    /// (nothing is appended when it is rejected).
    ///
    /// ```
    /// use liveramp_pii_normalize::PersonName;
    /// let mut cell = String::new();
    /// PersonName::parse_into("  Mary \n Ann ", &mut cell).unwrap();
    /// assert_eq!(cell, "Mary Ann");
    /// assert!(PersonName::parse_into(" \t", &mut cell).is_err());
    /// assert_eq!(cell, "Mary Ann");
    /// ```
    pub fn parse_into(raw: &str, out: &mut String) -> Result<(), Rejected> {
        if clean_into(raw, out) {
            Ok(())
        } else {
            Err(Rejected::NameEmpty)
        }
    }

    /// The cleaned name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_impls!(PersonName);

/// A cleaned city name, with the same rules as [`PersonName`]. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct City(String);

impl City {
    /// Cleans a raw city name.
    ///
    /// ```
    /// use liveramp_pii_normalize::City;
    /// assert_eq!(City::parse(" San\tFrancisco ").unwrap().as_str(), "San Francisco");
    /// ```
    pub fn parse(raw: &str) -> Result<City, Rejected> {
        clean(raw).map(City).ok_or(Rejected::CityEmpty)
    }

    /// Like [`City::parse`], appending the cleaned name to `out` instead of allocating
    /// (nothing is appended when it is rejected).
    ///
    /// ```
    /// use liveramp_pii_normalize::City;
    /// let mut cell = String::from("x: ");
    /// City::parse_into(" San\tFrancisco ", &mut cell).unwrap();
    /// assert_eq!(cell, "x: San Francisco");
    /// ```
    pub fn parse_into(raw: &str, out: &mut String) -> Result<(), Rejected> {
        if clean_into(raw, out) {
            Ok(())
        } else {
            Err(Rejected::CityEmpty)
        }
    }

    /// The cleaned city name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_impls!(City);
