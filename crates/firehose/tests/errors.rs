//! Every strict error: its variant, its exact `path()` and its exact text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_firehose::{Error, Message};

/// The error of a body that must not parse.
fn error(body: &str) -> Error {
    match Message::from_json(body.as_bytes()) {
        Ok(message) => panic!("parsed, but should not have: {message:?}\n{body}"),
        Err(e) => {
            // Both entry points give the same error.
            assert_eq!(
                Message::from_json_str(body).err().as_ref(),
                Some(&e),
                "{body}"
            );
            e
        }
    }
}

/// Checks the path, the text, and that the text is `path: message`.
#[track_caller]
fn check(body: &str, path: &str, text: &str) -> Error {
    let e = error(body);
    assert_eq!(e.path(), path, "path of {body}");
    assert_eq!(e.to_string(), text, "text of {body}");
    if path.is_empty() {
        assert_eq!(e.message(), text);
    } else {
        assert_eq!(format!("{}: {}", e.path(), e.message()), text);
    }
    e
}

const MEMBERSHIP: &str =
    r#""type": "audience_membership_change_request", "id": "m-1", "timestamp_ms": 1767225600000"#;
const SUBSCRIPTION: &str =
    r#""type": "audience_subscription_request", "id": "s-1", "timestamp_ms": 1767225600000"#;
const DSR: &str = r#""type": "dsr_processing_request", "id": "d-1", "timestamp_ms": 1767225600000"#;

