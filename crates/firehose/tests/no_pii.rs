//! No error ever contains a value of the message: PII-looking values put where another JSON
//! type belongs, in keyword fields, or in a message cut short, never appear in the error's
//! `Display`, `message()` or `Debug`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_firehose::{Error, Message};
use proptest::prelude::*;

/// Values that look like what a message carries: emails, phones, names, IDs, free text.
fn pii_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{3,10}\\.[a-z]{3,10}@[a-z]{3,8}\\.(com|org|net)",
        "\\+1 [2-9][0-9]{2} [0-9]{3} [0-9]{4}",
        "[A-Z][a-z]{4,9} [A-Z][a-z]{4,9}",
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "\\PC{8,24}",
    ]
}

/// Values that do not look like a keyword (so a keyword field must withhold them too).
fn pii_not_keyword() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{3,10}\\.[a-z]{3,10}@[a-z]{3,8}\\.(com|org|net)",
        "\\+1 [2-9][0-9]{2} [0-9]{3} [0-9]{4}",
        "[A-Z][a-z]{4,9} [A-Z][a-z]{4,9}",
        "[0-9]{7,12}",
    ]
}

/// A JSON number, boolean or container holding a value, for fields that want a string.
fn pii_non_string() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (1_000_000u64..u64::MAX).prop_map(|n| (n.to_string(), n.to_string())),
        (1_000_000i64..i64::MAX).prop_map(|n| (format!("-{n}"), format!("-{n}"))),
        (1_000_000u32..u32::MAX, 100u32..999)
            .prop_map(|(a, b)| (format!("{a}.{b}"), format!("{a}.{b}"))),
        pii_text().prop_map(|s| (s.clone(), format!("[{}]", json(&s)))),
        pii_text().prop_map(|s| (s.clone(), format!(r#"{{"v": {}}}"#, json(&s)))),
    ]
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

const HEAD_M: &str =
    r#""type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1"#;
const HEAD_S: &str = r#""type": "audience_subscription_request", "id": "x", "timestamp_ms": 1"#;
const HEAD_D: &str = r#""type": "dsr_processing_request", "id": "x", "timestamp_ms": 1"#;

/// Messages with `V` where something other than a string belongs.
fn not_string_slots() -> Vec<String> {
    vec![
        r#"{"type": "module_registration_request", "id": "x", "timestamp_ms": V}"#.to_owned(),
        format!(r#"{{{HEAD_S}, "audience_id": V, "action": "add"}}"#),
        format!(r#"{{{HEAD_M}, "account": {{"account_id": V}}}}"#),
        format!(r#"{{{HEAD_M}, "account": V}}"#),
        format!(r#"{{{HEAD_M}, "account": {{"account_id": 1, "account_settings": V}}}}"#),
        format!(r#"{{{HEAD_M}, "user_profiles": V}}"#),
        format!(r#"{{{HEAD_M}, "user_profiles": [V]}}"#),
        format!(r#"{{{HEAD_M}, "user_profiles": [{{"user_identities": V}}]}}"#),
        format!(r#"{{{HEAD_M}, "user_profiles": [{{"device_identities": [V]}}]}}"#),
        format!(r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [V]}}]}}"#),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": V, "action": "add"}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": "add", "user_attributes": [{{"key": "k", "action": "upsert", "list_value": V}}]}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": "add", "audience_subscription_settings": V}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": "erasure", "subject_identities": {{"email": V}}}}"#
        ),
        format!(
            r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": "erasure", "submitted_time": V}}"#
        ),
        format!(
            r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": "erasure", "subject_identities": V}}"#
        ),
        r#"{"type": [V]}"#.to_owned(),
        "[V]".to_owned(),
        "V".to_owned(),
    ]
}

/// Messages with `V` where a string belongs.
fn string_slots() -> Vec<String> {
    vec![
        r#"{"type": "module_registration_request", "id": V, "timestamp_ms": 1}"#.to_owned(),
        r#"{"type": V, "id": "x", "timestamp_ms": 1}"#.to_owned(),
        format!(r#"{{{HEAD_M}, "firehose_version": V}}"#),
        // (`mpid` takes integers too, so it is not here.)
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"user_identities": [{{"type": "email", "value": V}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"user_identities": [{{"type": V, "value": "v"}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "audience_name": V, "action": "add"}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": "add", "user_attributes": [{{"key": "k", "value": V, "action": "upsert"}}]}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": "add", "user_attributes": [{{"key": V, "action": "upsert"}}]}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": "add", "user_attributes": [{{"key": "k", "list_value": ["a", V], "action": "upsert"}}]}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "account": {{"account_id": 1, "account_settings": {{"apiKey": [V]}}}}}}"#
        ),
        format!(r#"{{{HEAD_S}, "audience_id": 1, "audience_name": V, "action": "add"}}"#),
        format!(r#"{{{HEAD_S}, "audience_id": 1, "audience_description": V, "action": "add"}}"#),
        format!(r#"{{{HEAD_D}, "subject_request_id": V, "subject_request_type": "erasure"}}"#),
        format!(
            r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": "erasure", "api_version": V}}"#
        ),
        format!(
            r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": "erasure", "subject_identities": {{"email": {{"value": V}}}}}}"#
        ),
    ]
}

/// Messages with `V` in a keyword field.
fn keyword_slots() -> Vec<String> {
    vec![
        r#"{"type": V, "id": "x", "timestamp_ms": 1}"#.to_owned(),
        r#"{"id": "x", "timestamp_ms": 1, "type": V}"#.to_owned(),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": V}}]}}]}}"#
        ),
        format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"audiences": [{{"audience_id": 1, "action": "add", "user_attributes": [{{"key": "k", "action": V}}]}}]}}]}}"#
        ),
        format!(r#"{{{HEAD_S}, "audience_id": 1, "action": V}}"#),
        format!(r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": V}}"#),
        format!(
            r#"{{{HEAD_D}, "subject_request_id": "r", "subject_request_type": "erasure", "regulation": V}}"#
        ),
    ]
}

/// Fails if `value` (as written, or JSON-escaped) is anywhere in what `error` prints.
fn assert_withheld(error: &Error, value: &str, body: &str) {
    let escaped = json(value);
    let escaped = &escaped[1..escaped.len() - 1];
    for text in [error.to_string(), error.message(), format!("{error:?}")] {
        assert!(
            !text.contains(value) && !text.contains(escaped),
            "the error shows the value {value:?}: {text}\nbody: {body}"
        );
    }
}

fn parse_err(body: &str) -> Error {
    match Message::from_json(body.as_bytes()) {
        Ok(m) => panic!("parsed: {m:?}\nbody: {body}"),
        Err(e) => e,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn strings_where_other_types_belong(value in pii_text(), slot in 0..19usize) {
        let slots = not_string_slots();
        let body = slots[slot % slots.len()].replace('V', &json(&value));
        let error = parse_err(&body);
        prop_assert!(
            matches!(error, Error::InvalidValue { .. }),
            "not a wrong type: {:?}\nbody: {}", error, body
        );
        assert_withheld(&error, &value, &body);
    }

    #[test]
    fn other_types_where_strings_belong((value, written) in pii_non_string(), slot in 0..15usize) {
        let slots = string_slots();
        let body = slots[slot % slots.len()].replace('V', &written);
        let error = parse_err(&body);
        assert_withheld(&error, &value, &body);
    }

    #[test]
    fn non_keywords_in_keyword_fields(value in pii_not_keyword(), slot in 0..7usize) {
        let slots = keyword_slots();
        let body = slots[slot % slots.len()].replace('V', &json(&value));
        let error = parse_err(&body);
        prop_assert!(
            matches!(error, Error::UnknownKeyword { value: None, .. } | Error::UnknownType { type_name: None, .. }),
            "{:?}\nbody: {}", error, body
        );
        prop_assert!(error.to_string().contains("(value withheld) is not "), "{}", error);
        assert_withheld(&error, &value, &body);
    }

    #[test]
    fn messages_cut_short(value in pii_text(), cut in 0.0f64..1.0) {
        let body = format!(
            r#"{{{HEAD_M}, "user_profiles": [{{"mpid": {v}, "user_identities": [{{"type": "email", "value": {v}}}],
                "audiences": [{{"audience_id": 1, "audience_name": {v}, "action": "attribute_update",
                "user_attributes": [{{"key": "$Mobile", "value": {v}, "list_value": [{v}], "action": "upsert"}}]}}]}}]}}"#,
            v = json(&value)
        );
        assert!(Message::from_json(body.as_bytes()).is_ok());
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let mut end = (body.len() as f64 * cut) as usize;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        let error = parse_err(&body[..end]);
        assert_withheld(&error, &value, &body[..end]);
    }
}

#[test]
fn the_examples_of_the_brief() {
    // serde_json would say `invalid type: string "jane@example.com", expected u64`.
    let error = parse_err(&format!(
        r#"{{{HEAD_S}, "audience_id": "jane@example.com", "action": "add"}}"#
    ));
    assert_eq!(
        error.to_string(),
        "audience_id: invalid type: string (value withheld), expected a non-negative integer"
    );
    let error = parse_err(&format!(
        r#"{{{HEAD_M}, "user_profiles": [{{"user_identities": [{{"type": "mobile_number", "value": 2125369598}}]}}]}}"#
    ));
    assert_eq!(
        error.to_string(),
        "user_profiles[0].user_identities[0].value: invalid type: integer (value withheld), \
         expected a string"
    );
}
