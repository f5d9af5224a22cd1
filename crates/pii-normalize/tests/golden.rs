//! Golden vectors: LiveRamp's own examples and digests computed independently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::doc_markdown)]

use liveramp_pii_normalize::{
    Aaid, City, Country, Email, HashAlgorithm, Idfa, PersonName, Phone, Rejected, State, Zip,
    digest, hex_digest, hex_digest_into, looks_hashed,
};

/// Digests computed with GNU coreutils, independently of this crate:
/// `printf '%s' "$s" | md5sum`, `| sha1sum`, `| sha256sum` (no trailing newline).
const DIGESTS: &[(&str, &str, &str, &str)] = &[
    (
        "myname@liveramp.com",
        "e496f5db75b278b8583e60cb834cfb11",
        "529a123cb5d93641ffa999c0e9b06aa4c40c3677",
        "ad474377422023fe13c6421afa7958559ee3ce1c5aa8395e92140cc09912c1be",
    ),
    (
        "2125550123",
        "502531dd875ca77561734e9e8052549f",
        "c924902bfce50c5c6e9da7573b7a99c78ab07dc1",
        "60025189ade0f4360099ba3bdd813cc3ce9f0ff2a48eb30ce127e62b3d0b39d8",
    ),
    (
        "",
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        "abc",
        "900150983cd24fb0d6963f7d28e17f72",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ),
    (
        // UTF-8 bytes are hashed: é is c3 a9.
        "josé@example.com",
        "f3e3d6d619238617fee6765e45961da5",
        "9a854c23ee0d6eaecde59b38649bf584266d483e",
        "b0a53cf19e34d05b57bced7365c6b00ddbe38d62957e863de2a66a56c3b42cea",
    ),
];

#[test]
fn digests_match_coreutils() {
    for &(text, md5, sha1, sha256) in DIGESTS {
        for (alg, want) in [
            (HashAlgorithm::Md5, md5),
            (HashAlgorithm::Sha1, sha1),
            (HashAlgorithm::Sha256, sha256),
        ] {
            assert_eq!(hex_digest(alg, text), want, "{alg} of {text:?}");
            assert_eq!(digest(alg, text).as_str(), want);
            let mut out = String::from("prefix,");
            hex_digest_into(alg, text, &mut out);
            assert_eq!(out, format!("prefix,{want}"));
            assert!(looks_hashed(want, alg));
            assert!(looks_hashed(&want.to_uppercase(), alg));
        }
    }
}

#[test]
fn liveramp_email_example() {
    // docs.liveramp.com hashing-identifiers: "MyName@liveramp.com " -> myname@liveramp.com.
    let email = Email::parse("MyName@liveramp.com ").unwrap();
    assert_eq!(email.as_str(), "myname@liveramp.com");
    assert_eq!(email.to_string(), "myname@liveramp.com");
    assert_eq!(
        email.hashed(HashAlgorithm::Sha256),
        "ad474377422023fe13c6421afa7958559ee3ce1c5aa8395e92140cc09912c1be"
    );
    assert_eq!(
        email.hashed(HashAlgorithm::Sha1),
        "529a123cb5d93641ffa999c0e9b06aa4c40c3677"
    );
    assert_eq!(
        email.hashed(HashAlgorithm::Md5),
        "e496f5db75b278b8583e60cb834cfb11"
    );
}

#[test]
fn liveramp_phone_example() {
    // LiveRamp's style "+1 (AAA) BBB-CCCC" -> AAABBBCCCC, with a real area code.
    let phone = Phone::parse("+1 (212) 555-0123").unwrap();
    assert_eq!(phone.as_str(), "2125550123");
    assert_eq!(
        phone.hashed(HashAlgorithm::Sha1),
        "c924902bfce50c5c6e9da7573b7a99c78ab07dc1"
    );
    // LiveRamp's literal example uses 555, which is not an assigned area code.
    let err = Phone::parse("+1 (555) 123-4567").unwrap_err();
    assert_eq!(err, Rejected::PhoneInvalid);
    assert_eq!(err.code(), "phone.invalid");
}

#[test]
fn segment_regressions_are_not_repeated() {
    // Segment's regex turned these into "555" and "1555123"; here the digits survive intact
    // (with a real area code; 555 itself is invalid).
    assert_eq!(Phone::parse("212.555.0123").unwrap().as_str(), "2125550123");
    assert_eq!(
        Phone::parse("1-212-555-0123").unwrap().as_str(),
        "2125550123"
    );
    assert_eq!(
        Phone::parse("555.123.4567").unwrap_err(),
        Rejected::PhoneInvalid
    );
}

