//! Postal fields: ZIP, state, country.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::Rejected;
use crate::countries::COUNTRIES;
use crate::macros::{ascii_str, text_impls};

/// A normalised US ZIP code: 5 digits, or 9 digits (ZIP+4) without hyphen.
///
/// Accepts `12345`, `12345-6789`, `12345 6789` and `123456789` (surrounding whitespace ignored).
/// A 3- or 4-digit value (a ZIP that lost its leading zeros in a spreadsheet) is zero-padded to
/// 5 digits: `501` -> `00501`. Anything else is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Zip {
    buf: [u8; 9],
    len: u8,
}

impl Zip {
    /// Normalises a raw ZIP.
    ///
    /// ```
    /// use liveramp_pii_normalize::Zip;
    /// assert_eq!(Zip::parse("10001-1234").unwrap().as_str(), "100011234");
    /// assert_eq!(Zip::parse("2134").unwrap().as_str(), "02134");
    /// ```
    pub fn parse(raw: &str) -> Result<Zip, Rejected> {
        let s = raw.trim().as_bytes();
        if s.is_empty() {
            return Err(Rejected::ZipEmpty);
        }
        let mut buf = [b'0'; 9];
        let len = match s.len() {
            3 | 4 if s.iter().all(u8::is_ascii_digit) => {
                buf[5 - s.len()..5].copy_from_slice(s);
                5
            }
            5 | 9 if s.iter().all(u8::is_ascii_digit) => {
                buf[..s.len()].copy_from_slice(s);
                s.len()
            }
            10 if (s[5] == b'-' || s[5] == b' ')
                && s[..5].iter().all(u8::is_ascii_digit)
                && s[6..].iter().all(u8::is_ascii_digit) =>
            {
                buf[..5].copy_from_slice(&s[..5]);
                buf[5..].copy_from_slice(&s[6..]);
                9
            }
            _ => return Err(Rejected::ZipBadShape),
        };
        Ok(Zip {
            buf,
            len: if len == 9 { 9 } else { 5 },
        })
    }

    /// The 5 or 9 digits.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.buf[..usize::from(self.len)])
    }

    /// The first 5 digits.
    pub fn zip5(&self) -> &str {
        ascii_str(&self.buf[..5])
    }

    /// The 4-digit ZIP+4 extension, when present.
    pub fn plus4(&self) -> Option<&str> {
        (self.len == 9).then(|| ascii_str(&self.buf[5..]))
    }
}

text_impls!(Zip);

/// Builds a lookup key: ASCII letters upper-cased, common Latin accents folded, `&` read as
/// `AND`, a leading "the " dropped, everything else (spaces, dots, hyphens, apostrophes,
/// commas, typographic quotes and dashes) ignored. `None` when a character cannot be folded or the key is too long.
fn key(raw: &str, buf: &mut [u8; 64]) -> Option<usize> {
    let mut s = raw.trim();
    if let (Some(head), Some(rest)) = (s.get(..4), s.get(4..))
        && head.eq_ignore_ascii_case("the ")
        && !rest.is_empty()
    {
        s = rest;
    }
    let mut n = 0usize;
    let mut push = |b: u8| -> Option<()> {
        *buf.get_mut(n)? = b;
        n += 1;
        Some(())
    };
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            push(c.to_ascii_uppercase() as u8)?;
        } else if c == '&' {
            for &b in b"AND" {
                push(b)?;
            }
        } else if c.is_ascii() || c.is_whitespace() || is_ignorable_mark(c) {
            // Punctuation, digits and spaces do not count.
        } else {
            push(fold(c)?)?;
        }
    }
    Some(n)
}

/// Apostrophes, quotes and dashes from word processors (and the Hawaiian ʻokina).
fn is_ignorable_mark(c: char) -> bool {
    matches!(
        c,
        '\u{2018}'
            | '\u{2019}'
            | '\u{201C}'
            | '\u{201D}'
            | '\u{02BB}'
            | '\u{02BC}'
            | '\u{00B4}'
            | '\u{2010}'..='\u{2015}' | '\u{00B7}'
    )
}

