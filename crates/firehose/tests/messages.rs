//! Each message type read from a full fixture (shaped like mParticle's SDK examples), every
//! field checked by comparing with the whole expected value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use liveramp_firehose::{
    Account, AttributeAction, Audience, AudienceMembershipChangeRequest,
    AudienceSubscriptionRequest, DsrIdentity, DsrProcessingRequest, Encoding, Envelope, Identity,
    MembershipAction, Message, MessageType, ModuleRegistrationRequest, Regulation,
    SubjectRequestType, SubscriptionAction, UserAttribute, UserProfile,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn envelope(id: &str, timestamp_ms: i64, account: Option<Account>) -> Envelope {
    Envelope {
        id: id.to_owned(),
        timestamp_ms,
        firehose_version: Some("3.3.0".to_owned()),
        account,
    }
}

#[test]
fn module_registration_request() {
    let message = Message::from_json(&fixture("module_registration_request.json")).unwrap();
    assert_eq!(
        message.message_type(),
        MessageType::ModuleRegistrationRequest
    );
    assert_eq!(
        message,
        Message::ModuleRegistration(ModuleRegistrationRequest {
            envelope: envelope(
                "9f0e3c52-71d4-4b8a-a6e2-0c5d8b1f4a37",
                1_767_225_600_000,
                None
            ),
        })
    );
    assert_eq!(message.account(), None);
}

#[test]
fn audience_subscription_request() {
    let message = Message::from_json(&fixture("audience_subscription_request.json")).unwrap();
    let account = Account::new(
        4242,
        [
            ("apiKey", "fixture-api-key-7c1e"),
            ("username", "acme-uploads"),
            ("password", "fixture-password-not-secret"),
            ("sftpUrl", "files.liveramp.com"),
            ("sftpPort", "22"),
            ("encryptFile", "true"),
            ("sendDeviceIds", "false"),
            ("sendPii", "true"),
        ],
    );
    assert_eq!(
        message,
        Message::AudienceSubscription(AudienceSubscriptionRequest {
            envelope: envelope(
                "1b7d5e90-3c2a-4f68-9e14-7a0b6c3d2e81",
                1_767_225_601_234,
                Some(account)
            ),
            audience_id: 17095,
            audience_name: Some("High-value customers".to_owned()),
            audience_description: Some("Customers with a lifetime value over $1,000".to_owned()),
            audience_subscription_settings: settings(&[(
                "External Name",
                "High-value customers 2026"
            )]),
            previous_audience_subscription_settings: settings(&[(
                "External Name",
                "High-value customers"
            )]),
            action: SubscriptionAction::Update,
        })
    );
    let account = message.account().unwrap();
    assert_eq!(account.setting("apiKey"), Some("fixture-api-key-7c1e"));
    assert_eq!(account.setting("sftpPort"), Some("22"));
    assert_eq!(account.setting("nope"), None);
    assert_eq!(
        account.setting_ids().collect::<Vec<_>>(),
        [
            "apiKey",
            "encryptFile",
            "password",
            "sendDeviceIds",
            "sendPii",
            "sftpPort",
            "sftpUrl",
            "username"
        ]
    );
}

