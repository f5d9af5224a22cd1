//! One test per mapping rule of the issue: headers, device rows, emails, phones, hashing,
//! built-in and custom columns, rejections and determinism.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_identity_mapping::{
    ColumnSource, CustomColumn, DeviceIdType, Error, HashAlgorithm, MappedMember, Mapper,
    MappingConfig, Profile, Rejection, Warning,
};
use liveramp_pii_normalize::hex_digest;

fn profile(json: &str) -> Profile {
    Profile::from_json_line(json).unwrap()
}

fn config(json: &str) -> MappingConfig {
    serde_json::from_str(json).unwrap()
}

fn mapper(json: &str) -> Mapper {
    Mapper::new(config(json)).unwrap()
}

fn headers(m: &Mapper) -> String {
    m.pii_headers().join(",")
}

fn codes(member: &MappedMember) -> Vec<&'static str> {
    member.rejections().iter().map(|r| r.code).collect()
}

fn row(member: &MappedMember) -> Vec<&str> {
    member
        .pii_row()
        .expect("a PII row")
        .iter()
        .map(String::as_str)
        .collect()
}

fn md5(s: &str) -> String {
    hex_digest(HashAlgorithm::Md5, s)
}
fn sha1(s: &str) -> String {
    hex_digest(HashAlgorithm::Sha1, s)
}
fn sha256(s: &str) -> String {
    hex_digest(HashAlgorithm::Sha256, s)
}

// ---------------------------------------------------------------- headers

#[test]
fn issue_example_headers_with_hashing_on_and_off() {
    let on =
        mapper(r#"{"send_pii": ["FIRSTNAME", "EMAIL", "PHONE"], "hash_emails_and_phones": true}"#);
    assert_eq!(
        headers(&on),
        "FIRSTNAME,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,PHONE1_SHA-1,PHONE2_SHA-1"
    );
    let off = mapper(r#"{"send_pii": ["FIRSTNAME", "EMAIL", "PHONE"]}"#);
    assert_eq!(headers(&off), "FIRSTNAME,EMAIL1,PHONE1,PHONE2");
    assert!(on.warnings().is_empty());
    assert!(off.warnings().is_empty());
}

#[test]
fn default_config_headers() {
    let m = Mapper::new(MappingConfig::default()).unwrap();
    assert_eq!(
        headers(&m),
        "FIRSTNAME,LASTNAME,EMAIL1,CITY,STATE,ZIP,COUNTRY,PHONE1,PHONE2"
    );
    assert_eq!(m.device_headers(), ["DEVICE_ID", "ID_TYPE"]);
    assert!(m.sends_pii() && m.sends_device_ids());
    let hashed = Mapper::new(&MappingConfig {
        hash_emails_and_phones: true,
        ..MappingConfig::default()
    })
    .unwrap();
    assert_eq!(
        headers(&hashed),
        "FIRSTNAME,LASTNAME,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,CITY,STATE,ZIP,COUNTRY,\
         PHONE1_SHA-1,PHONE2_SHA-1"
    );
}

#[test]
fn every_token_expands_in_order() {
    let m = mapper(
        r#"{"send_pii": ["EMAIL", "EMAIL_MD5", "EMAIL_SHA1", "EMAIL_SHA256", "PHONE", "PHONE_MD5",
            "PHONE_SHA1", "PHONE_SHA256", "FIRSTNAME", "LASTNAME", "ADDRESS1", "CITY", "STATE",
            "ZIP", "COUNTRY"]}"#,
    );
    assert_eq!(
        headers(&m),
        "EMAIL1,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,PHONE1,PHONE2,PHONE1_MD5,PHONE2_MD5,\
         PHONE1_SHA-1,PHONE2_SHA-1,PHONE1_SHA-256,PHONE2_SHA-256,FIRSTNAME,LASTNAME,ADDRESS1,\
         CITY,STATE,ZIP,COUNTRY"
    );
    assert_eq!(
        m.warnings(),
        [
            Warning::PhoneHashNotSha1 {
                algorithm: HashAlgorithm::Md5
            },
            Warning::PhoneHashNotSha1 {
                algorithm: HashAlgorithm::Sha256
            }
        ]
    );
}

