//! Property tests: idempotence, invariance, hashing and robustness for every type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_pii_normalize::{
    Aaid, City, Country, Email, HashAlgorithm, Idfa, PersonName, Phone, State, Zip, digest,
    hex_digest, looks_hashed,
};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = HashAlgorithm> {
    proptest::sample::select(&HashAlgorithm::ALL[..])
}

/// Plausible raw emails, in mixed case, some with non-ASCII letters.
fn raw_email() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9][A-Za-z0-9._%+'-]{0,15}",
        prop_oneof!["", "[ÀÉÎÕÜßçñäöΣσ]{1,3}"],
        "[A-Za-z0-9][A-Za-z0-9-]{0,8}[A-Za-z0-9]",
        proptest::collection::vec("[A-Za-z]{2,6}", 1..3),
    )
        .prop_map(|(local, extra, host, tlds)| format!("{local}{extra}@{host}.{}", tlds.join(".")))
}

/// A Unicode whitespace character.
fn space() -> impl Strategy<Value = char> {
    proptest::sample::select(
        &[
            ' ', '\t', '\n', '\r', '\u{0B}', '\u{0C}', '\u{A0}', '\u{2003}', '\u{3000}', '\u{2028}',
        ][..],
    )
}

fn uuid_hex() -> impl Strategy<Value = String> {
    "[0-9a-fA-F]{32}".prop_filter("all-zero", |s| s.bytes().any(|b| b != b'0'))
}

