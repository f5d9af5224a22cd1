//! Choosing the normaliser by name, for callers that get the kind of a value at run time.

use std::fmt;
use std::str::FromStr;

use crate::{Aaid, City, Country, Email, Idfa, PersonName, Phone, Rejected, State, Zip};

/// Which identifier a raw value is, for callers that learn it at run time (a command line, a
/// configuration): [`Kind::normalize`] runs that type's `parse`.
///
/// ```
/// use liveramp_pii_normalize::Kind;
///
/// let kind: Kind = "phone".parse().unwrap();
/// assert_eq!(kind.normalize("+1 (212) 555-0143").unwrap(), "2125550143");
/// assert_eq!(Kind::Email.normalize("nobody").unwrap_err().code(), "email.no_at");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// [`Email`].
    Email,
    /// [`Phone`].
    Phone,
    /// [`Idfa`].
    Idfa,
    /// [`Aaid`].
    Aaid,
    /// [`Zip`].
    Zip,
    /// [`State`].
    State,
    /// [`Country`].
    Country,
    /// [`PersonName`].
    Name,
    /// [`City`].
    City,
}

impl Kind {
    /// Every kind, in the order above.
    pub const ALL: [Kind; 9] = [
        Kind::Email,
        Kind::Phone,
        Kind::Idfa,
        Kind::Aaid,
        Kind::Zip,
        Kind::State,
        Kind::Country,
        Kind::Name,
        Kind::City,
    ];

    /// The kind's name: `email`, `phone`, `idfa`, `aaid`, `zip`, `state`, `country`, `name`,
    /// `city`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Idfa => "idfa",
            Kind::Aaid => "aaid",
            Kind::Zip => "zip",
            Kind::State => "state",
            Kind::Country => "country",
            Kind::Name => "name",
            Kind::City => "city",
        }
    }

    /// Normalises `raw` with this kind's type and returns the normalised text.
    pub fn normalize(self, raw: &str) -> Result<String, Rejected> {
        match self {
            Kind::Email => Email::parse(raw).map(String::from),
            Kind::Phone => Phone::parse(raw).map(String::from),
            Kind::Idfa => Idfa::parse(raw).map(String::from),
            Kind::Aaid => Aaid::parse(raw).map(String::from),
            Kind::Zip => Zip::parse(raw).map(String::from),
            Kind::State => State::parse(raw).map(String::from),
            Kind::Country => Country::parse(raw).map(String::from),
            Kind::Name => PersonName::parse(raw).map(String::from),
            Kind::City => City::parse(raw).map(String::from),
        }
    }
}