/// Folds a Latin letter with a diacritic to its upper-case ASCII base letter.
fn fold(c: char) -> Option<u8> {
    Some(match c {
        'À'..='Å' | 'à'..='å' | 'Ā' | 'ā' => b'A',
        'Ç' | 'ç' => b'C',
        'È'..='Ë' | 'è'..='ë' => b'E',
        'Ì'..='Ï' | 'ì'..='ï' => b'I',
        'Ñ' | 'ñ' => b'N',
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' => b'O',
        'Ù'..='Ü' | 'ù'..='ü' => b'U',
        'Ý' | 'ý' | 'ÿ' => b'Y',
        _ => return None,
    })
}

fn lookup(table: &HashMap<Box<[u8]>, &'static str>, raw: &str) -> Option<&'static str> {
    let mut buf = [0u8; 64];
    let n = key(raw, &mut buf)?;
    table.get(&buf[..n]).copied()
}

fn build(
    entries: impl Iterator<Item = (&'static str, &'static str)>,
) -> HashMap<Box<[u8]>, &'static str> {
    let mut map = HashMap::new();
    for (name, code) in entries {
        let mut buf = [0u8; 64];
        if let Some(n) = key(name, &mut buf) {
            map.insert(Box::from(&buf[..n]), code);
        }
    }
    map
}

/// USPS codes and names: the 50 states, DC, the territories, the freely associated states
/// and the armed-forces "states".
pub(crate) static STATES: &[(&str, &[&str])] = &[
    ("AL", &["Alabama", "Ala."]),
    ("AK", &["Alaska"]),
    ("AZ", &["Arizona", "Ariz."]),
    ("AR", &["Arkansas", "Ark."]),
    ("CA", &["California", "Calif.", "Cal."]),
    ("CO", &["Colorado", "Colo."]),
    ("CT", &["Connecticut", "Conn."]),
    ("DE", &["Delaware", "Del."]),
    ("FL", &["Florida", "Fla."]),
    ("GA", &["Georgia"]),
    ("HI", &["Hawaii", "Hawai'i"]),
    ("ID", &["Idaho"]),
    ("IL", &["Illinois", "Ill."]),
    ("IN", &["Indiana", "Ind."]),
    ("IA", &["Iowa"]),
    ("KS", &["Kansas", "Kan.", "Kans."]),
    ("KY", &["Kentucky"]),
    ("LA", &["Louisiana"]),
    ("ME", &["Maine"]),
    ("MD", &["Maryland"]),
    ("MA", &["Massachusetts", "Mass."]),
    ("MI", &["Michigan", "Mich."]),
    ("MN", &["Minnesota", "Minn."]),
    ("MS", &["Mississippi", "Miss."]),
    ("MO", &["Missouri"]),
    ("MT", &["Montana", "Mont."]),
    ("NE", &["Nebraska", "Neb.", "Nebr."]),
    ("NV", &["Nevada", "Nev."]),
    ("NH", &["New Hampshire"]),
    ("NJ", &["New Jersey"]),
    ("NM", &["New Mexico"]),
    ("NY", &["New York"]),
    ("NC", &["North Carolina"]),
    ("ND", &["North Dakota"]),
    ("OH", &["Ohio"]),
    ("OK", &["Oklahoma", "Okla."]),
    ("OR", &["Oregon", "Ore.", "Oreg."]),
    ("PA", &["Pennsylvania"]),
    ("RI", &["Rhode Island"]),
    ("SC", &["South Carolina"]),
    ("SD", &["South Dakota"]),
    ("TN", &["Tennessee", "Tenn."]),
    ("TX", &["Texas", "Tex."]),
    ("UT", &["Utah"]),
    ("VT", &["Vermont"]),
    ("VA", &["Virginia"]),
    ("WA", &["Washington", "Wash."]),
    ("WV", &["West Virginia", "W.Va."]),
    ("WI", &["Wisconsin", "Wis.", "Wisc."]),
    ("WY", &["Wyoming", "Wyo."]),
    (
        "DC",
        &["District of Columbia", "Washington DC", "Washington, D.C."],
    ),
    ("PR", &["Puerto Rico"]),
    ("GU", &["Guam"]),
    (
        "VI",
        &[
            "Virgin Islands",
            "U.S. Virgin Islands",
            "United States Virgin Islands",
        ],
    ),
    ("AS", &["American Samoa"]),
    (
        "MP",
        &[
            "Northern Mariana Islands",
            "Northern Marianas",
            "Commonwealth of the Northern Mariana Islands",
        ],
    ),
    ("FM", &["Federated States of Micronesia", "Micronesia"]),
    ("MH", &["Marshall Islands"]),
    ("PW", &["Palau"]),
    ("AA", &["Armed Forces Americas"]),
    (
        "AE",
        &[
            "Armed Forces Europe",
            "Armed Forces Africa",
            "Armed Forces Canada",
            "Armed Forces Middle East",
        ],
    ),
    ("AP", &["Armed Forces Pacific"]),
];

