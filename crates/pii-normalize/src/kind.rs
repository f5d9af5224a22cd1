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