#[test]
fn emails() {
    for (raw, want) in [
        ("John.Doe+news@Gmail.com", "john.doe+news@gmail.com"),
        ("  a b@ex ample.com\t\n", "ab@example.com"),
        ("\u{00A0}x@y.org\u{3000}", "x@y.org"),
        ("\u{FEFF}x@y.org\u{200B}", "x@y.org"),
        ("ÉLODIE@EXEMPLE.FR", "élodie@exemple.fr"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
        ("USER@ÜBER.DE", "user@über.de"),
    ] {
        assert_eq!(Email::parse(raw).unwrap().as_str(), want, "{raw:?}");
    }
    for (raw, code) in [
        ("", "email.empty"),
        ("   ", "email.empty"),
        ("plainaddress", "email.no_at"),
        ("a@b@c.com", "email.many_at"),
        ("@example.com", "email.empty_local"),
        ("a@localhost", "email.bad_domain"),
        ("a@example..com", "email.bad_domain"),
        ("a@.example.com", "email.bad_domain"),
        ("a@example.com.", "email.bad_domain"),
        ("a@-example.com", "email.bad_domain"),
        ("a@example.com,", "email.bad_char"),
        ("\"a\"@example.com", "email.bad_char"),
        ("a@[127.0.0.1]", "email.bad_char"),
        ("a(b)@example.com", "email.bad_char"),
        ("a\u{0}@example.com", "email.bad_char"),
        ("a@exa_mple.com", "email.bad_char"),
    ] {
        assert_eq!(Email::parse(raw).unwrap_err().code(), code, "{raw:?}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert_eq!(Email::parse(&long).unwrap_err(), Rejected::EmailTooLong);
    let e = Email::parse("John@Example.com").unwrap();
    assert_eq!((e.local_part(), e.domain()), ("john", "example.com"));
}

#[test]
fn mobile_ids() {
    let idfa = Idfa::parse(" 6d92078a-8246-4ba4-ae5b-76104861e7dc ").unwrap();
    assert_eq!(idfa.as_str(), "6D92078A-8246-4BA4-AE5B-76104861E7DC");
    assert_eq!(
        Idfa::parse("6D92078A82464BA4AE5B76104861E7DC").unwrap(),
        idfa
    );
    let aaid = Aaid::parse("38400000-8CF0-11BD-B23E-10B96E40000D").unwrap();
    assert_eq!(aaid.as_str(), "38400000-8cf0-11bd-b23e-10b96e40000d");
    assert_eq!(
        Aaid::parse("38400000-8cf0-11bd-b23e-10b96e40000d").unwrap(),
        aaid
    );
    for (raw, idfa_code, aaid_code) in [
        ("", "idfa.empty", "aaid.empty"),
        (
            "00000000-0000-0000-0000-000000000000",
            "idfa.limited_ad_tracking",
            "aaid.limited_ad_tracking",
        ),
        (
            "00000000000000000000000000000000",
            "idfa.limited_ad_tracking",
            "aaid.limited_ad_tracking",
        ),
        (
            "6D92078A-8246-4BA4-AE5B-76104861E7D",
            "idfa.bad_shape",
            "aaid.bad_shape",
        ),
        (
            "6D92078A-8246-4BA4-AE5B-76104861E7DG",
            "idfa.bad_shape",
            "aaid.bad_shape",
        ),
        (
            "6D92078A8-246-4BA4-AE5B-76104861E7DC",
            "idfa.bad_shape",
            "aaid.bad_shape",
        ),
        (
            "{6D92078A-8246-4BA4-AE5B-76104861E7DC}",
            "idfa.bad_shape",
            "aaid.bad_shape",
        ),
    ] {
        assert_eq!(Idfa::parse(raw).unwrap_err().code(), idfa_code, "{raw:?}");
        assert_eq!(Aaid::parse(raw).unwrap_err().code(), aaid_code, "{raw:?}");
    }
}

#[test]
fn zips() {
    for (raw, want) in [
        ("10001", "10001"),
        ("10001-1234", "100011234"),
        ("10001 1234", "100011234"),
        ("100011234", "100011234"),
        (" 2134 ", "02134"),
        ("501", "00501"),
    ] {
        assert_eq!(Zip::parse(raw).unwrap().as_str(), want, "{raw:?}");
    }
    let z = Zip::parse("10001-1234").unwrap();
    assert_eq!((z.zip5(), z.plus4()), ("10001", Some("1234")));
    assert_eq!(Zip::parse("10001").unwrap().plus4(), None);
    assert_eq!(Zip::parse("").unwrap_err().code(), "zip.empty");
    for raw in [
        "12",
        "123456",
        "1234567",
        "12345678",
        "1234-5678",
        "ABCDE",
        "10001-12",
        "1000l",
    ] {
        assert_eq!(
            Zip::parse(raw).unwrap_err().code(),
            "zip.bad_shape",
            "{raw:?}"
        );
    }
}

#[test]
fn states() {
    for (raw, want) in [
        ("ny", "NY"),
        ("New York", "NY"),
        ("NEW   YORK", "NY"),
        ("n.y.", "NY"),
        ("district of columbia", "DC"),
        ("Washington, D.C.", "DC"),
        ("Washington", "WA"),
        ("Puerto Rico", "PR"),
        ("U.S. Virgin Islands", "VI"),
        ("guam", "GU"),
        ("American Samoa", "AS"),
        ("Northern Mariana Islands", "MP"),
        ("Calif.", "CA"),
        ("Armed Forces Europe", "AE"),
        ("ap", "AP"),
        ("Hawaiʻi", "HI"),
    ] {
        assert_eq!(
            State::parse(raw).map(|s| s.to_string()),
            Ok(want.to_owned()),
            "{raw:?}"
        );
    }
    assert_eq!(State::parse(" ").unwrap_err().code(), "state.empty");
    for raw in ["XX", "Narnia", "N", "New", "Ontario", "ZZZ"] {
        assert_eq!(
            State::parse(raw).unwrap_err().code(),
            "state.unknown",
            "{raw:?}"
        );
    }
}

/// The 50 most populous countries (UN estimates), by the names people write.
const POPULOUS: &[(&str, &str, &str)] = &[
    ("India", "IND", "IN"),
    ("China", "CHN", "CN"),
    ("United States", "USA", "US"),
    ("Indonesia", "IDN", "ID"),
    ("Pakistan", "PAK", "PK"),
    ("Nigeria", "NGA", "NG"),
    ("Brazil", "BRA", "BR"),
    ("Bangladesh", "BGD", "BD"),
    ("Russia", "RUS", "RU"),
    ("Ethiopia", "ETH", "ET"),
    ("Mexico", "MEX", "MX"),
    ("Japan", "JPN", "JP"),
    ("Egypt", "EGY", "EG"),
    ("Philippines", "PHL", "PH"),
    ("DR Congo", "COD", "CD"),
    ("Vietnam", "VNM", "VN"),
    ("Iran", "IRN", "IR"),
    ("Turkey", "TUR", "TR"),
    ("Germany", "DEU", "DE"),
    ("Thailand", "THA", "TH"),
    ("United Kingdom", "GBR", "GB"),
    ("Tanzania", "TZA", "TZ"),
    ("France", "FRA", "FR"),
    ("South Africa", "ZAF", "ZA"),
    ("Italy", "ITA", "IT"),
    ("Kenya", "KEN", "KE"),
    ("Myanmar", "MMR", "MM"),
    ("Colombia", "COL", "CO"),
    ("South Korea", "KOR", "KR"),
    ("Sudan", "SDN", "SD"),
    ("Uganda", "UGA", "UG"),
    ("Spain", "ESP", "ES"),
    ("Algeria", "DZA", "DZ"),
    ("Iraq", "IRQ", "IQ"),
    ("Argentina", "ARG", "AR"),
    ("Afghanistan", "AFG", "AF"),
    ("Yemen", "YEM", "YE"),
    ("Canada", "CAN", "CA"),
    ("Angola", "AGO", "AO"),
    ("Ukraine", "UKR", "UA"),
    ("Morocco", "MAR", "MA"),
    ("Poland", "POL", "PL"),
    ("Uzbekistan", "UZB", "UZ"),
    ("Malaysia", "MYS", "MY"),
    ("Mozambique", "MOZ", "MZ"),
    ("Ghana", "GHA", "GH"),
    ("Peru", "PER", "PE"),
    ("Saudi Arabia", "SAU", "SA"),
    ("Madagascar", "MDG", "MG"),
    ("Côte d'Ivoire", "CIV", "CI"),
    ("Nepal", "NPL", "NP"),
    ("Venezuela", "VEN", "VE"),
];

#[test]
fn countries() {
    for &(name, alpha3, alpha2) in POPULOUS {
        for raw in [
            name.to_owned(),
            name.to_uppercase(),
            name.to_lowercase(),
            alpha3.to_owned(),
            alpha3.to_lowercase(),
            alpha2.to_owned(),
            alpha2.to_lowercase(),
        ] {
            assert_eq!(
                Country::parse(&raw).map(|c| c.to_string()),
                Ok(alpha2.to_owned()),
                "{raw:?}"
            );
        }
    }
    for (raw, want) in [
        ("U.S.", "US"),
        ("U.S.A.", "US"),
        ("usa", "US"),
        ("United States of America", "US"),
        ("the United States", "US"),
        ("UK", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("Holland", "NL"),
        ("The Netherlands", "NL"),
        ("Ivory Coast", "CI"),
        ("Bosnia & Herzegovina", "BA"),
        ("St. Lucia", "LC"),
        ("Curaçao", "CW"),
        ("Korea, Republic of", "KR"),
        ("Åland Islands", "AX"),
    ] {
        assert_eq!(
            Country::parse(raw).map(|c| c.to_string()),
            Ok(want.to_owned()),
            "{raw:?}"
        );
    }
    assert_eq!(Country::parse("").unwrap_err().code(), "country.empty");
    for raw in ["XX", "Atlantis", "U", "Korea", "中国", "XYZ"] {
        assert_eq!(
            Country::parse(raw).unwrap_err().code(),
            "country.unknown",
            "{raw:?}"
        );
    }
}

#[test]
fn names_and_cities() {
    for (raw, want) in [
        ("  Mary   Ann ", "Mary Ann"),
        ("O'Brien\r\n", "O'Brien"),
        ("José\u{0}\u{1b}", "José"),
        ("Anne-\nMarie", "Anne- Marie"),
        ("\u{2028}Zoë\u{00A0}Smith\u{FEFF}", "Zoë Smith"),
        ("mcDONALD", "mcDONALD"),
    ] {
        assert_eq!(PersonName::parse(raw).unwrap().as_str(), want, "{raw:?}");
        assert_eq!(City::parse(raw).unwrap().as_str(), want, "{raw:?}");
    }
    assert_eq!(PersonName::parse(" \t\n").unwrap_err().code(), "name.empty");
    assert_eq!(City::parse("\u{0}\u{7f}").unwrap_err().code(), "city.empty");
}

#[test]
fn hash_algorithm_text_forms() {
    for (text, alg) in [
        ("md5", HashAlgorithm::Md5),
        ("sha1", HashAlgorithm::Sha1),
        ("sha256", HashAlgorithm::Sha256),
        ("SHA-1", HashAlgorithm::Sha1),
        ("Sha-256", HashAlgorithm::Sha256),
    ] {
        assert_eq!(text.parse::<HashAlgorithm>(), Ok(alg));
    }
    assert_eq!(HashAlgorithm::Md5.to_string(), "md5");
    assert_eq!(HashAlgorithm::Sha1.to_string(), "sha1");
    assert_eq!(HashAlgorithm::Sha256.to_string(), "sha256");
    assert!("sha512".parse::<HashAlgorithm>().is_err());
    assert!(!looks_hashed(
        "0x900150983cd24fb0d6963f7d28e17f",
        HashAlgorithm::Md5
    ));
    assert!(!looks_hashed(
        "900150983cd24fb0d6963f7d28e17f72 ",
        HashAlgorithm::Md5
    ));
    assert!(!looks_hashed(
        "900150983cd24fb0d6963f7d28e17f72",
        HashAlgorithm::Sha1
    ));
    assert!(!looks_hashed(
        "g00150983cd24fb0d6963f7d28e17f72",
        HashAlgorithm::Md5
    ));
}

#[test]
fn rejection_codes_are_distinct_and_messages_carry_no_input() {
    let all = [
        Email::parse("").unwrap_err(),
        Email::parse("x").unwrap_err(),
        Email::parse("a@b@c.d").unwrap_err(),
        Email::parse("@b.c").unwrap_err(),
        Email::parse("a@b").unwrap_err(),
        Email::parse("a,@b.c").unwrap_err(),
        Phone::parse("").unwrap_err(),
        Phone::parse("hello").unwrap_err(),
        Phone::parse("+44 20 7946 0958").unwrap_err(),
        Phone::parse("555-123-4567").unwrap_err(),
        Idfa::parse("").unwrap_err(),
        Idfa::parse("x").unwrap_err(),
        Idfa::parse("00000000000000000000000000000000").unwrap_err(),
        Aaid::parse("").unwrap_err(),
        Aaid::parse("x").unwrap_err(),
        Aaid::parse("00000000000000000000000000000000").unwrap_err(),
        Zip::parse("").unwrap_err(),
        Zip::parse("x").unwrap_err(),
        State::parse("").unwrap_err(),
        State::parse("x").unwrap_err(),
        Country::parse("").unwrap_err(),
        Country::parse("x").unwrap_err(),
        PersonName::parse("").unwrap_err(),
        City::parse("").unwrap_err(),
    ];
    let mut codes: Vec<&str> = all.iter().map(Rejected::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len(), "{codes:?}");
    let secret = Phone::parse("+44 20 7946 0958").unwrap_err().to_string();
    assert!(!secret.contains("7946"), "{secret}");
    assert!(secret.contains("+44"), "{secret}");
}
