//! Property tests: mapping never panics on arbitrary profiles and configs; every row has as
//! many fields as its header; every email/phone cell is empty or a value `pii-normalize` returns
//! unchanged (or a lowercase digest of the column's algorithm); mapping is deterministic and
//! buffer reuse never leaks one member into the next.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_identity_mapping::{
    AttributeValue, Attributes, ColumnSource, CustomColumn, Encoding, HashAlgorithm, Identity,
    MappedMember, Mapper, MappingConfig, Profile,
};
use liveramp_pii_normalize::{Email, Phone, looks_hashed};
use proptest::prelude::*;

/// Values that look like what real exports hold, plus arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        // Emails, messy.
        "[ ]{0,2}[A-Za-z0-9._+-]{1,12}@[A-Za-z0-9-]{1,8}\\.[A-Za-z]{2,4}[ ]{0,2}",
        // Phones, messy.
        "(\\+1 ?)?\\(?[2-9][0-9]{2}\\)?[ .-]?[2-9][0-9]{2}[ .-]?[0-9]{4}",
        // UUIDs of any case, zero IDs.
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
        // Hex digests of every length, any case.
        "[0-9a-fA-F]{32}",
        "[0-9a-fA-F]{40}",
        "[0-9a-fA-F]{64}",
        // Names, places, ZIPs, states, countries.
        "[A-Za-zÀ-ÿ ,'\"\\n\\t]{0,20}",
        "[0-9]{3,10}(-[0-9]{4})?",
        prop::sample::select(vec![
            "NY", "new york", "Ontario", "US", "USA", "Germany", "ZZ"
        ])
        .prop_map(str::to_owned),
        // Anything.
        any::<String>(),
    ]
}

fn identity_kind() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "email",
            "other",
            "mobile_number",
            "phone_number_2",
            "phone_number_3",
            "customer_id",
            "ios_advertising_id",
            "google_advertising_id",
            "android_advertising_id",
            "ios_vendor_id",
            "EMAIL",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        4 => Just(Encoding::Raw),
        1 => Just(Encoding::Md5),
        1 => Just(Encoding::Sha1),
        1 => Just(Encoding::Sha256),
        1 => "[a-z0-9-]{0,8}".prop_map(|name| Encoding::from_name(&name)),
    ]
}

fn identities() -> impl Strategy<Value = Vec<Identity>> {
    prop::collection::vec(
        (identity_kind(), encoding(), value()).prop_map(|(kind, encoding, value)| Identity {
            kind,
            encoding,
            value,
        }),
        0..8,
    )
}

fn attribute_value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        4 => value().prop_map(AttributeValue::String),
        1 => any::<i64>().prop_map(AttributeValue::from),
        1 => any::<f64>().prop_map(AttributeValue::from),
        1 => any::<bool>().prop_map(AttributeValue::Bool),
        1 => Just(AttributeValue::Null),
    ]
}

fn attributes() -> impl Strategy<Value = Attributes> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "$FirstName",
            "$LastName",
            "$Address",
            "$City",
            "$State",
            "$Zip",
            "$Country",
            "$Mobile",
            "loyalty_tier",
            "lifetime_value",
        ])
        .prop_map(str::to_owned),
        "\\$?[A-Za-z_]{1,10}",
    ];
    prop::collection::vec((name, attribute_value()), 0..12)
        .prop_map(|entries| entries.into_iter().collect())
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        proptest::option::of("[0-9]{1,12}"),
        identities(),
        identities(),
        attributes(),
        attributes(),
    )
        .prop_map(
            |(mpid, user_identities, device_identities, user_attributes, calculated_attributes)| {
                Profile {
                    mpid,
                    user_identities,
                    device_identities,
                    user_attributes,
                    calculated_attributes,
                }
            },
        )
}

fn hash_list() -> impl Strategy<Value = Vec<HashAlgorithm>> {
    prop::sample::subsequence(HashAlgorithm::ALL.to_vec(), 1..=3).prop_shuffle()
}

fn config() -> impl Strategy<Value = MappingConfig> {
    let tokens = prop::sample::subsequence(
        vec![
            "FIRSTNAME",
            "LASTNAME",
            "ADDRESS1",
            "CITY",
            "STATE",
            "ZIP",
            "COUNTRY",
            "EMAIL",
            "PHONE",
            "TIER",
            "LTV",
            "CUSTOMER_ID",
        ],
        0..=12,
    )
    .prop_shuffle();
    (
        tokens,
        any::<bool>(),
        hash_list(),
        hash_list(),
        1..4usize,
        1..4usize,
        any::<bool>(),
        prop::sample::subsequence(
            vec![
                liveramp_identity_mapping::DeviceIdType::Idfa,
                liveramp_identity_mapping::DeviceIdType::Aaid,
            ],
            0..=2,
        ),
    )
        .prop_map(
            |(tokens, hashing, email_hashes, phone_hashes, ne, np, other, devices)| MappingConfig {
                send_device_ids: devices,
                send_pii: tokens.into_iter().map(str::to_owned).collect(),
                custom_columns: vec![
                    CustomColumn::new("TIER", ColumnSource::UserAttribute("loyalty_tier".into())),
                    CustomColumn::new(
                        "LTV",
                        ColumnSource::CalculatedAttribute("lifetime_value".into()),
                    ),
                    CustomColumn::new("CUSTOMER_ID", ColumnSource::Identity("customer_id".into())),
                ],
                hash_emails_and_phones: hashing,
                email_hashes,
                phone_hashes,
                email_columns: ne,
                phone_columns: np,
                emails_from_other_identities: other,
                ..MappingConfig::default()
            },
        )
}