#[test]
fn n_columns_and_hash_lists() {
    let m = mapper(
        r#"{"send_pii": ["EMAIL", "PHONE"], "hash_emails_and_phones": true, "email_columns": 2,
            "phone_columns": 1, "email_hashes": ["sha256", "md5"], "phone_hashes": ["sha1"]}"#,
    );
    assert_eq!(
        headers(&m),
        "EMAIL1_SHA-256,EMAIL2_SHA-256,EMAIL1_MD5,EMAIL2_MD5,PHONE1_SHA-1"
    );
    let m = mapper(r#"{"send_pii": ["email", "Phone_SHA-1", "zip"], "email_columns": 3}"#);
    assert_eq!(
        headers(&m),
        "EMAIL1,EMAIL2,EMAIL3,PHONE1_SHA-1,PHONE2_SHA-1,ZIP"
    );
}

#[test]
fn custom_columns_are_placed_by_header_or_appended() {
    let mut c = config(r#"{"send_pii": ["FIRSTNAME", "TIER", "EMAIL"]}"#);
    c.custom_columns = vec![
        CustomColumn::new(
            "LTV",
            ColumnSource::CalculatedAttribute("lifetime_value".into()),
        ),
        CustomColumn::new("TIER", ColumnSource::UserAttribute("loyalty_tier".into())),
        CustomColumn::new("CUSTOMER-ID", ColumnSource::Identity("customer_id".into())),
    ];
    let m = Mapper::new(c).unwrap();
    assert_eq!(headers(&m), "FIRSTNAME,TIER,EMAIL1,LTV,CUSTOMER-ID");
}

#[test]
fn invalid_headers_and_settings_are_errors() {
    let custom = |header: &str| {
        let mut c = config(r#"{"send_pii": ["EMAIL"]}"#);
        c.custom_columns = vec![CustomColumn::new(
            header,
            ColumnSource::UserAttribute("x".into()),
        )];
        Mapper::new(c).unwrap_err()
    };
    assert!(matches!(custom("tier"), Error::InvalidHeader { .. }));
    assert!(matches!(custom("MY TIER"), Error::InvalidHeader { .. }));
    assert!(matches!(custom(""), Error::InvalidHeader { .. }));
    assert!(matches!(
        custom(&"A".repeat(129)),
        Error::InvalidHeader { .. }
    ));
    assert!(
        Mapper::new({
            let mut c = config(r#"{"send_pii": ["EMAIL"]}"#);
            c.custom_columns = vec![CustomColumn::new(
                "A".repeat(128),
                ColumnSource::UserAttribute("x".into()),
            )];
            c
        })
        .is_ok()
    );
    assert_eq!(
        custom("EMAIL1"),
        Error::DuplicateHeader {
            header: "EMAIL1".into(),
            file: "PII"
        }
    );
    assert!(matches!(custom("EMAIL"), Error::InvalidHeader { .. }));

    let err = |json: &str| Mapper::new(config(json)).unwrap_err();
    assert_eq!(
        err(r#"{"send_pii": ["EMAIL", "EMAIL_SHA256"], "hash_emails_and_phones": true}"#),
        Error::DuplicateHeader {
            header: "EMAIL1_SHA-256".into(),
            file: "PII"
        }
    );
    assert_eq!(
        err(r#"{"send_pii": ["ZIP", "ZIP"]}"#),
        Error::DuplicateHeader {
            header: "ZIP".into(),
            file: "PII"
        }
    );
    assert_eq!(
        err(r#"{"send_pii": ["ZIP4"]}"#),
        Error::UnknownColumn {
            token: "ZIP4".into()
        }
    );
    assert_eq!(
        err(r#"{"send_pii": ["ZIP4"]}"#).to_string(),
        "unknown PII column \"ZIP4\": use FIRSTNAME, LASTNAME, ADDRESS1, CITY, STATE, ZIP, \
         COUNTRY, EMAIL, EMAIL_MD5, EMAIL_SHA1, EMAIL_SHA256, PHONE, PHONE_MD5, PHONE_SHA1, \
         PHONE_SHA256 or the header of a custom column"
    );
    assert!(matches!(
        err(r#"{"email_columns": 0}"#),
        Error::InvalidConfig {
            setting: "email_columns",
            ..
        }
    ));
    assert!(matches!(
        err(r#"{"phone_columns": 11}"#),
        Error::InvalidConfig {
            setting: "phone_columns",
            ..
        }
    ));
    assert!(matches!(
        err(r#"{"hash_emails_and_phones": true, "email_hashes": []}"#),
        Error::InvalidConfig {
            setting: "email_hashes",
            ..
        }
    ));
    assert!(matches!(
        err(r#"{"device_id_header": "device_id"}"#),
        Error::InvalidHeader { .. }
    ));
    assert!(matches!(
        err(r#"{"device_id_header": "ID", "device_type_header": "ID"}"#),
        Error::DuplicateHeader { file: "device", .. }
    ));
    // Errors say what to fix.
    let message = err(r#"{"send_pii": ["ZIP4"]}"#).to_string();
    assert!(message.contains("use FIRSTNAME"), "{message}");
}

#[test]
fn warnings_for_non_sha1_phone_hashes_and_unmatchable_columns() {
    let m = mapper(
        r#"{"send_pii": ["PHONE"], "hash_emails_and_phones": true, "phone_hashes": ["sha256", "sha1"]}"#,
    );
    assert_eq!(
        headers(&m),
        "PHONE1_SHA-256,PHONE2_SHA-256,PHONE1_SHA-1,PHONE2_SHA-1"
    );
    assert_eq!(
        m.warnings(),
        [Warning::PhoneHashNotSha1 {
            algorithm: HashAlgorithm::Sha256
        }]
    );
    assert_eq!(m.warnings()[0].code(), "config.phone_hash_not_sha1");
    assert!(m.warnings()[0].to_string().contains("only SHA-1"));

    let m = mapper(r#"{"send_pii": ["FIRSTNAME", "LASTNAME", "ZIP"]}"#);
    assert_eq!(m.warnings(), [Warning::NoMatchableColumns]);
    let m = mapper(r#"{"send_pii": ["FIRSTNAME", "LASTNAME", "ADDRESS1", "CITY", "STATE"]}"#);
    assert!(m.warnings().is_empty());
    let m = mapper(r#"{"send_pii": []}"#);
    assert!(m.warnings().is_empty());
}

// ---------------------------------------------------------------- device IDs

const IDFA: &str = "6d92078a-8246-4ba4-ae5b-76104861e7dc";
const AAID: &str = "38400000-8CF0-11BD-B23E-10B96E40000D";

#[test]
fn device_rows_normalised_deduplicated_and_typed() {
    let m = mapper(r#"{"send_pii": []}"#);
    let p = profile(&format!(
        r#"{{"device_identities": [
            {{"type": "ios_advertising_id", "value": "{IDFA}"}},
            {{"type": "google_advertising_id", "value": "{AAID}"}},
            {{"type": "ios_advertising_id", "value": "6D92078A82464BA4AE5B76104861E7DC"}},
            {{"type": "android_advertising_id", "value": "38400000-8cf0-11bd-b23e-10b96e40000d"}},
            {{"type": "ios_vendor_id", "value": "{IDFA}"}},
            {{"type": "ios_advertising_id", "value": "00000000-0000-0000-0000-000000000000"}},
            {{"type": "google_advertising_id", "value": "not-an-id"}},
            {{"type": "ios_advertising_id", "encoding": "sha256", "value": "{}"}}]}}"#,
        sha256("x")
    ));
    let member = m.map(&p);
    let rows: Vec<[&str; 2]> = member
        .device_rows()
        .iter()
        .map(liveramp_identity_mapping::DeviceRow::fields)
        .collect();
    assert_eq!(
        rows,
        [
            ["6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA"],
            ["38400000-8cf0-11bd-b23e-10b96e40000d", "AAID"]
        ]
    );
    assert_eq!(member.device_rows()[1].id_type(), DeviceIdType::Aaid);
    assert_eq!(
        member.rejections(),
        [
            Rejection {
                code: "idfa.limited_ad_tracking",
                field: "device_identities.ios_advertising_id",
                column: Some("DEVICE_ID")
            },
            Rejection {
                code: "aaid.bad_shape",
                field: "device_identities.google_advertising_id",
                column: Some("DEVICE_ID")
            },
            Rejection {
                code: "device.hashed",
                field: "device_identities.ios_advertising_id",
                column: Some("DEVICE_ID")
            },
        ]
    );
    assert!(member.pii_row().is_none());
}

#[test]
fn device_types_not_selected_are_not_sent() {
    let p = profile(&format!(
        r#"{{"device_identities": [{{"type": "ios_advertising_id", "value": "{IDFA}"}},
            {{"type": "google_advertising_id", "value": "{AAID}"}}]}}"#
    ));
    let only_aaid = mapper(r#"{"send_device_ids": ["AAID"], "send_pii": []}"#).map(&p);
    assert_eq!(only_aaid.device_rows().len(), 1);
    assert_eq!(only_aaid.device_rows()[0].id_type(), DeviceIdType::Aaid);
    let none = mapper(r#"{"send_device_ids": false, "send_pii": []}"#);
    assert!(!none.sends_device_ids());
    assert_eq!(none.device_headers(), ["DEVICE_ID", "ID_TYPE"]);
    assert!(none.map(&p).device_rows().is_empty());
    let renamed = mapper(r#"{"device_id_header": "MAID", "device_type_header": "MAID_TYPE"}"#);
    assert_eq!(renamed.device_headers(), ["MAID", "MAID_TYPE"]);
}

// ---------------------------------------------------------------- emails

#[test]
fn emails_normalised_deduplicated_and_limited() {
    let m = mapper(r#"{"send_pii": ["EMAIL"], "email_columns": 2}"#);
    let p = profile(
        r#"{"user_identities": [
            {"type": "email", "value": " Jane.Doe@Example.com"},
            {"type": "email", "value": "JANE.DOE@EXAMPLE.COM "},
            {"type": "email", "value": "no-at-sign"},
            {"type": "email", "value": "jd+news@example.org"},
            {"type": "email", "value": "third@example.net"},
            {"type": "other", "value": "other@example.com"}]}"#,
    );
    let member = m.map(&p);
    assert_eq!(
        row(&member),
        ["jane.doe@example.com", "jd+news@example.org"]
    );
    assert_eq!(
        member.rejections(),
        [
            Rejection {
                code: "email.no_at",
                field: "user_identities.email",
                column: Some("EMAIL")
            },
            Rejection {
                code: "email.over_column_limit",
                field: "user_identities.email",
                column: Some("EMAIL")
            },
        ]
    );
}

#[test]
fn other_identities_feed_emails_only_when_configured_and_only_if_emails() {
    let p = profile(
        r#"{"user_identities": [
            {"type": "other", "value": "crm-12345"},
            {"type": "other", "value": "Other@Example.com"},
            {"type": "email", "value": "main@example.com"}]}"#,
    );
    let off = mapper(r#"{"send_pii": ["EMAIL"], "email_columns": 2}"#).map(&p);
    assert_eq!(row(&off), ["main@example.com", ""]);
    let on = mapper(
        r#"{"send_pii": ["EMAIL"], "email_columns": 2, "emails_from_other_identities": true}"#,
    )
    .map(&p);
    // `email` identities come first, then `other`; "crm-12345" is not an email and not counted.
    assert_eq!(row(&on), ["main@example.com", "other@example.com"]);
    assert!(on.rejections().is_empty());
}

#[test]
fn hashed_email_identities_feed_only_their_own_column() {
    let m =
        mapper(r#"{"send_pii": ["EMAIL"], "hash_emails_and_phones": true, "email_columns": 2}"#);
    assert_eq!(
        headers(&m),
        "EMAIL1_MD5,EMAIL2_MD5,EMAIL1_SHA-1,EMAIL2_SHA-1,EMAIL1_SHA-256,EMAIL2_SHA-256"
    );
    let hashed = sha256("b@example.com");
    let p = profile(&format!(
        r#"{{"user_identities": [
            {{"type": "email", "encoding": "sha256", "value": "{}"}},
            {{"type": "email", "value": "A@example.com"}}]}}"#,
        hashed.to_uppercase()
    ));
    let member = m.map(&p);
    assert_eq!(
        row(&member),
        [
            "",
            &md5("a@example.com"),
            "",
            &sha1("a@example.com"),
            &hashed,
            &sha256("a@example.com"),
        ]
    );
    assert!(member.rejections().is_empty());
}

#[test]
fn hashed_identity_problems_are_counted() {
    let m = mapper(r#"{"send_pii": ["EMAIL_SHA256", "PHONE"], "email_columns": 3}"#);
    let p = profile(&format!(
        r#"{{"user_identities": [
            {{"type": "email", "encoding": "sha256", "value": "0x{}"}},
            {{"type": "email", "encoding": "md5", "value": "{}"}},
            {{"type": "email", "encoding": "base64", "value": "abc"}},
            {{"type": "email", "encoding": "sha256", "value": "{}"}},
            {{"type": "email", "value": "c@example.com"}},
            {{"type": "mobile_number", "encoding": "sha1", "value": "{}"}}]}}"#,
        sha256("a@example.com"),
        md5("a@example.com"),
        sha256("c@example.com"),
        sha1("2125550143"),
    ));
    let member = m.map(&p);
    // The sender's SHA-256 of c@example.com and the raw c@example.com are one email.
    assert_eq!(row(&member), [&sha256("c@example.com"), "", "", "", ""]);
    assert_eq!(
        codes(&member),
        [
            "email.bad_hash",
            "email.hash_column_not_selected",
            "email.unknown_encoding",
            "phone.hash_column_not_selected",
        ]
    );
}

#[test]
fn a_raw_value_upgrades_the_slot_of_its_own_hash() {
    let m = mapper(r#"{"send_pii": ["EMAIL", "EMAIL_SHA1"], "email_columns": 2}"#);
    let p = profile(&format!(
        r#"{{"user_identities": [
            {{"type": "email", "encoding": "sha1", "value": "{}"}},
            {{"type": "email", "value": "z@example.com"}},
            {{"type": "email", "value": "Y@Example.com"}}]}}"#,
        sha1("y@example.com"),
    ));
    let member = m.map(&p);
    assert_eq!(
        row(&member),
        [
            "y@example.com",
            "z@example.com",
            &sha1("y@example.com"),
            &sha1("z@example.com")
        ]
    );
    assert!(member.rejections().is_empty());
}

// ---------------------------------------------------------------- phones

#[test]
fn phones_come_from_identities_then_mobile_attribute_deduplicated() {
    let m = mapper(r#"{"send_pii": ["PHONE"], "phone_columns": 3}"#);
    let p = profile(
        r#"{"user_identities": [
            {"type": "phone_number_3", "value": "312-555-0100"},
            {"type": "phone_number_2", "value": "(415) 555-0199"},
            {"type": "mobile_number", "value": "+1 212.555.0143"}],
           "user_attributes": {"$Mobile": "212 555 0143"}}"#,
    );
    let member = m.map(&p);
    assert_eq!(row(&member), ["2125550143", "4155550199", "3125550100"]);
    assert!(member.rejections().is_empty());

    let two = mapper(r#"{"send_pii": ["PHONE"]}"#).map(&p);
    assert_eq!(row(&two), ["2125550143", "4155550199"]);
    assert_eq!(
        two.rejections(),
        [Rejection {
            code: "phone.over_column_limit",
            field: "user_identities.phone_number_3",
            column: Some("PHONE")
        }]
    );
}

#[test]
fn mobile_attribute_fills_a_free_phone_column_and_bad_phones_are_counted() {
    let m = mapper(r#"{"send_pii": ["PHONE"]}"#);
    let p = profile(
        r#"{"user_identities": [
            {"type": "mobile_number", "value": "555-123-4567"},
            {"type": "phone_number_2", "value": "+44 20 7946 0958"},
            {"type": "phone_number_3", "value": "12"}],
           "user_attributes": {"$Mobile": 2125550143}}"#,
    );
    let member = m.map(&p);
    assert_eq!(row(&member), ["2125550143", ""]);
    assert_eq!(
        member.rejections(),
        [
            Rejection {
                code: "phone.invalid",
                field: "user_identities.mobile_number",
                column: Some("PHONE")
            },
            Rejection {
                code: "phone.not_nanp",
                field: "user_identities.phone_number_2",
                column: Some("PHONE")
            },
            Rejection {
                code: "phone.unparsable",
                field: "user_identities.phone_number_3",
                column: Some("PHONE")
            },
        ]
    );
}

#[test]
fn hashing_on_writes_only_hash_columns_each_hash_once() {
    let m = mapper(
        r#"{"send_pii": ["EMAIL", "PHONE"], "hash_emails_and_phones": true,
            "phone_hashes": ["sha1", "md5"]}"#,
    );
    let p = profile(
        r#"{"user_identities": [{"type": "email", "value": "MyName@liveramp.com "},
            {"type": "mobile_number", "value": "+1 (212) 555-0143"}],
           "user_attributes": {"$Mobile": "1-415-555-0199"}}"#,
    );
    let member = m.map(&p);
    assert_eq!(
        row(&member),
        [
            md5("myname@liveramp.com"),
            sha1("myname@liveramp.com"),
            sha256("myname@liveramp.com"),
            sha1("2125550143"),
            sha1("4155550199"),
            md5("2125550143"),
            md5("4155550199"),
        ]
    );
    // Independently computed digests (`printf ... | sha256sum`, `| sha1sum`).
    assert_eq!(
        member.pii_row().unwrap()[2],
        "ad474377422023fe13c6421afa7958559ee3ce1c5aa8395e92140cc09912c1be"
    );
    assert_eq!(
        member.pii_row().unwrap()[3],
        "642a995e9ac252a0543d2f07470c3935b53b2989"
    );
    assert!(member.pii_row().unwrap().iter().all(|c| !c.contains('@')));
}

// ---------------------------------------------------------------- built-in and custom columns

#[test]
fn built_in_columns_are_normalised_and_failures_counted() {
    let m = mapper(
        r#"{"send_pii": ["FIRSTNAME", "LASTNAME", "ADDRESS1", "CITY", "STATE", "ZIP", "COUNTRY", "EMAIL"]}"#,
    );
    let p = profile(
        r#"{"user_identities": [{"type": "email", "value": "a@example.com"}],
           "user_attributes": {"$FirstName": "  José\n", "$LastName": "O'Brien,  Jr",
             "$Address": " 12  Main St\r\nApt 4 ", "$City": "new   york", "$State": "new york",
             "$Zip": 2134, "$Country": "United States"}}"#,
    );
    let member = m.map(&p);
    assert_eq!(
        row(&member),
        [
            "José",
            "O'Brien, Jr",
            "12 Main St Apt 4",
            "new york",
            "NY",
            "02134",
            "US",
            "a@example.com"
        ]
    );
    assert!(member.rejections().is_empty());

    let bad = profile(
        r#"{"user_identities": [{"type": "email", "value": "a@example.com"}],
           "user_attributes": {"$FirstName": " ", "$LastName": null, "$Address": "\n",
             "$City": "", "$State": "Ontario", "$Zip": "ABC", "$Country": "Atlantis"}}"#,
    );
    let member = m.map(&bad);
    assert_eq!(row(&member), ["", "", "", "", "", "", "", "a@example.com"]);
    let found: Vec<(&str, &str, Option<&str>)> = member
        .rejections()
        .iter()
        .map(|r| (r.code, r.field, r.column))
        .collect();
    assert_eq!(
        found,
        [
            (
                "name.empty",
                "user_attributes.$FirstName",
                Some("FIRSTNAME")
            ),
            (
                "address.empty",
                "user_attributes.$Address",
                Some("ADDRESS1")
            ),
            ("city.empty", "user_attributes.$City", Some("CITY")),
            ("state.unknown", "user_attributes.$State", Some("STATE")),
            ("zip.bad_shape", "user_attributes.$Zip", Some("ZIP")),
            (
                "country.unknown",
                "user_attributes.$Country",
                Some("COUNTRY")
            ),
        ]
    );
}