#[test]
fn audience_membership_change_request() {
    let message = Message::from_json(&fixture("audience_membership_change_request.json")).unwrap();
    let expected = AudienceMembershipChangeRequest {
        envelope: envelope(
            "3e8a1f27-5b6c-4d90-8f31-2c7e9a0b4d16",
            1_767_225_605_678,
            Some(Account::new(
                4242,
                [("apiKey", "fixture-api-key-7c1e"), ("sendPii", "true")],
            )),
        ),
        user_profiles: vec![
            UserProfile {
                mpid: Some("-8472017331004921".to_owned()),
                user_identities: vec![
                    Identity::new("email", Encoding::Raw, "Ana.Lima@example.org"),
                    Identity::new("mobile_number", Encoding::Raw, "+1 (646) 555-0187"),
                    Identity::new(
                        "customer",
                        Encoding::Sha256,
                        "5d41402abc4b2a76b9719d911017c592aaf8e1b1c2b1b1d8c0f0a7a3f0b2c9d4",
                    ),
                ],
                device_identities: vec![
                    Identity::new(
                        "ios_advertising_id",
                        Encoding::Raw,
                        "8f5c2a1e-3b4d-4e6f-9a0b-1c2d3e4f5a6b",
                    ),
                    Identity::new(
                        "google_advertising_id",
                        Encoding::Raw,
                        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    ),
                ],
                partner_identities: vec![Identity::new(
                    "partner_id",
                    Encoding::Raw,
                    "lr-partner-000451",
                )],
                audiences: vec![
                    Audience {
                        audience_id: 17095,
                        audience_name: Some("High-value customers".to_owned()),
                        audience_subscription_settings: settings(&[(
                            "External Name",
                            "High-value customers 2026",
                        )]),
                        action: MembershipAction::Add,
                        user_attributes: vec![],
                    },
                    Audience {
                        audience_id: 17096,
                        audience_name: Some("Newsletter readers".to_owned()),
                        audience_subscription_settings: BTreeMap::new(),
                        action: MembershipAction::AttributeUpdate,
                        user_attributes: vec![
                            UserAttribute {
                                key: "$Mobile".to_owned(),
                                value: Some("646 555 0187".to_owned()),
                                list_value: None,
                                action: AttributeAction::Upsert,
                            },
                            UserAttribute {
                                key: "favourite_categories".to_owned(),
                                value: None,
                                list_value: Some(vec!["books".to_owned(), "garden".to_owned()]),
                                action: AttributeAction::Upsert,
                            },
                            UserAttribute {
                                key: "$Zip".to_owned(),
                                value: None,
                                list_value: None,
                                action: AttributeAction::Delete,
                            },
                        ],
                    },
                    Audience {
                        audience_id: 17097,
                        audience_name: Some("Lapsed".to_owned()),
                        audience_subscription_settings: BTreeMap::new(),
                        action: MembershipAction::Delete,
                        user_attributes: vec![],
                    },
                ],
            },
            UserProfile {
                mpid: Some("9120334455".to_owned()),
                user_identities: vec![],
                device_identities: vec![Identity::new(
                    "ios_advertising_id",
                    Encoding::Raw,
                    "c4d5e6f7-0819-4a2b-b3c4-d5e6f7081920",
                )],
                partner_identities: vec![],
                audiences: vec![Audience {
                    audience_id: 17095,
                    audience_name: Some("High-value customers".to_owned()),
                    audience_subscription_settings: BTreeMap::new(),
                    action: MembershipAction::Delete,
                    user_attributes: vec![],
                }],
            },
        ],
    };
    let Message::AudienceMembershipChange(batch) = &message else {
        panic!("wrong variant: {message:?}");
    };
    assert!(!batch.is_ping());
    assert_eq!(batch, &expected);
}

#[test]
fn dsr_processing_request() {
    let message = Message::from_json(&fixture("dsr_processing_request.json")).unwrap();
    let mut identities = BTreeMap::new();
    identities.insert(
        "email".to_owned(),
        DsrIdentity {
            encoding: Encoding::Raw,
            value: "ana.lima@example.org".to_owned(),
        },
    );
    identities.insert(
        "ios_advertising_id".to_owned(),
        DsrIdentity {
            encoding: Encoding::Raw,
            value: "8f5c2a1e-3b4d-4e6f-9a0b-1c2d3e4f5a6b".to_owned(),
        },
    );
    assert_eq!(
        message,
        Message::DsrProcessing(DsrProcessingRequest {
            envelope: envelope(
                "7c0d9e21-8f3a-4b5c-a6d7-e8f901a2b3c4",
                1_767_225_609_000,
                Some(Account::new(4242, [("apiKey", "fixture-api-key-7c1e")])),
            ),
            subject_request_id: "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7".to_owned(),
            subject_request_type: SubjectRequestType::Erasure,
            regulation: Some(Regulation::Ccpa),
            submitted_time: Some(1_767_225_608.25),
            api_version: Some("3.0".to_owned()),
            subject_identities: identities,
        })
    );
}