/// What a header says its cells hold.
fn algorithm_of(header: &str) -> Option<HashAlgorithm> {
    if header.ends_with("_MD5") {
        Some(HashAlgorithm::Md5)
    } else if header.ends_with("_SHA-1") {
        Some(HashAlgorithm::Sha1)
    } else if header.ends_with("_SHA-256") {
        Some(HashAlgorithm::Sha256)
    } else {
        None
    }
}

fn check_member(mapper: &Mapper, member: &MappedMember) -> Result<(), TestCaseError> {
    for device in member.device_rows() {
        let [id, kind] = device.fields();
        prop_assert_eq!(id.len(), 36);
        prop_assert!(kind == "IDFA" || kind == "AAID");
    }
    let Some(row) = member.pii_row() else {
        return Ok(());
    };
    prop_assert_eq!(row.len(), mapper.pii_headers().len());
    let mut identifier = false;
    for (header, cell) in mapper.pii_headers().iter().zip(row) {
        let is_email = header.starts_with("EMAIL");
        let is_phone = header.starts_with("PHONE");
        if !(is_email || is_phone) || cell.is_empty() {
            continue;
        }
        identifier = true;
        match algorithm_of(header) {
            Some(algorithm) => {
                prop_assert!(looks_hashed(cell, algorithm), "{header}: {cell}");
                prop_assert_eq!(cell.to_ascii_lowercase(), cell.clone());
            }
            None if is_email => {
                let again = Email::parse(cell).unwrap();
                prop_assert_eq!(again.as_str(), cell.as_str());
            }
            None => {
                let again = Phone::parse(cell).unwrap();
                prop_assert_eq!(again.as_str(), cell.as_str());
            }
        }
    }
    let headers = mapper.pii_headers();
    let cell = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .is_some_and(|i| !row[i].is_empty())
    };
    let name_and_address = cell("FIRSTNAME")
        && cell("LASTNAME")
        && cell("ADDRESS1")
        && (cell("ZIP") || (cell("CITY") && cell("STATE")));
    prop_assert!(identifier || name_and_address);
    // No field carries a line break from a built-in column.
    for (header, cell) in headers.iter().zip(row) {
        if !matches!(header.as_str(), "TIER" | "LTV" | "CUSTOMER_ID") {
            prop_assert!(!cell.contains('\n') && !cell.contains('\r'), "{header}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn mapping_arbitrary_profiles_keeps_the_invariants(
        config in config(),
        profiles in prop::collection::vec(profile(), 1..6),
    ) {
        let mapper = Mapper::new(&config).unwrap();
        let mut reused = MappedMember::new();
        for profile in &profiles {
            let fresh = mapper.map(profile);
            check_member(&mapper, &fresh)?;
            // Deterministic, and a reused buffer gives exactly what a fresh one gives.
            mapper.map_into(profile, &mut reused);
            prop_assert_eq!(fresh.pii_row(), reused.pii_row());
            prop_assert_eq!(fresh.device_rows(), reused.device_rows());
            prop_assert_eq!(fresh.rejections(), reused.rejections());
            let again = mapper.map(profile);
            prop_assert_eq!(fresh.pii_row(), again.pii_row());
            if !mapper.sends_pii() {
                prop_assert!(fresh.pii_row().is_none());
            }
        }
    }

    #[test]
    fn profiles_round_trip_through_json(profile in profile()) {
        let line = profile.to_json_line();
        let back = Profile::from_json_line(&line).unwrap();
        // Numbers may be re-spelled by JSON (e.g. `1e300`), everything else is kept exactly.
        prop_assert_eq!(back.to_json_line(), line);
        prop_assert_eq!(back.user_identities, profile.user_identities);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(line in any::<String>()) {
        let _ = Profile::from_json_line(&line);
    }

    #[test]
    fn parsing_json_like_text_never_panics(
        line in "\\{(\"(mpid|user_identities|device_identities|user_attributes|type|value|encoding)\"|[\\[\\]{}:,0-9.e\"a-z -])*\\}"
    ) {
        let _ = Profile::from_json_line(&line);
    }
}
