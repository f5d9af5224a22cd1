//! `Mapper::map_into` over arbitrary profiles (JSON, so the seed corpus is real exports) and
//! four mapping configurations: every row has the header's width, never a panic; with hashing
//! on, no raw email or phone column exists.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use liveramp_identity_mapping::{MappedMember, Mapper, MappingConfig, Profile};

fn mappers() -> &'static [Mapper] {
    static MAPPERS: OnceLock<Vec<Mapper>> = OnceLock::new();
    MAPPERS.get_or_init(|| {
        let configs = [
            "{}",
            r#"{"hash_emails_and_phones": true, "email_columns": 3, "phone_columns": 3,
                "emails_from_other_identities": true}"#,
            r#"{"send_pii": ["FIRSTNAME", "LASTNAME", "ADDRESS1", "CITY", "STATE", "ZIP",
                "COUNTRY", "EMAIL", "EMAIL_SHA256", "PHONE", "PHONE_SHA1", "TIER", "LTV", "CID"],
                "custom_columns": [
                  {"header": "TIER", "source": {"user_attribute": "loyalty_tier"}},
                  {"header": "LTV", "source": {"calculated_attribute": "lifetime_value"}},
                  {"header": "CID", "source": {"identity": "customer_id"}}]}"#,
            r#"{"send_pii": false, "send_device_ids": ["IDFA"]}"#,
        ];
        configs
            .iter()
            .map(|json| {
                let config: MappingConfig = serde_json::from_str(json).expect("a valid config");
                Mapper::new(config).expect("a valid mapping")
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(profile) = Profile::from_json_slice(json) else {
        return;
    };
    let mapper = &mappers()[usize::from(selector) % mappers().len()];
    let mut out = MappedMember::new();
    // Twice into the same buffer: reuse must not leak the first result into the second.
    mapper.map_into(&profile, &mut out);
    let first = (
        out.pii_row().map(<[String]>::to_vec),
        out.device_rows().to_vec(),
        out.rejections().to_vec(),
    );
    mapper.map_into(&profile, &mut out);
    let second = (
        out.pii_row().map(<[String]>::to_vec),
        out.device_rows().to_vec(),
        out.rejections().to_vec(),
    );
    assert_eq!(
        first, second,
        "map_into is not deterministic over a reused buffer"
    );
    if let Some(row) = out.pii_row() {
        assert!(mapper.sends_pii());
        assert_eq!(row.len(), mapper.pii_headers().len());
    }
    if !mapper.sends_device_ids() {
        assert!(out.device_rows().is_empty());
    }
    if mapper.config().hash_emails_and_phones {
        for header in mapper.pii_headers() {
            let raw_email = header.starts_with("EMAIL") && !header.contains('_');
            let raw_phone = header.starts_with("PHONE") && !header.contains('_');
            assert!(
                !raw_email && !raw_phone,
                "hashing is on but {header} is a raw column"
            );
        }
    }
});