fn membership(profiles: &str) -> String {
    format!(r#"{{{MEMBERSHIP}, "user_profiles": [{profiles}]}}"#)
}

#[test]
fn missing_envelope_fields() {
    let e = check(
        r#"{"type": "module_registration_request", "timestamp_ms": 1}"#,
        "id",
        "id: required field is missing",
    );
    assert!(matches!(e, Error::MissingField { .. }), "{e:?}");
    check(
        r#"{"type": "audience_membership_change_request", "id": "x"}"#,
        "timestamp_ms",
        "timestamp_ms: required field is missing",
    );
    // `id` is checked before `timestamp_ms`.
    check(
        r#"{"type": "dsr_processing_request"}"#,
        "id",
        "id: required field is missing",
    );
}

#[test]
fn missing_type() {
    for body in [
        r#"{"id": "x", "timestamp_ms": 1, "user_profiles": []}"#,
        "{}",
        " { } ",
    ] {
        let e = check(body, "type", "type: required field is missing");
        assert!(matches!(e, Error::MissingField { .. }), "{e:?}");
    }
}

#[test]
fn unknown_type() {
    let text = "type: \"event_processing_request\" is not module_registration_request, \
                audience_subscription_request, audience_membership_change_request or \
                dsr_processing_request";
    for body in [
        r#"{"type": "event_processing_request", "id": "x", "timestamp_ms": 1}"#,
        r#"{"id": "x", "timestamp_ms": 1, "type": "event_processing_request"}"#,
    ] {
        let e = check(body, "type", text);
        assert_eq!(
            e,
            Error::UnknownType {
                type_name: Some("event_processing_request".to_owned()),
                line: 1,
                // Just after the type's closing quote.
                column: body.find("request\"").unwrap() + "request\"".len(),
            }
        );
        assert_eq!(
            e.message(),
            text.strip_prefix("type: ").unwrap(),
            "message without the path"
        );
    }
    // A response type is not a message to read either.
    let e = error(r#"{"type": "audience_membership_change_response"}"#);
    assert!(
        matches!(&e, Error::UnknownType { type_name: Some(t), .. } if t == "audience_membership_change_response"),
        "{e:?}"
    );
    // A type that does not look like a keyword is not echoed.
    check(
        r#"{"type": "jane.doe@example.com", "id": "x", "timestamp_ms": 1}"#,
        "type",
        "type: (value withheld) is not module_registration_request, \
         audience_subscription_request, audience_membership_change_request or \
         dsr_processing_request",
    );
    // Not a string at all.
    check(
        r#"{"type": 5}"#,
        "type",
        "type: invalid type: integer (value withheld), expected a message type (a string)",
    );
    check(
        r#"{"id": "x", "type": ["audience_membership_change_request"]}"#,
        "type",
        "type: invalid type: array, expected a message type (a string)",
    );
}

#[test]
fn missing_audience_id() {
    let body = membership(
        r#"{"audiences": [{"audience_id": 1, "action": "add"}]},
           {"audiences": [{"audience_name": "Lapsed", "action": "delete"}]}"#,
    );
    let e = check(
        &body,
        "user_profiles[1].audiences[0].audience_id",
        "user_profiles[1].audiences[0].audience_id: required field is missing",
    );
    assert!(matches!(e, Error::MissingField { line: 2, .. }), "{e:?}");
    check(
        &format!(r#"{{{SUBSCRIPTION}, "audience_name": "Lapsed", "action": "add"}}"#),
        "audience_id",
        "audience_id: required field is missing",
    );
}

#[test]
fn missing_fields_inside_profiles() {
    check(
        &membership(r#"{"audiences": [{"audience_id": 1}]}"#),
        "user_profiles[0].audiences[0].action",
        "user_profiles[0].audiences[0].action: required field is missing",
    );
    check(
        &membership(
            r#"{"audiences": [{"audience_id": 1, "action": "attribute_update", "user_attributes": [{"value": "x", "action": "upsert"}]}]}"#,
        ),
        "user_profiles[0].audiences[0].user_attributes[0].key",
        "user_profiles[0].audiences[0].user_attributes[0].key: required field is missing",
    );
    check(
        &membership(
            r#"{"audiences": [{"audience_id": 1, "action": "attribute_update", "user_attributes": [{"key": "$Zip"}]}]}"#,
        ),
        "user_profiles[0].audiences[0].user_attributes[0].action",
        "user_profiles[0].audiences[0].user_attributes[0].action: required field is missing",
    );
    check(
        &membership(r#"{"user_identities": [{"type": "email", "encoding": "raw"}]}"#),
        "user_profiles[0].user_identities[0].value",
        "user_profiles[0].user_identities[0].value: required field is missing",
    );
    check(
        &membership(r#"{"device_identities": [{"value": "x"}]}"#),
        "user_profiles[0].device_identities[0].type",
        "user_profiles[0].device_identities[0].type: required field is missing",
    );
    check(
        &format!(r#"{{{MEMBERSHIP}, "account": {{"account_settings": {{}}}}}}"#),
        "account.account_id",
        "account.account_id: required field is missing",
    );
    check(
        &format!(r#"{{{DSR}, "subject_request_type": "erasure"}}"#),
        "subject_request_id",
        "subject_request_id: required field is missing",
    );
    check(
        &format!(r#"{{{DSR}, "subject_request_id": "r"}}"#),
        "subject_request_type",
        "subject_request_type: required field is missing",
    );
    check(
        &format!(
            r#"{{{DSR}, "subject_request_id": "r", "subject_request_type": "erasure",
                "subject_identities": {{"email": {{"encoding": "raw"}}}}}}"#
        ),
        "subject_identities.email.value",
        "subject_identities.email.value: required field is missing",
    );
    check(
        &format!(r#"{{{SUBSCRIPTION}, "audience_id": 9}}"#),
        "action",
        "action: required field is missing",
    );
}

#[test]
fn unknown_membership_action() {
    let ok = r#"{"audiences": [{"audience_id": 1, "action": "add"}]}"#;
    let body = membership(&format!(
        r#"{ok}, {ok}, {ok}, {{"audiences": [{{"audience_id": 2, "action": "remove"}}]}}"#
    ));
    let e = check(
        &body,
        "user_profiles[3].audiences[0].action",
        r#"user_profiles[3].audiences[0].action: "remove" is not add, delete or attribute_update"#,
    );
    assert_eq!(
        e,
        Error::UnknownKeyword {
            path: "user_profiles[3].audiences[0].action".to_owned(),
            value: Some("remove".to_owned()),
            expected: "add, delete or attribute_update",
            line: 1,
            column: body.find("\"remove\"").unwrap() + "\"remove\"".len(),
        }
    );
    assert_eq!(
        e.message(),
        r#""remove" is not add, delete or attribute_update"#
    );
    // Keywords are case-sensitive, as mParticle writes them.
    check(
        &membership(r#"{"audiences": [{"audience_id": 2, "action": "Add"}]}"#),
        "user_profiles[0].audiences[0].action",
        r#"user_profiles[0].audiences[0].action: "Add" is not add, delete or attribute_update"#,
    );
    // An action that does not look like a keyword is withheld.
    check(
        &membership(r#"{"audiences": [{"audience_id": 2, "action": "jane@example.com"}]}"#),
        "user_profiles[0].audiences[0].action",
        "user_profiles[0].audiences[0].action: (value withheld) is not add, delete or \
         attribute_update",
    );
}

#[test]
fn unknown_attribute_action() {
    check(
        &membership(
            r#"{"audiences": [{"audience_id": 2, "action": "attribute_update", "user_attributes": [
                {"key": "$Zip", "value": "10001", "action": "upsert"},
                {"key": "$City", "value": "New York", "action": "insert"}]}]}"#,
        ),
        "user_profiles[0].audiences[0].user_attributes[1].action",
        r#"user_profiles[0].audiences[0].user_attributes[1].action: "insert" is not upsert or delete"#,
    );
}

#[test]
fn unknown_subscription_action() {
    check(
        &format!(r#"{{{SUBSCRIPTION}, "audience_id": 9, "action": "delete"}}"#),
        "action",
        r#"action: "delete" is not add, update or remove"#,
    );
}

#[test]
fn unknown_dsr_keywords() {
    check(
        &format!(
            r#"{{{DSR}, "subject_request_id": "r", "subject_request_type": "rectification"}}"#
        ),
        "subject_request_type",
        r#"subject_request_type: "rectification" is not erasure, access or portability"#,
    );
    check(
        &format!(
            r#"{{{DSR}, "subject_request_id": "r", "subject_request_type": "erasure", "regulation": "lgpd"}}"#
        ),
        "regulation",
        r#"regulation: "lgpd" is not gdpr, ccpa or unknown"#,
    );
}

#[test]
fn wrong_types() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"type": "module_registration_request", "id": "x", "timestamp_ms": "yesterday"}"#,
            "timestamp_ms",
            "timestamp_ms: invalid type: string (value withheld), expected an integer",
        ),
        (
            r#"{"type": "module_registration_request", "id": null, "timestamp_ms": 1}"#,
            "id",
            "id: invalid type: null, expected a string",
        ),
        (
            r#"{"type": "module_registration_request", "id": 42, "timestamp_ms": 1}"#,
            "id",
            "id: invalid type: integer (value withheld), expected a string",
        ),
        (
            r#"{"type": "module_registration_request", "id": "x", "timestamp_ms": 1.5}"#,
            "timestamp_ms",
            "timestamp_ms: invalid type: number with a fraction or exponent (value withheld), \
             expected an integer",
        ),
        (
            r#"{"type": "module_registration_request", "id": "x", "timestamp_ms": 18446744073709551615}"#,
            "timestamp_ms",
            "timestamp_ms: invalid value: an integer over 2^63 - 1, expected an integer",
        ),
        (
            r#"{"type": "audience_subscription_request", "id": "x", "timestamp_ms": 1, "audience_id": -5, "action": "add"}"#,
            "audience_id",
            "audience_id: invalid value: a negative integer, expected a non-negative integer",
        ),
        (
            r#"{"type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1, "user_profiles": {}}"#,
            "user_profiles",
            "user_profiles: invalid type: object, expected an array",
        ),
        (
            r#"{"type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1, "user_profiles": [true]}"#,
            "user_profiles[0]",
            "user_profiles[0]: invalid type: boolean (value withheld), expected a user profile \
             (an object)",
        ),
        (
            r#"{"type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1, "user_profiles": [{"mpid": 1.25}]}"#,
            "user_profiles[0].mpid",
            "user_profiles[0].mpid: invalid type: number with a fraction or exponent (value \
             withheld), expected an mpid (a string or an integer)",
        ),
        (
            r#"{"type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1, "account": {"account_id": 1, "account_settings": {"Example Setting": {"nested": true}}}}"#,
            r#"account.account_settings["Example Setting"]"#,
            r#"account.account_settings["Example Setting"]: invalid type: object, expected a setting value (a string, number, boolean or null)"#,
        ),
        (
            r#"{"type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1, "user_profiles": [{"audiences": [{"audience_id": 1, "action": "attribute_update", "user_attributes": [{"key": "k", "list_value": ["a", 7], "action": "upsert"}]}]}]}"#,
            "user_profiles[0].audiences[0].user_attributes[0].list_value[1]",
            "user_profiles[0].audiences[0].user_attributes[0].list_value[1]: invalid type: \
             integer (value withheld), expected a string",
        ),
        (
            r#"{"type": "dsr_processing_request", "id": "x", "timestamp_ms": 1, "subject_request_id": "r", "subject_request_type": "erasure", "submitted_time": "2026-01-01T00:00:00Z"}"#,
            "submitted_time",
            "submitted_time: invalid type: string (value withheld), expected a number",
        ),
        (
            r#"{"type": "dsr_processing_request", "id": "x", "timestamp_ms": 1, "subject_request_id": "r", "subject_request_type": "erasure", "subject_identities": ["email"]}"#,
            "subject_identities",
            "subject_identities: invalid type: array, expected an object of subject identities",
        ),
        (
            r#"[{"type": "module_registration_request"}]"#,
            "",
            "invalid type: array, expected a Firehose message (a JSON object)",
        ),
        (
            r#""module_registration_request""#,
            "",
            "invalid type: string (value withheld), expected a Firehose message (a JSON object)",
        ),
    ];
    for (body, path, text) in cases {
        let e = check(body, path, text);
        assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");
    }
}

#[test]
fn repeated_fields() {
    let e = check(
        r#"{"type": "module_registration_request", "type": "dsr_processing_request", "id": "x", "timestamp_ms": 1}"#,
        "type",
        "type: field appears more than once",
    );
    assert!(matches!(e, Error::DuplicateField { .. }), "{e:?}");
    // Also when `type` is not first (the message is read knowing its type).
    check(
        r#"{"id": "x", "type": "module_registration_request", "timestamp_ms": 1, "type": "module_registration_request"}"#,
        "type",
        "type: field appears more than once",
    );
    check(
        &membership(r#"{"audiences": [{"audience_id": 1, "audience_id": 2, "action": "add"}]}"#),
        "user_profiles[0].audiences[0].audience_id",
        "user_profiles[0].audiences[0].audience_id: field appears more than once",
    );
    check(
        r#"{"type": "module_registration_request", "id": "x", "id": "y", "timestamp_ms": 1}"#,
        "id",
        "id: field appears more than once",
    );
}

#[test]
fn syntax_errors() {
    let truncated = membership(r#"{"mpid": "1"}, {"mpid": "#);
    let truncated = &truncated[..truncated.len() - 2];
    let e = check(
        truncated,
        "user_profiles[1].mpid",
        &format!(
            "user_profiles[1].mpid: invalid JSON: EOF while parsing a value at line 1 column {}",
            truncated.len()
        ),
    );
    assert!(matches!(e, Error::Syntax { .. }), "{e:?}");
    assert_eq!((e.line(), e.column()), (1, truncated.len()));

    check(
        r#"{"type": "module_registration_request", "id": "x", "timestamp_ms": 1} x"#,
        "",
        "invalid JSON: trailing characters at line 1 column 71",
    );
    check(
        "",
        "",
        "invalid JSON: EOF while parsing a value at line 1 column 0",
    );
    check(
        "{\"type\": \"module_registration_request\",\n \"id\": \"x\",\n \"timestamp_ms\": 1,,}",
        "",
        "invalid JSON: key must be a string at line 3 column 20",
    );
    // A syntax error in a field that is ignored names that field.
    check(
        r#"{"type": "module_registration_request", "id": "x", "timestamp_ms": 1, "extra": [1, }"#,
        "extra",
        "extra: invalid JSON: expected value at line 1 column 84",
    );
    // Not UTF-8, inside a string.
    let e = Message::from_json(b"{\"type\": \"module_registration_request\", \"id\": \"\xff\"}")
        .unwrap_err();
    assert!(matches!(e, Error::Syntax { .. }), "{e:?}");
    assert_eq!(e.path(), "id");
}

#[test]
fn type_last_reports_the_same_errors_as_type_first() {
    let profiles = r#"[{"audiences": [{"action": "add"}]}]"#;
    let first = format!(
        r#"{{"type": "audience_membership_change_request", "id": "x", "timestamp_ms": 1, "user_profiles": {profiles}}}"#
    );
    let last = format!(
        r#"{{"id": "x", "timestamp_ms": 1, "user_profiles": {profiles}, "type": "audience_membership_change_request"}}"#
    );
    let text = "user_profiles[0].audiences[0].audience_id: required field is missing";
    check(&first, "user_profiles[0].audiences[0].audience_id", text);
    check(&last, "user_profiles[0].audiences[0].audience_id", text);
}

#[test]
fn line_and_column_point_into_the_body() {
    let body = "{\"type\": \"audience_subscription_request\",\n\"id\": \"x\",\n\"timestamp_ms\": 1,\n\"audience_id\": 9,\n\"action\": \"drop\"}";
    let e = check(
        body,
        "action",
        r#"action: "drop" is not add, update or remove"#,
    );
    assert_eq!((e.line(), e.column()), (5, 16));
}
