//! Firehose messages into the store's values, and `ingest` of a file of them into a real
//! SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use liveramp_connector::audience_store::{
    AttributeChange, AttributeValue, AudienceChange, AudienceStore, Change, Identity,
    MembershipAction, SqliteStore, StoreOptions, SubscriptionAction,
};
use liveramp_connector::firehose::Message as Firehose;
use liveramp_connector::ingest::{ingest, store_message};

fn parse(json: &str) -> Firehose {
    Firehose::from_json(json.as_bytes()).unwrap()
}

#[test]
fn a_membership_message_becomes_the_stores_values() {
    let m = parse(
        r#"{"type": "audience_membership_change_request", "id": "m-1", "timestamp_ms": 1685499524620,
            "firehose_version": "3.2.0", "account": {"account_id": 1, "account_settings": {"apiKey": "k"}},
            "user_profiles": [{"mpid": "12345",
              "user_identities": [{"type": "email", "encoding": "raw", "value": "Jane.Doe@example.com"},
                                  {"type": "mobile_number", "encoding": "sha256", "value": "ab"}],
              "device_identities": [{"type": "ios_advertising_id", "encoding": "raw", "value": "66b728c2-f9a4-4d87-82ef-ce07414fe3f7"}],
              "partner_identities": [{"type": "x", "encoding": "raw", "value": "ignored"}],
              "audiences": [
                {"audience_id": 456, "audience_name": "High-value customers", "action": "add",
                 "user_attributes": [{"key": "$Mobile", "value": "212 536 9598", "action": "upsert"},
                                     {"key": "tags", "list_value": ["a", "b"], "action": "upsert"},
                                     {"key": "$Zip", "action": "delete"}]},
                {"audience_id": 654, "action": "delete"},
                {"audience_id": 655, "action": "attribute_update"}]}]}"#,
    );
    let converted = store_message(&m).unwrap().unwrap();
    assert_eq!(
        (converted.id.as_str(), converted.timestamp_ms),
        ("m-1", 1_685_499_524_620)
    );
    let Change::Membership(members) = converted.change else {
        panic!("not a membership change");
    };
    assert_eq!(members.len(), 1);
    let p = &members[0];
    assert_eq!(p.mpid.as_deref(), Some("12345"));
    assert_eq!(
        p.user_identities,
        vec![
            Identity::new("email", "raw", "Jane.Doe@example.com"),
            Identity::new("mobile_number", "sha256", "ab"),
        ]
    );
    assert_eq!(
        p.device_identities,
        vec![Identity::new(
            "ios_advertising_id",
            "raw",
            "66b728c2-f9a4-4d87-82ef-ce07414fe3f7"
        )]
    );
    let expected = vec![
        AudienceChange::add(456)
            .named("High-value customers")
            .upsert("$Mobile", "212 536 9598")
            .upsert_list("tags", ["a", "b"])
            .delete_attribute("$Zip"),
        AudienceChange::delete(654),
        AudienceChange::attribute_update(655),
    ];
    assert_eq!(p.audiences, expected);
    assert_eq!(p.audiences[1].action, MembershipAction::Delete);
    assert!(matches!(
        &p.audiences[0].attributes[1],
        AttributeChange::Upsert { value: AttributeValue::List(l), .. } if l == &["a", "b"]
    ));
}

#[test]
fn subscriptions_connect_and_disconnect_and_the_rest_changes_nothing() {
    for (action, expected) in [
        ("add", SubscriptionAction::Connect),
        ("update", SubscriptionAction::Connect),
        ("remove", SubscriptionAction::Disconnect),
    ] {
        let m = parse(&format!(
            r#"{{"type": "audience_subscription_request", "id": "s", "timestamp_ms": 7,
                "audience_id": 17095, "audience_name": "VIP", "action": "{action}"}}"#
        ));
        let Change::Subscription(s) = store_message(&m).unwrap().unwrap().change else {
            panic!("not a subscription");
        };
        assert_eq!(
            (s.audience_id, s.audience_name.as_str(), s.action),
            (17095, "VIP", expected)
        );
    }
    let ping = parse(
        r#"{"type": "audience_membership_change_request", "id": "p", "timestamp_ms": 1, "user_profiles": []}"#,
    );
    assert!(store_message(&ping).unwrap().is_none());
    let registration =
        parse(r#"{"type": "module_registration_request", "id": "r", "timestamp_ms": 1}"#);
    assert!(store_message(&registration).unwrap().is_none());
    let huge = parse(
        r#"{"type": "audience_subscription_request", "id": "s", "timestamp_ms": 7,
            "audience_id": 18446744073709551615, "action": "add"}"#,
    );
    assert_eq!(
        store_message(&huge).unwrap_err().to_string(),
        "audience_id: 18446744073709551615 is larger than the largest audience id the store keeps \
         (9223372036854775807)"
    );
}

#[test]
fn ingest_applies_a_file_in_batches_and_reports_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("a.sqlite"), StoreOptions::default()).unwrap();
    let mut text = String::new();
    text.push_str(
        r#"{"type": "audience_subscription_request", "id": "s-1", "timestamp_ms": 1, "audience_id": 9, "audience_name": "Nine", "action": "add"}"#,
    );
    text.push('\n');
    for i in 0..5_000 {
        let _ = write!(
            text,
            r#"{{"type": "audience_membership_change_request", "id": "m-{i}", "timestamp_ms": {}, "user_profiles": [{{"mpid": "{i}", "audiences": [{{"audience_id": 9, "action": "add"}}]}}]}}"#,
            10 + i
        );
        text.push_str("\r\n");
        if i == 2_500 {
            text.push_str("\nnot json\n");
        }
    }
    let mut bad = Vec::new();
    let report = ingest(&store, text.as_bytes(), "test", &mut |n, why| {
        bad.push((n, why.to_owned()));
    })
    .unwrap();
    assert_eq!(
        bad,
        [(
            2_504,
            "invalid JSON: expected ident at line 1 column 2".to_owned()
        )]
    );
    assert_eq!(
        (report.lines, report.messages, report.malformed),
        (5_003, 5_001, 1)
    );
    assert_eq!(
        (
            report.applied.messages,
            report.applied.adds,
            report.applied.subscriptions
        ),
        (5_001, 5_000, 1)
    );
    assert_eq!(store.audience(9).unwrap().unwrap().members, 5_000);
    let again = ingest(&store, text.as_bytes(), "test", &mut |_, _| {}).unwrap();
    assert_eq!(
        (again.applied.messages, again.applied.duplicates),
        (0, 5_001)
    );
}
