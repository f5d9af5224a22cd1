//! The fast path agrees with the full `phonenumber` parse.

use proptest::prelude::*;

use super::{Phone, parse_fast, parse_full};
use crate::Rejected;
use crate::nanp::TABLE;

/// A tiny deterministic generator, so the sweep is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn ten(n: u64) -> [u8; 10] {
    let s = format!("{n:010}");
    s.as_bytes().try_into().unwrap()
}

#[test]
fn table_is_built() {
    let table = TABLE
        .as_ref()
        .expect("NANP table builds from phonenumber's metadata");
    assert!(
        table.len() > 100,
        "suspiciously small table: {}",
        table.len()
    );
}

/// Every area code 200-999, with pseudo-random exchanges and lines (biased towards exchanges
/// 2-9, the plausible ones): the table says exactly what `phonenumber::is_valid` says.
#[test]
fn table_agrees_with_phonenumber_for_every_area_code() {
    let table = TABLE.as_ref().unwrap();
    let mut rng = Lcg(0x5eed);
    let mut valid = 0;
    for npa in 200..=999u64 {
        for k in 0..16 {
            let rest = if k < 12 {
                // NXX with N in 2-9.
                (2 + rng.next() % 8) * 1_000_000 + rng.next() % 1_000_000
            } else {
                rng.next() % 10_000_000
            };
            let digits = ten(npa * 10_000_000 + rest);
            let text = std::str::from_utf8(&digits).unwrap();
            let full = parse_full(&format!("+1{text}"));
            assert_eq!(table.is_valid(&digits), full.is_ok(), "{text}: {full:?}");
            if let Ok(got) = full {
                valid += 1;
                assert_eq!(got, digits);
            }
            assert_eq!(parse_fast(text), Some(parse_full(text)), "{text}");
        }
    }
    // Most US area codes are assigned, so a good share must be valid.
    assert!(valid > 5_000, "only {valid} valid numbers");
}

/// Every exchange (NXX) of a sample of area codes from every NANP region, including the
/// Caribbean ones whose validity depends on the exchange.
#[test]
fn table_agrees_with_phonenumber_for_every_exchange_of_sample_area_codes() {
    let table = TABLE.as_ref().unwrap();
    let mut rng = Lcg(42);
    for npa in [
        212u64, 268, 340, 441, 500, 521, 555, 649, 670, 684, 787, 800, 868, 876, 900,
    ] {
        for nxx in 0..1000u64 {
            let digits = ten(npa * 10_000_000 + nxx * 10_000 + rng.next() % 10_000);
            let text = std::str::from_utf8(&digits).unwrap();
            let full = parse_full(&format!("+1 {text}"));
            assert_eq!(table.is_valid(&digits), full.is_ok(), "{text}: {full:?}");
        }
    }
}

#[test]
fn known_numbers() {
    for (raw, want) in [
        ("+1 (212) 555-0123", Ok("2125550123")),
        ("212.555.0123", Ok("2125550123")),
        ("1-212-555-0123", Ok("2125550123")),
        ("12125550123", Ok("2125550123")),
        ("+12125550123", Ok("2125550123")),
        ("(212)555-0123", Ok("2125550123")),
        ("212 555 0123 ext. 45", Ok("2125550123")),
        ("+1-212-555-0123;ext=9", Ok("2125550123")),
        ("tel:+1-212-555-0123", Ok("2125550123")),
        ("1-800-FLOWERS", Ok("8003569377")),
        // `phonenumber` alone rejects these ("invalid country code"); libphonenumber does not.
        ("+1212-555-0123", Ok("2125550123")),
        ("+1212.555.0123 x12", Ok("2125550123")),
        ("+1212555-0123", Ok("2125550123")),
        ("+1 (800) GOT-JUNK", Ok("8004685865")),
        ("(876) 927-1234", Ok("8769271234")),
        ("+1 684 633 1234", Ok("6846331234")),
        ("+1 (555) 123-4567", Err(Rejected::PhoneInvalid)),
        ("211-555-0123", Err(Rejected::PhoneInvalid)),
        ("212-155-0123", Err(Rejected::PhoneInvalid)),
        ("555-0123", Err(Rejected::PhoneInvalid)),
        (
            "+44 20 7946 0958",
            Err(Rejected::PhoneNotNanp { country_code: 44 }),
        ),
        (
            "011 44 20 7946 0958",
            Err(Rejected::PhoneNotNanp { country_code: 44 }),
        ),
        ("", Err(Rejected::PhoneEmpty)),
        ("  () - ", Err(Rejected::PhoneEmpty)),
        ("n/a", Err(Rejected::PhoneUnparsable)),
        ("abc", Err(Rejected::PhoneUnparsable)),
    ] {
        let got = Phone::parse(raw);
        assert_eq!(
            got.as_ref().map(Phone::as_str),
            want.as_ref().map(|s| *s),
            "{raw:?}"
        );
        assert_eq!(
            got.map(|p| p.0),
            parse_full(raw),
            "{raw:?}: fast and full differ"
        );
    }
}