#[test]
fn unselected_columns_are_not_normalised_or_counted() {
    let m = mapper(r#"{"send_pii": ["EMAIL"]}"#);
    let p = profile(
        r#"{"user_identities": [{"type": "email", "value": "a@example.com"},
             {"type": "mobile_number", "value": "bad"}],
           "user_attributes": {"$Zip": "bad", "$State": "bad"}}"#,
    );
    let member = m.map(&p);
    assert_eq!(row(&member), ["a@example.com"]);
    assert!(member.rejections().is_empty());
}

#[test]
fn custom_columns_of_each_source() {
    let mut c = config(r#"{"send_pii": ["EMAIL"]}"#);
    c.custom_columns = vec![
        CustomColumn::new("CUSTOMER_ID", ColumnSource::Identity("customer_id".into())),
        CustomColumn::new("VENDOR_ID", ColumnSource::Identity("ios_vendor_id".into())),
        CustomColumn::new("TIER", ColumnSource::UserAttribute("loyalty_tier".into())),
        CustomColumn::new("OPTED_IN", ColumnSource::UserAttribute("opted_in".into())),
        CustomColumn::new("AGE", ColumnSource::UserAttribute("$Age".into())),
        CustomColumn::new("NOTE", ColumnSource::UserAttribute("note".into())),
        CustomColumn::new(
            "LTV",
            ColumnSource::CalculatedAttribute("lifetime_value".into()),
        ),
        CustomColumn::new("ORDERS", ColumnSource::CalculatedAttribute("orders".into())),
        CustomColumn::new("MISSING", ColumnSource::CalculatedAttribute("nope".into())),
    ];
    let m = Mapper::new(c).unwrap();
    assert_eq!(
        headers(&m),
        "EMAIL1,CUSTOMER_ID,VENDOR_ID,TIER,OPTED_IN,AGE,NOTE,LTV,ORDERS,MISSING"
    );
    let p = profile(
        r#"{"user_identities": [{"type": "email", "value": "a@example.com"},
             {"type": "customer_id", "value": "  "}, {"type": "customer_id", "value": " C-77 "}],
           "device_identities": [{"type": "ios_vendor_id", "value": "V1"}],
           "user_attributes": {"loyalty_tier": " Gold ", "opted_in": false, "$Age": null,
             "note": "says \"hi\", twice"},
           "calculated_attributes": {"lifetime_value": 1234.5, "orders": 42}}"#,
    );
    let member = m.map(&p);
    assert_eq!(
        row(&member),
        [
            "a@example.com",
            "C-77",
            "V1",
            "Gold",
            "false",
            "",
            "says \"hi\", twice",
            "1234.5",
            "42",
            ""
        ]
    );
    assert!(member.rejections().is_empty());
}