impl Kind {
    /// What normalising `raw` into `normalized` changed, in words, for a person checking values
    /// by hand (`liveramp normalize --explain`): `trimmed`, `spaces collapsed`, `lower-cased`,
    /// `upper-cased`, `+1 removed`, `punctuation removed`, `spaces removed`, `name replaced by its
    /// code`, `hyphens
    /// added`, `hyphens removed`, or `unchanged`. `normalized` is what [`Kind::normalize`]
    /// returned for `raw`; the words are found by comparing the two, so they describe any value
    /// the normaliser accepted.
    ///
    /// ```
    /// use liveramp_pii_normalize::Kind;
    ///
    /// let raw = " +1 (212) 555-0143";
    /// let value = Kind::Phone.normalize(raw).unwrap();
    /// assert_eq!(
    ///     Kind::Phone.changes(raw, &value),
    ///     ["trimmed", "+1 removed", "punctuation removed", "spaces removed"]
    /// );
    /// assert_eq!(Kind::Email.changes("jane@example.com", "jane@example.com"), ["unchanged"]);
    /// ```
    pub fn changes(self, raw: &str, normalized: &str) -> Vec<&'static str> {
        let mut changes = Vec::new();
        let trimmed = raw.trim();
        if trimmed.len() != raw.len() {
            changes.push("trimmed");
        }
        if trimmed.contains(char::is_whitespace)
            && matches!(self, Kind::Name | Kind::City)
            && trimmed.split_whitespace().collect::<Vec<_>>().join(" ") != trimmed
        {
            changes.push("spaces collapsed");
        }
        let letters = |t: &str, f: fn(char) -> bool| t.chars().any(|c| c.is_alphabetic() && f(c));
        if letters(trimmed, char::is_uppercase)
            && !letters(normalized, char::is_uppercase)
            && letters(normalized, char::is_lowercase)
        {
            changes.push("lower-cased");
        }
        if letters(trimmed, char::is_lowercase)
            && !letters(normalized, char::is_lowercase)
            && letters(normalized, char::is_uppercase)
        {
            changes.push("upper-cased");
        }
        let digits = |t: &str| t.chars().filter(char::is_ascii_digit).collect::<String>();
        if self == Kind::Phone && digits(trimmed) == format!("1{normalized}") {
            changes.push("+1 removed");
        }
        let punctuation = |t: &str| {
            t.chars()
                .filter(|c| {
                    !c.is_alphanumeric()
                        && !c.is_whitespace()
                        && *c != '-'
                        && *c != '@'
                        && *c != '.'
                })
                .count()
                + if matches!(self, Kind::Phone | Kind::Zip) {
                    t.chars().filter(|c| matches!(c, '-' | '.')).count()
                } else {
                    0
                }
        };
        if punctuation(trimmed) > punctuation(normalized) {
            changes.push("punctuation removed");
        }
        if matches!(self, Kind::Phone | Kind::Zip | Kind::Email)
            && trimmed.contains(char::is_whitespace)
            && !normalized.contains(char::is_whitespace)
        {
            changes.push("spaces removed");
        }
        if matches!(self, Kind::State | Kind::Country)
            && normalized.chars().count() < trimmed.chars().count()
            && !normalized.eq_ignore_ascii_case(trimmed)
        {
            changes.push("name replaced by its code");
        }
        if matches!(self, Kind::Idfa | Kind::Aaid) {
            let hyphens = |t: &str| t.matches('-').count();
            match hyphens(normalized).cmp(&hyphens(trimmed)) {
                std::cmp::Ordering::Greater => changes.push("hyphens added"),
                std::cmp::Ordering::Less => changes.push("hyphens removed"),
                std::cmp::Ordering::Equal => {}
            }
        }
        if changes.is_empty() {
            changes.push(if raw == normalized {
                "unchanged"
            } else {
                "rewritten"
            });
        }
        changes
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind of value: use email, phone, idfa, aaid, zip, state, country, name or city")]
pub struct UnknownKind;

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownKind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_what_normalising_did() {
        for (kind, raw, expected) in [
            (
                Kind::Email,
                " Jane.Doe@Example.COM ",
                &["trimmed", "lower-cased"][..],
            ),
            (Kind::Email, "jane@example.com", &["unchanged"]),
            (
                Kind::Phone,
                "+1 (212) 555-0143",
                &["+1 removed", "punctuation removed", "spaces removed"],
            ),
            (Kind::Phone, "2125550143", &["unchanged"]),
            (Kind::Zip, "02134-1234", &["punctuation removed"]),
            (
                Kind::State,
                " new york",
                &["trimmed", "upper-cased", "name replaced by its code"],
            ),
            (Kind::State, "ny", &["upper-cased"]),
            (
                Kind::Country,
                "United States",
                &["upper-cased", "name replaced by its code"],
            ),
            (
                Kind::Idfa,
                "ab2c2c4a-5b7d-4b3a-9f1e-2c3d4e5f6a7b",
                &["upper-cased"],
            ),
            (
                Kind::Aaid,
                "AB2C2C4A5B7D4B3A9F1E2C3D4E5F6A7B",
                &["lower-cased", "hyphens added"],
            ),
            (Kind::City, "new   york ", &["trimmed", "spaces collapsed"]),
            (Kind::Name, "  JOSÉ  ", &["trimmed"]),
        ] {
            let value = kind.normalize(raw).unwrap();
            assert_eq!(
                kind.changes(raw, &value),
                expected,
                "{kind} {raw:?} -> {value:?}"
            );
        }
    }

    #[test]
    fn names_round_trip_and_each_kind_runs_its_own_parse() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(" EMAIL ".parse::<Kind>(), Ok(Kind::Email));
        assert_eq!("mobile".parse::<Kind>(), Err(UnknownKind));
        let cases = [
            (Kind::Email, " MyName@liveramp.com ", "myname@liveramp.com"),
            (Kind::Phone, "+1 (212) 555-0143", "2125550143"),
            (
                Kind::Idfa,
                "6d92078a-8246-4ba4-ae5b-76104861e7dc",
                "6D92078A-8246-4BA4-AE5B-76104861E7DC",
            ),
            (
                Kind::Aaid,
                "6D92078A82464BA4AE5B76104861E7DC",
                "6d92078a-8246-4ba4-ae5b-76104861e7dc",
            ),
            (Kind::Zip, "10001-1234", "100011234"),
            (Kind::State, "new york", "NY"),
            (Kind::Country, "United States", "US"),
            (Kind::Name, "  Mary   Ann ", "Mary Ann"),
            (Kind::City, "New\nYork", "New York"),
        ];
        for (kind, raw, expected) in cases {
            assert_eq!(kind.normalize(raw).as_deref(), Ok(expected), "{kind}");
        }
        assert_eq!(
            Kind::Phone.normalize("555.123.4567").unwrap_err().code(),
            "phone.invalid"
        );
    }
}