static STATE_KEYS: LazyLock<HashMap<Box<[u8]>, &'static str>> = LazyLock::new(|| {
    build(STATES.iter().flat_map(|&(code, names)| {
        std::iter::once((code, code)).chain(names.iter().map(move |&n| (n, code)))
    }))
});

/// A normalised US state: its two-letter USPS code in upper case, e.g. `NY`.
///
/// Accepts the code in any case and the full name (any case, accents, punctuation and spacing
/// ignored) of the 50 states, the District of Columbia (also "Washington DC"), the territories
/// (PR Puerto Rico, GU Guam, VI U.S. Virgin Islands, AS American Samoa, MP Northern Mariana
/// Islands), the freely associated states USPS serves (FM, MH, PW), the armed-forces codes
/// (AA, AE, AP) and AP-style abbreviations such as "Calif." or "Mass.".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct State(&'static str);

impl State {
    /// Normalises a raw state.
    ///
    /// ```
    /// use liveramp_pii_normalize::State;
    /// assert_eq!(State::parse("new york").unwrap().as_str(), "NY");
    /// assert_eq!(State::parse("ca").unwrap().as_str(), "CA");
    /// assert_eq!(State::parse("Narnia").unwrap_err().code(), "state.unknown");
    /// ```
    pub fn parse(raw: &str) -> Result<State, Rejected> {
        if raw.trim().is_empty() {
            return Err(Rejected::StateEmpty);
        }
        lookup(&STATE_KEYS, raw)
            .map(State)
            .ok_or(Rejected::StateUnknown)
    }

    /// The two-letter USPS code.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

text_impls!(State);

static COUNTRY_KEYS: LazyLock<HashMap<Box<[u8]>, &'static str>> = LazyLock::new(|| {
    build(COUNTRIES.iter().flat_map(|&(a2, a3, names)| {
        [(a2, a2), (a3, a2)]
            .into_iter()
            .chain(names.iter().map(move |&n| (n, a2)))
    }))
});

/// A normalised country: its ISO 3166-1 alpha-2 code in upper case, e.g. `US`.
///
/// Accepts, in any case and ignoring punctuation and spacing, the alpha-2 and alpha-3 codes of
/// all 249 ISO 3166-1 countries, their ISO English names (short, common and official) and
/// common aliases: "USA", "U.S.", "United States of America", "America", "UK", "Great
/// Britain", "England", "Holland", "Ivory Coast", "South Korea", "Russia", "UAE", ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(&'static str);

impl Country {
    /// Normalises a raw country.
    ///
    /// ```
    /// use liveramp_pii_normalize::Country;
    /// assert_eq!(Country::parse("U.S.A.").unwrap().as_str(), "US");
    /// assert_eq!(Country::parse("gbr").unwrap().as_str(), "GB");
    /// assert_eq!(Country::parse("Great Britain").unwrap().as_str(), "GB");
    /// ```
    pub fn parse(raw: &str) -> Result<Country, Rejected> {
        if raw.trim().is_empty() {
            return Err(Rejected::CountryEmpty);
        }
        lookup(&COUNTRY_KEYS, raw)
            .map(Country)
            .ok_or(Rejected::CountryUnknown)
    }

    /// The ISO 3166-1 alpha-2 code.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

text_impls!(Country);