// ---------------------------------------------------------------- no matchable identifier

#[test]
fn no_matchable_identifier_gives_no_row_and_a_rejection() {
    let m = mapper(
        r#"{"send_pii": ["FIRSTNAME", "LASTNAME", "ADDRESS1", "CITY", "STATE", "ZIP", "EMAIL", "PHONE"]}"#,
    );
    let case = |attrs: &str| m.map(&profile(&format!(r#"{{"user_attributes": {{{attrs}}}}}"#)));
    let rejected = |member: &MappedMember| {
        member.pii_row().is_none()
            && member.rejections().last()
                == Some(&Rejection {
                    code: "pii.no_matchable_identifier",
                    field: "profile",
                    column: None,
                })
    };
    // Nothing at all.
    assert!(rejected(&case("")));
    // A name only.
    assert!(rejected(&case(
        r#""$FirstName": "Jane", "$LastName": "Doe""#
    )));
    // Name and address, but neither ZIP nor city and state.
    assert!(rejected(&case(
        r#""$FirstName": "Jane", "$LastName": "Doe", "$Address": "1 Main St", "$City": "Austin""#
    )));
    // ZIP that fails normalisation does not count.
    let member =
        case(r#""$FirstName": "Jane", "$LastName": "Doe", "$Address": "1 Main St", "$Zip": "x""#);
    assert!(rejected(&member));
    assert_eq!(
        codes(&member),
        ["zip.bad_shape", "pii.no_matchable_identifier"]
    );
    // Name, address and ZIP.
    let member = case(
        r#""$FirstName": "Jane", "$LastName": "Doe", "$Address": "1 Main St", "$Zip": "78701""#,
    );
    assert_eq!(
        row(&member),
        ["Jane", "Doe", "1 Main St", "", "", "78701", "", "", ""]
    );
    assert!(member.rejections().is_empty());
    // Name, address, city and state.
    let member = case(
        r#""$FirstName": "Jane", "$LastName": "Doe", "$Address": "1 Main St", "$City": "Austin", "$State": "TX""#,
    );
    assert!(member.pii_row().is_some());
    // A phone alone is enough.
    let member = case(r#""$Mobile": "(212) 555-0143""#);
    assert_eq!(row(&member), ["", "", "", "", "", "", "", "2125550143", ""]);
    // A bad phone is not.
    let member = case(r#""$Mobile": "555-0143""#);
    assert!(rejected(&member));
    assert_eq!(member.rejections().len(), 2);
}

#[test]
fn no_pii_configured_means_no_row_and_no_rejection() {
    let m = mapper(r#"{"send_pii": []}"#);
    assert!(!m.sends_pii());
    assert!(m.pii_headers().is_empty());
    let member = m.map(&profile(r#"{"user_attributes": {"$FirstName": "x"}}"#));
    assert!(member.pii_row().is_none());
    assert!(member.rejections().is_empty());
}

// ---------------------------------------------------------------- determinism and reuse

#[test]
fn mapper_and_results_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mapper>();
    send_sync::<MappedMember>();
    send_sync::<Profile>();
    send_sync::<Error>();
}

#[test]
fn deterministic_and_map_into_reuses_buffers_without_leaking() {
    let m = mapper(
        r#"{"send_pii": ["FIRSTNAME", "EMAIL", "PHONE", "ZIP"], "hash_emails_and_phones": true}"#,
    );
    let full = profile(&format!(
        r#"{{"user_identities": [{{"type": "email", "value": "a@example.com"}},
             {{"type": "mobile_number", "value": "2125550143"}}, {{"type": "phone_number_2", "value": "bad"}}],
           "device_identities": [{{"type": "ios_advertising_id", "value": "{IDFA}"}}],
           "user_attributes": {{"$FirstName": "Ann", "$Zip": "10001", "$Mobile": "4155550199"}}}}"#
    ));
    let sparse = profile(r#"{"user_identities": [{"type": "email", "value": "b@example.com"}]}"#);
    let mut reused = MappedMember::new();
    m.map_into(&full, &mut reused);
    assert_eq!(reused.device_rows().len(), 1);
    assert_eq!(codes(&reused), ["phone.unparsable"]);
    m.map_into(&sparse, &mut reused);
    let fresh = m.map(&sparse);
    assert_eq!(reused.pii_row(), fresh.pii_row());
    assert_eq!(reused.device_rows(), fresh.device_rows());
    assert_eq!(reused.rejections(), fresh.rejections());
    assert!(reused.device_rows().is_empty());
    assert_eq!(
        row(&reused),
        [
            "",
            &md5("b@example.com"),
            &sha1("b@example.com"),
            &sha256("b@example.com"),
            "",
            "",
            ""
        ]
    );
    // A member without a row after one with a row.
    m.map_into(&full, &mut reused);
    m.map_into(&Profile::default(), &mut reused);
    assert!(reused.pii_row().is_none());
    assert_eq!(codes(&reused), ["pii.no_matchable_identifier"]);
    // Same input, same bytes.
    assert_eq!(m.map(&full).pii_row(), m.map(&full).pii_row());
}