fn hyphenate(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn email_is_idempotent_and_hash_matches(raw in raw_email(), alg in algorithm()) {
        let e = Email::parse(&raw).unwrap();
        prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e.clone());
        prop_assert_eq!(e.hashed(alg), hex_digest(alg, e.as_str()));
        prop_assert_eq!(e.digest(alg).to_string(), hex_digest(alg, e.as_str()));
        prop_assert!(looks_hashed(&e.hashed(alg), alg));
    }

    /// Surrounding (and inner) whitespace and case never change an `Email`.
    #[test]
    fn email_ignores_whitespace_and_case(
        raw in raw_email(),
        spaces in proptest::collection::vec((space(), 0..40usize), 0..6),
        flips in proptest::collection::vec(any::<bool>(), 40),
    ) {
        let base = Email::parse(&raw).unwrap();
        let mut messy: String = raw
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, &up)| if up && c.is_ascii() { c.to_ascii_uppercase() } else { c })
            .collect();
        for (sp, at) in spaces {
            let mut at = at.min(messy.len());
            while !messy.is_char_boundary(at) {
                at -= 1;
            }
            messy.insert(at, sp);
        }
        prop_assert_eq!(Email::parse(&messy).unwrap(), base);
    }

    #[test]
    fn email_idempotent_on_anything(raw in any::<String>()) {
        if let Ok(e) = Email::parse(&raw) {
            prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
        }
    }

    #[test]
    fn phone_is_idempotent_and_hash_matches(national in "[2-9][0-9]{9}", alg in algorithm()) {
        if let Ok(p) = Phone::parse(&national) {
            prop_assert_eq!(p.as_str(), national.as_str());
            prop_assert_eq!(Phone::parse(p.as_str()).unwrap(), p);
            prop_assert_eq!(p.hashed(alg), hex_digest(alg, p.as_str()));
            prop_assert_eq!(p.digest(alg), digest(alg, p.as_str()));
        }
    }

    #[test]
    fn ad_ids_accept_any_case_and_hyphenation(hex in uuid_hex(), hyphens in any::<bool>()) {
        let raw = if hyphens { hyphenate(&hex) } else { hex.clone() };
        let idfa = Idfa::parse(&raw).unwrap();
        let aaid = Aaid::parse(&raw).unwrap();
        prop_assert_eq!(idfa.as_str(), hyphenate(&hex.to_uppercase()));
        prop_assert_eq!(aaid.as_str(), hyphenate(&hex.to_lowercase()));
        prop_assert_eq!(Idfa::parse(idfa.as_str()).unwrap(), idfa);
        prop_assert_eq!(Aaid::parse(aaid.as_str()).unwrap(), aaid);
        prop_assert_eq!(Idfa::parse(&raw.to_lowercase()).unwrap(), idfa);
        prop_assert_eq!(Aaid::parse(&raw.to_uppercase()).unwrap(), aaid);
    }

    #[test]
    fn zip_is_idempotent(raw in "[0-9]{3,5}|[0-9]{5}-[0-9]{4}|[0-9]{9}") {
        let z = Zip::parse(&raw).unwrap();
        prop_assert_eq!(Zip::parse(z.as_str()).unwrap(), z);
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        prop_assert!(z.as_str().ends_with(&digits));
        prop_assert!(z.as_str().len() == 5 || z.as_str().len() == 9);
    }

    #[test]
    fn state_and_country_are_idempotent(raw in "[A-Za-z .]{1,30}") {
        if let Ok(s) = State::parse(&raw) {
            prop_assert_eq!(State::parse(s.as_str()).unwrap(), s);
            prop_assert_eq!(State::parse(&s.as_str().to_lowercase()).unwrap(), s);
        }
        if let Ok(c) = Country::parse(&raw) {
            prop_assert_eq!(Country::parse(c.as_str()).unwrap(), c);
        }
    }

    #[test]
    fn names_and_cities_are_clean_and_idempotent(raw in any::<String>()) {
        if let Ok(n) = PersonName::parse(&raw) {
            let s = n.as_str();
            prop_assert!(!s.is_empty());
            prop_assert!(!s.starts_with(' ') && !s.ends_with(' ') && !s.contains("  "));
            prop_assert!(!s.chars().any(|c| c.is_control() || (c.is_whitespace() && c != ' ')));
            prop_assert_eq!(PersonName::parse(s).unwrap(), n.clone());
            prop_assert_eq!(City::parse(&raw).unwrap().to_string(), s);
        } else {
            prop_assert!(City::parse(&raw).is_err());
        }
    }

    /// `parse_into` appends exactly what `parse` gives (or nothing, with the same rejection),
    /// whatever the buffer already holds.
    #[test]
    fn names_and_cities_parse_into_appends_what_parse_gives(
        raw in prop_oneof![any::<String>(), "[ \t\nA-Za-z\u{0}\u{200b}é]{0,20}"],
        prefix in "[a-z ]{0,3}",
    ) {
        let mut name = prefix.clone();
        match (PersonName::parse(&raw), PersonName::parse_into(&raw, &mut name)) {
            (Ok(n), Ok(())) => prop_assert_eq!(name, format!("{prefix}{n}")),
            (Err(a), Err(b)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(&name, &prefix);
            }
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
        let mut city = prefix.clone();
        match (City::parse(&raw), City::parse_into(&raw, &mut city)) {
            (Ok(c), Ok(())) => prop_assert_eq!(city, format!("{prefix}{c}")),
            (Err(a), Err(b)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(&city, &prefix);
            }
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }

    /// `Email::parse_with` over a used buffer gives what `Email::parse` gives.
    #[test]
    fn email_parse_with_a_used_buffer_is_parse(
        raw in prop_oneof![raw_email(), any::<String>()],
        old in any::<String>(),
    ) {
        prop_assert_eq!(Email::parse_with(&raw, old), Email::parse(&raw));
    }

    /// No input panics, and whatever is accepted parses to itself.
    #[test]
    fn no_input_panics(raw in prop_oneof![any::<String>(), "\\PC{0,40}", "[0-9 ()+.x#-]{0,30}"]) {
        if let Ok(v) = Email::parse(&raw) { prop_assert_eq!(Email::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = Phone::parse(&raw) { prop_assert_eq!(Phone::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = Idfa::parse(&raw) { prop_assert_eq!(Idfa::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = Aaid::parse(&raw) { prop_assert_eq!(Aaid::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = Zip::parse(&raw) { prop_assert_eq!(Zip::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = State::parse(&raw) { prop_assert_eq!(State::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = Country::parse(&raw) { prop_assert_eq!(Country::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = PersonName::parse(&raw) { prop_assert_eq!(PersonName::parse(v.as_str()), Ok(v)); }
        if let Ok(v) = City::parse(&raw) { prop_assert_eq!(City::parse(v.as_str()), Ok(v)); }
        let _ = raw.parse::<HashAlgorithm>();
        for alg in HashAlgorithm::ALL {
            let _ = looks_hashed(&raw, alg);
            prop_assert_eq!(digest(alg, &raw).as_str().len(), alg.hex_len());
        }
    }
}
