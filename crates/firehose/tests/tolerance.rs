//! What reading tolerates: unknown fields at every level, `null` for optional fields, either
//! JSON type for `mpid`, any field order, and the fields of other message types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use liveramp_firehose::{
    Account, Audience, AudienceMembershipChangeRequest, DsrProcessingRequest, Encoding, Envelope,
    Identity, MembershipAction, Message, SubjectRequestType, UserAttribute, UserProfile,
};

fn membership(body: &str) -> AudienceMembershipChangeRequest {
    match Message::from_json(body.as_bytes()) {
        Ok(Message::AudienceMembershipChange(m)) => m,
        other => panic!("{other:?}\n{body}"),
    }
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let with_extras = r#"{
      "type": "audience_membership_change_request", "new_top": {"deep": [1, {"x": null}]},
      "id": "u-1", "timestamp_ms": 7, "firehose_version": "3.9.0", "schema": 4,
      "account": {"account_id": 5, "region": "us1", "account_settings": {"apiKey": "k"}},
      "user_profiles": [{
        "mpid": "1", "consent_state": {"gdpr": {}}, "score": 0.5,
        "user_identities": [{"type": "email", "encoding": "raw", "value": "a@b.co", "verified": true}],
        "device_identities": [{"type": "ios_advertising_id", "value": "x", "att": "authorized"}],
        "partner_identities": [{"type": "p", "value": "y", "extra": []}],
        "audiences": [{"audience_id": 9, "action": "attribute_update", "size": 100,
          "user_attributes": [{"key": "$Zip", "value": "10001", "action": "upsert", "ts": 1}]}]
      }],
      "trailer": "ignored"
    }"#;
    let plain = r#"{
      "type": "audience_membership_change_request",
      "id": "u-1", "timestamp_ms": 7, "firehose_version": "3.9.0",
      "account": {"account_id": 5, "account_settings": {"apiKey": "k"}},
      "user_profiles": [{
        "mpid": "1",
        "user_identities": [{"type": "email", "encoding": "raw", "value": "a@b.co"}],
        "device_identities": [{"type": "ios_advertising_id", "value": "x"}],
        "partner_identities": [{"type": "p", "value": "y"}],
        "audiences": [{"audience_id": 9, "action": "attribute_update",
          "user_attributes": [{"key": "$Zip", "value": "10001", "action": "upsert"}]}]
      }]
    }"#;
    let parsed = membership(with_extras);
    assert_eq!(parsed, membership(plain));
    assert_eq!(
        parsed.user_profiles[0].audiences[0].user_attributes,
        [UserAttribute {
            key: "$Zip".to_owned(),
            value: Some("10001".to_owned()),
            list_value: None,
            action: liveramp_firehose::AttributeAction::Upsert,
        }]
    );
    // Unknown fields in the other messages too.
    let dsr = Message::from_json_str(
        r#"{"type": "dsr_processing_request", "id": "d", "timestamp_ms": 1, "callback": "x",
            "subject_request_id": "r", "subject_request_type": "erasure",
            "subject_identities": {"email": {"value": "a@b.co", "hash": "n/a"}},
            "status_callback_urls": ["https://example.com"]}"#,
    )
    .unwrap();
    let Message::DsrProcessing(dsr) = dsr else {
        panic!()
    };
    assert_eq!(dsr.subject_identities["email"].value, "a@b.co");
    assert_eq!(dsr.subject_identities["email"].encoding, Encoding::Raw);
}

#[test]
fn mpid_as_string_integer_negative_or_null() {
    let batch = membership(
        r#"{"type": "audience_membership_change_request", "id": "a", "timestamp_ms": 1,
            "user_profiles": [{"mpid": "12345"}, {"mpid": 12345}, {"mpid": -8472017331004921},
                              {"mpid": 18446744073709551615}, {"mpid": null}, {}]}"#,
    );
    let mpids: Vec<Option<&str>> = batch
        .user_profiles
        .iter()
        .map(|p| p.mpid.as_deref())
        .collect();
    assert_eq!(
        mpids,
        [
            Some("12345"),
            Some("12345"),
            Some("-8472017331004921"),
            Some("18446744073709551615"),
            None,
            None
        ]
    );
}