#[test]
fn text_and_bytes_entry_points_agree() {
    for name in [
        "module_registration_request.json",
        "audience_subscription_request.json",
        "audience_membership_change_request.json",
        "dsr_processing_request.json",
    ] {
        let bytes = fixture(name);
        let text = std::str::from_utf8(&bytes).unwrap();
        let message = Message::from_json(&bytes).unwrap();
        assert_eq!(Message::from_json_str(text).unwrap(), message, "{name}");
        assert_eq!(text.parse::<Message>().unwrap(), message, "{name}");
    }
}

#[test]
fn every_other_keyword() {
    let subscription = |action: &str| {
        let json = format!(
            r#"{{"type": "audience_subscription_request", "id": "a", "timestamp_ms": 1,
                "audience_id": 1, "action": "{action}"}}"#
        );
        match Message::from_json(json.as_bytes()).unwrap() {
            Message::AudienceSubscription(s) => s.action,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(subscription("add"), SubscriptionAction::Add);
    assert_eq!(subscription("update"), SubscriptionAction::Update);
    assert_eq!(subscription("remove"), SubscriptionAction::Remove);

    let dsr = |kind: &str, regulation: &str| {
        let json = format!(
            r#"{{"type": "dsr_processing_request", "id": "a", "timestamp_ms": 1,
                "subject_request_id": "r", "subject_request_type": "{kind}",
                "regulation": "{regulation}"}}"#
        );
        match Message::from_json(json.as_bytes()).unwrap() {
            Message::DsrProcessing(d) => (d.subject_request_type, d.regulation),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        dsr("access", "gdpr"),
        (SubjectRequestType::Access, Some(Regulation::Gdpr))
    );
    assert_eq!(
        dsr("portability", "unknown"),
        (SubjectRequestType::Portability, Some(Regulation::Unknown))
    );

    let encodings = Message::from_json(
        br#"{"type": "audience_membership_change_request", "id": "a", "timestamp_ms": 1,
            "user_profiles": [{"user_identities": [
                {"type": "email", "encoding": "md5", "value": "a"},
                {"type": "email", "encoding": "sha1", "value": "b"},
                {"type": "email", "encoding": "SHA-256", "value": "c"},
                {"type": "email", "value": "d"},
                {"type": "email", "encoding": null, "value": "e"}]}]}"#,
    )
    .unwrap();
    let Message::AudienceMembershipChange(batch) = encodings else {
        panic!()
    };
    let found: Vec<Encoding> = batch.user_profiles[0]
        .user_identities
        .iter()
        .map(|i| i.encoding.clone())
        .collect();
    assert_eq!(
        found,
        [
            Encoding::Md5,
            Encoding::Sha1,
            Encoding::Other("SHA-256".to_owned()),
            Encoding::Raw,
            Encoding::Raw,
        ]
    );
    assert_eq!(Encoding::Other("SHA-256".to_owned()).as_str(), "SHA-256");
    assert_eq!(Encoding::from_name("sha256"), Encoding::Sha256);
}

#[test]
fn verification_ping() {
    for body in [
        r#"{"type": "audience_membership_change_request", "id": "p", "timestamp_ms": 5}"#,
        r#"{"type": "audience_membership_change_request", "id": "p", "timestamp_ms": 5, "user_profiles": null}"#,
        r#"{"type": "audience_membership_change_request", "id": "p", "timestamp_ms": 5, "user_profiles": []}"#,
    ] {
        let Message::AudienceMembershipChange(batch) = Message::from_json_str(body).unwrap() else {
            panic!("{body}");
        };
        assert!(batch.is_ping(), "{body}");
        assert_eq!(batch.envelope, Envelope::new("p", 5));
    }
}