/// Area codes from every NANP region, and some that are not assigned.
const AREA_CODES: &[&str] = &[
    "212", "213", "310", "415", "646", "917", "305", "312", "202", "416", "604", "514", "268",
    "264", "684", "246", "441", "242", "345", "767", "809", "829", "849", "473", "671", "876",
    "869", "758", "670", "664", "787", "939", "721", "649", "868", "784", "284", "340", "800",
    "888", "877", "900", "500", "521", "533", "555", "211", "311", "911", "999", "370", "280",
];

/// A 10-digit national number: a listed area code or any 3 digits, then any 7 digits.
fn national() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            3 => proptest::sample::select(AREA_CODES).prop_map(str::to_owned),
            1 => "[2-9][0-9]{2}",
        ],
        "[0-9]{7}",
    )
        .prop_map(|(npa, rest)| format!("{npa}{rest}"))
}

/// `national` written in one of the many ways people write phone numbers.
fn formatted() -> impl Strategy<Value = (String, String)> {
    let prefix = proptest::sample::select(
        &[
            "", "", "1", "1 ", "1-", "1.", "+1", "+1 ", "+1-", "+1.", "+1 (", "1 (", "(", " ",
            "+ 1 ", "001 ", "011 1 ",
        ][..],
    );
    let sep = proptest::sample::select(
        &["", " ", "-", ".", ") ", ")", "  ", " - ", "--", "/", " / "][..],
    );
    let suffix = proptest::sample::select(
        &[
            "",
            " ",
            "  ",
            ".",
            ")",
            " ext. 12",
            " x9",
            "x123",
            " #45",
            "#45",
            " ext 7",
            " EXT.12",
            " extension 12",
            ";ext=9",
            " X 12",
            " x",
            " ext. 1234567",
            " x12 ",
            " ext-12",
            " x12a",
            " xx12",
            ",12",
            " ext:12",
        ][..],
    );
    (national(), prefix, sep.clone(), sep, suffix).prop_map(|(n, p, s1, s2, x)| {
        let s1 = if p.ends_with('(') && s1.is_empty() {
            ")"
        } else {
            s1
        };
        let text = format!("{p}{}{s1}{}{s2}{}{x}", &n[..3], &n[3..6], &n[6..]);
        (n, text)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The fast path (when it applies) gives exactly what the full parse gives, including the
    /// rejection code; and any formatting of a valid number gives the same `Phone`.
    #[test]
    fn fast_path_agrees_with_full_parse((national, text) in formatted()) {
        if let Some(fast) = parse_fast(&text) {
            prop_assert_eq!(fast, parse_full(&text), "{:?}", text);
        }
        let _ = national;
        prop_assert_eq!(Phone::parse(&text).map(|p| p.0), parse_full(&text), "{:?}", text);
    }

    /// Strings of phone-ish characters in any order: fast path and full parse agree.
    #[test]
    fn fast_path_agrees_on_phoneish_noise(text in "[0-9 +()./-]{0,18}|[0-9 +()./-]{10,16}[ xXet.#;=]{1,4}[0-9]{0,7}") {
        if let Some(fast) = parse_fast(&text) {
            prop_assert_eq!(fast, parse_full(&text), "{:?}", text);
        }
    }

    /// Any formatting of the same NANP number (spaces, dashes, dots, parentheses, `+1`, `1-`)
    /// gives the same `Phone`.
    #[test]
    fn formatting_never_changes_a_phone(
        national in national(),
        prefix in proptest::sample::select(&["", "1", "1-", "1 ", "+1", "+1 ", "+1-", "+1 ("][..]),
        sep in proptest::sample::select(&[" ", "-", ".", ""][..]),
    ) {
        let paren = prefix.ends_with('(');
        let text = format!(
            "{prefix}{}{}{sep}{}{sep}{}",
            &national[..3],
            if paren { ")" } else { "" },
            &national[3..6],
            &national[6..]
        );
        prop_assert_eq!(Phone::parse(&text), Phone::parse(&national), "{:?}", text);
        let bracketed = format!("({}) {}-{}", &national[..3], &national[3..6], &national[6..]);
        prop_assert_eq!(Phone::parse(&bracketed), Phone::parse(&national));
    }
}