#[test]
fn null_is_absent_for_optional_fields() {
    let with_nulls = r#"{"type": "audience_membership_change_request", "id": "n", "timestamp_ms": 3,
        "firehose_version": null, "account": null,
        "user_profiles": [{"mpid": null, "user_identities": null, "device_identities": null,
            "partner_identities": null, "audiences": [{"audience_id": 4, "audience_name": null,
            "audience_subscription_settings": null, "action": "add", "user_attributes": null},
            {"audience_id": 5, "action": "attribute_update", "user_attributes": [
                {"key": "tag", "value": null, "list_value": null, "action": "upsert"}]}]},
          {"audiences": null}]}"#;
    assert_eq!(
        membership(with_nulls),
        AudienceMembershipChangeRequest {
            envelope: Envelope::new("n", 3),
            user_profiles: vec![
                UserProfile {
                    audiences: vec![
                        Audience {
                            audience_id: 4,
                            audience_name: None,
                            audience_subscription_settings: BTreeMap::new(),
                            action: MembershipAction::Add,
                            user_attributes: vec![],
                        },
                        Audience {
                            audience_id: 5,
                            audience_name: None,
                            audience_subscription_settings: BTreeMap::new(),
                            action: MembershipAction::AttributeUpdate,
                            user_attributes: vec![UserAttribute {
                                key: "tag".to_owned(),
                                value: None,
                                list_value: None,
                                action: liveramp_firehose::AttributeAction::Upsert,
                            }],
                        },
                    ],
                    ..UserProfile::default()
                },
                UserProfile::default(),
            ],
        }
    );
    let subscription = Message::from_json_str(
        r#"{"type": "audience_subscription_request", "id": "s", "timestamp_ms": 1,
            "audience_id": 3, "audience_name": null, "audience_description": null,
            "audience_subscription_settings": null, "previous_audience_subscription_settings": null,
            "action": "remove"}"#,
    )
    .unwrap();
    let Message::AudienceSubscription(s) = subscription else {
        panic!()
    };
    assert_eq!((&s.audience_name, &s.audience_description), (&None, &None));
    assert!(s.audience_subscription_settings.is_empty());
    assert!(s.previous_audience_subscription_settings.is_empty());

    let dsr = Message::from_json_str(
        r#"{"type": "dsr_processing_request", "id": "d", "timestamp_ms": 1,
            "subject_request_id": "r", "subject_request_type": "erasure", "regulation": null,
            "submitted_time": null, "api_version": null,
            "subject_identities": {"email": null, "customer_id": {"encoding": null, "value": "c-9"}}}"#,
    )
    .unwrap();
    let Message::DsrProcessing(dsr) = dsr else {
        panic!()
    };
    let mut identities = BTreeMap::new();
    identities.insert(
        "customer_id".to_owned(),
        liveramp_firehose::DsrIdentity {
            encoding: Encoding::Raw,
            value: "c-9".to_owned(),
        },
    );
    assert_eq!(
        dsr,
        DsrProcessingRequest {
            envelope: Envelope::new("d", 1),
            subject_request_id: "r".to_owned(),
            subject_request_type: SubjectRequestType::Erasure,
            regulation: None,
            submitted_time: None,
            api_version: None,
            subject_identities: identities,
        }
    );
}

#[test]
fn settings_values_of_other_json_types_are_kept_as_text() {
    let batch = membership(
        r#"{"type": "audience_membership_change_request", "id": "a", "timestamp_ms": 1,
            "account": {"account_id": 1, "account_settings": {"encryptFile": true,
                "sftpPort": 2222, "ratio": 0.5, "negative": -3, "gone": null, "apiKey": "k"}},
            "user_profiles": [{"audiences": [{"audience_id": 1, "action": "add",
                "audience_subscription_settings": {"suppress": false, "Name": "x"}}]}]}"#,
    );
    let account = batch.envelope.account.as_ref().unwrap();
    assert_eq!(
        account.settings().collect::<Vec<_>>(),
        [
            ("apiKey", "k"),
            ("encryptFile", "true"),
            ("negative", "-3"),
            ("ratio", "0.5"),
            ("sftpPort", "2222")
        ]
    );
    let settings = &batch.user_profiles[0].audiences[0].audience_subscription_settings;
    assert_eq!(settings.get("suppress").map(String::as_str), Some("false"));
    assert_eq!(settings.get("Name").map(String::as_str), Some("x"));
}

