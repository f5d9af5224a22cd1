//! `Message::to_json` writes what `Message::from_json` reads back as an equal message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use liveramp_firehose::{
    Account, AttributeAction, Audience, AudienceMembershipChangeRequest,
    AudienceSubscriptionRequest, DsrIdentity, DsrProcessingRequest, Encoding, Envelope, Identity,
    MembershipAction, Message, ModuleRegistrationRequest, Regulation, SubjectRequestType,
    SubscriptionAction, UserAttribute, UserProfile,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

#[test]
fn fixtures_round_trip() {
    for name in [
        "module_registration_request.json",
        "audience_subscription_request.json",
        "audience_membership_change_request.json",
        "dsr_processing_request.json",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let message = Message::from_json(&std::fs::read(path).unwrap()).unwrap();
        let json = message.to_json();
        assert!(
            json.starts_with(&format!(r#"{{"type":"{}","#, message.message_type())),
            "{json}"
        );
        assert_eq!(
            Message::from_json_str(&json).unwrap(),
            message,
            "{name}: {json}"
        );
    }
}

#[test]
fn written_shape() {
    let message = Message::AudienceMembershipChange(AudienceMembershipChangeRequest {
        envelope: Envelope::new("w", 2),
        user_profiles: vec![UserProfile {
            mpid: Some("9".to_owned()),
            audiences: vec![Audience {
                audience_id: 3,
                audience_name: None,
                audience_subscription_settings: BTreeMap::new(),
                action: MembershipAction::AttributeUpdate,
                user_attributes: vec![UserAttribute {
                    key: "k".to_owned(),
                    value: None,
                    list_value: Some(vec!["a".to_owned()]),
                    action: AttributeAction::Delete,
                }],
            }],
            ..UserProfile::default()
        }],
    });
    assert_eq!(
        message.to_json(),
        r#"{"type":"audience_membership_change_request","id":"w","timestamp_ms":2,"user_profiles":[{"mpid":"9","audiences":[{"audience_id":3,"action":"attribute_update","user_attributes":[{"key":"k","list_value":["a"],"action":"delete"}]}]}]}"#
    );
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_$0-9]{0,12}",
        "\\PC{0,16}",
        Just("\"\\\n\u{0}é😀".to_owned())
    ]
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Raw),
        Just(Encoding::Md5),
        Just(Encoding::Sha1),
        Just(Encoding::Sha256),
        // A name that is one of the four would read back as that one, not as `Other`.
        "[A-Z][a-z0-9-]{0,8}".prop_map(Encoding::Other),
    ]
}

fn identity() -> impl Strategy<Value = Identity> {
    (text(), encoding(), text()).prop_map(|(kind, encoding, value)| Identity {
        kind,
        encoding,
        value,
    })
}

fn settings() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..3)
}

fn attribute() -> impl Strategy<Value = UserAttribute> {
    (
        text(),
        option::of(text()),
        option::of(vec(text(), 0..3)),
        prop_oneof![Just(AttributeAction::Upsert), Just(AttributeAction::Delete)],
    )
        .prop_map(|(key, value, list_value, action)| UserAttribute {
            key,
            value,
            list_value,
            action,
        })
}

fn audience() -> impl Strategy<Value = Audience> {
    (
        any::<u64>(),
        option::of(text()),
        settings(),
        prop_oneof![
            Just(MembershipAction::Add),
            Just(MembershipAction::Delete),
            Just(MembershipAction::AttributeUpdate)
        ],
        vec(attribute(), 0..3),
    )
        .prop_map(
            |(
                audience_id,
                audience_name,
                audience_subscription_settings,
                action,
                user_attributes,
            )| {
                Audience {
                    audience_id,
                    audience_name,
                    audience_subscription_settings,
                    action,
                    user_attributes,
                }
            },
        )
}

fn profile() -> impl Strategy<Value = UserProfile> {
    (
        option::of(text()),
        vec(identity(), 0..3),
        vec(identity(), 0..2),
        vec(identity(), 0..2),
        vec(audience(), 0..3),
    )
        .prop_map(
            |(mpid, user_identities, device_identities, partner_identities, audiences)| {
                UserProfile {
                    mpid,
                    user_identities,
                    device_identities,
                    partner_identities,
                    audiences,
                }
            },
        )
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        text(),
        any::<i64>(),
        option::of(text()),
        option::of((any::<u64>(), settings())),
    )
        .prop_map(|(id, timestamp_ms, firehose_version, account)| Envelope {
            id,
            timestamp_ms,
            firehose_version,
            account: account.map(|(id, settings)| Account::new(id, settings)),
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        envelope().prop_map(
            |envelope| Message::ModuleRegistration(ModuleRegistrationRequest { envelope })
        ),
        (
            envelope(),
            any::<u64>(),
            option::of(text()),
            option::of(text()),
            settings(),
            settings(),
            prop_oneof![
                Just(SubscriptionAction::Add),
                Just(SubscriptionAction::Update),
                Just(SubscriptionAction::Remove)
            ],
        )
            .prop_map(
                |(envelope, audience_id, name, description, now, before, action)| {
                    Message::AudienceSubscription(AudienceSubscriptionRequest {
                        envelope,
                        audience_id,
                        audience_name: name,
                        audience_description: description,
                        audience_subscription_settings: now,
                        previous_audience_subscription_settings: before,
                        action,
                    })
                }
            ),
        (envelope(), vec(profile(), 0..4)).prop_map(|(envelope, user_profiles)| {
            Message::AudienceMembershipChange(AudienceMembershipChangeRequest {
                envelope,
                user_profiles,
            })
        }),
        (
            envelope(),
            text(),
            prop_oneof![
                Just(SubjectRequestType::Erasure),
                Just(SubjectRequestType::Access),
                Just(SubjectRequestType::Portability)
            ],
            option::of(prop_oneof![
                Just(Regulation::Gdpr),
                Just(Regulation::Ccpa),
                Just(Regulation::Unknown)
            ]),
            option::of(-1e12f64..1e12),
            option::of(text()),
            btree_map(text(), (encoding(), text()), 0..3),
        )
            .prop_map(
                |(envelope, id, kind, regulation, time, version, identities)| {
                    Message::DsrProcessing(DsrProcessingRequest {
                        envelope,
                        subject_request_id: id,
                        subject_request_type: kind,
                        regulation,
                        submitted_time: time,
                        api_version: version,
                        subject_identities: identities
                            .into_iter()
                            .map(|(k, (encoding, value))| (k, DsrIdentity { encoding, value }))
                            .collect(),
                    })
                }
            ),
    ]
}

proptest! {
    #[test]
    fn any_message_round_trips(message in message()) {
        let json = message.to_json();
        let again = Message::from_json(json.as_bytes());
        prop_assert_eq!(again.as_ref(), Ok(&message), "{}", json);
        // Pretty-printed, and with `type` last (the two-pass read), it reads the same.
        let pretty = serde_json::to_string_pretty(&message).unwrap();
        let again = Message::from_json_str(&pretty);
        prop_assert_eq!(again.as_ref(), Ok(&message));
        let type_last = format!(
            "{{{},\"type\":\"{}\"}}",
            &json[json.find(",\"id\"").unwrap() + 1..json.len() - 1],
            message.message_type()
        );
        let again = Message::from_json_str(&type_last);
        prop_assert_eq!(again.as_ref(), Ok(&message), "{}", type_last);
    }
}