#[test]
fn any_field_order() {
    let type_last = r#"{"user_profiles": [{"audiences": [{"action": "delete", "audience_id": 2}],
        "mpid": "7"}], "timestamp_ms": 10, "id": "o", "type": "audience_membership_change_request"}"#;
    let type_middle = r#"{"id": "o", "user_profiles": [{"mpid": "7", "audiences": [{"audience_id": 2,
        "action": "delete"}]}], "type": "audience_membership_change_request", "timestamp_ms": 10}"#;
    let type_first = r#"{"type": "audience_membership_change_request", "timestamp_ms": 10,
        "user_profiles": [{"mpid": "7", "audiences": [{"audience_id": 2, "action": "delete"}]}],
        "id": "o"}"#;
    let expected = membership(type_first);
    assert_eq!(membership(type_last), expected);
    assert_eq!(membership(type_middle), expected);
    assert_eq!(expected.user_profiles[0].audiences[0].audience_id, 2);
}

#[test]
fn fields_of_other_message_types_are_not_read() {
    // A subscription's `action` and `audience_id` in a membership message, a membership's
    // `user_profiles` in a registration request: not this type's fields, so ignored unread.
    let batch = membership(
        r#"{"type": "audience_membership_change_request", "id": "a", "timestamp_ms": 1,
            "action": "not-an-action", "audience_id": "not-a-number", "user_profiles": []}"#,
    );
    assert!(batch.is_ping());
    let registration = Message::from_json_str(
        r#"{"user_profiles": "not a list", "subject_request_type": 5, "id": "r",
            "timestamp_ms": 1, "type": "module_registration_request"}"#,
    )
    .unwrap();
    assert_eq!(registration.envelope(), &Envelope::new("r", 1));
}

#[test]
fn escaped_keys_and_values() {
    let batch = membership(
        r#"{"\u0074ype": "audience_membership_change_request", "i\u0064": "e\"1", "timestamp_ms": 1,
            "user_profiles": [{"user_identities": [{"type": "email", "value": "caf\u00e9@example.org"}],
            "unknown\nkey": 1}]}"#,
    );
    assert_eq!(batch.envelope.id, "e\"1");
    assert_eq!(
        batch.user_profiles[0].user_identities,
        [Identity::new("email", Encoding::Raw, "café@example.org")]
    );
}

#[test]
fn account_debug_shows_setting_names_only() {
    let batch = membership(
        r#"{"type": "audience_membership_change_request", "id": "a", "timestamp_ms": 1,
            "account": {"account_id": 77, "account_settings": {"apiKey": "sk_live_very_secret",
            "password": "hunter2-password"}}}"#,
    );
    let debug = format!("{batch:?}");
    assert!(!debug.contains("sk_live_very_secret"), "{debug}");
    assert!(!debug.contains("hunter2-password"), "{debug}");
    assert!(
        debug.contains("account_settings: [\"apiKey\", \"password\"]"),
        "{debug}"
    );
    let account = batch.envelope.account.unwrap();
    assert_eq!(account.setting("apiKey"), Some("sk_live_very_secret"));
    assert_eq!(
        format!("{account:#?}"),
        "Account {\n    account_id: 77,\n    account_settings: [\n        \"apiKey\",\n        \"password\",\n    ],\n}"
    );
    assert_eq!(
        account,
        Account::new(
            77,
            [
                ("password", "hunter2-password"),
                ("apiKey", "sk_live_very_secret")
            ]
        )
    );
}
