//! Every response serialises to the exact JSON expected, field order included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use liveramp_firehose::{
    AudienceMembershipChangeResponse, AudienceProcessingRegistration, AudienceSubscriptionResponse,
    BulkConfiguration, DefaultValue, DsrProcessingResponse, Encoding, FIREHOSE_VERSION,
    IdentityPermission, ModuleRegistrationResponse, Permissions, Registration, Response,
    ResponseEnvelope, Setting, SettingType, setting_ids,
};

/// The JSON text without the whitespace between tokens (strings untouched).
fn minified(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[test]
fn audience_membership_change_response() {
    let mut response = AudienceMembershipChangeResponse::new("r-1", 1_767_225_600_001);
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        r#"{"type":"audience_membership_change_response","id":"r-1","timestamp_ms":1767225600001,"firehose_version":"3.3.0","suspend_subscription":false}"#
    );
    response.suspend_subscription = true;
    assert_eq!(
        Response::from(response).to_json(),
        r#"{"type":"audience_membership_change_response","id":"r-1","timestamp_ms":1767225600001,"firehose_version":"3.3.0","suspend_subscription":true}"#
    );
}

#[test]
fn audience_subscription_response() {
    let mut response = AudienceSubscriptionResponse::new("r-2", 5);
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        r#"{"type":"audience_subscription_response","id":"r-2","timestamp_ms":5,"firehose_version":"3.3.0"}"#
    );
    response.audience_subscription_settings = BTreeMap::from([
        (
            "External Name".to_owned(),
            "High-value customers".to_owned(),
        ),
        ("a".to_owned(), "b".to_owned()),
    ]);
    assert_eq!(
        Response::from(response).to_json(),
        r#"{"type":"audience_subscription_response","id":"r-2","timestamp_ms":5,"firehose_version":"3.3.0","audience_subscription_settings":{"External Name":"High-value customers","a":"b"}}"#
    );
}

#[test]
fn dsr_processing_response() {
    let response = DsrProcessingResponse::new("r-3", 1_740_083_302_889);
    assert_eq!(
        Response::from(response).to_json(),
        r#"{"type":"dsr_processing_response","id":"r-3","timestamp_ms":1740083302889,"firehose_version":"3.3.0"}"#
    );
}

#[test]
fn module_registration_response_of_this_integration() {
    let response = ModuleRegistrationResponse::new(
        "d4c3b2a1-0f9e-4d8c-b7a6-5e4d3c2b1a09",
        1_767_225_600_042,
        Registration::liveramp("1.2.3"),
    );
    let expected = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/module_registration_response.json"
    ))
    .unwrap();
    // The same text, field order included...
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        minified(&expected)
    );
    // ...and the same JSON.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::from_str::<serde_json::Value>(&expected).unwrap()
    );
    let response = Response::from(response);
    assert_eq!(response.type_name(), "module_registration_response");
    assert_eq!(
        response.envelope().id,
        "d4c3b2a1-0f9e-4d8c-b7a6-5e4d3c2b1a09"
    );
}

#[test]
fn registration_settings_have_the_documented_ids() {
    let registration = Registration::liveramp("0.1.0");
    let audience = registration
        .audience_processing_registration
        .as_ref()
        .unwrap();
    let ids: Vec<&str> = audience
        .account_settings
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            setting_ids::USERNAME,
            setting_ids::PASSWORD,
            setting_ids::SFTP_URL,
            setting_ids::SFTP_PORT,
            setting_ids::ENCRYPT_FILE,
            setting_ids::SEND_DEVICE_IDS,
            setting_ids::SEND_PII,
            setting_ids::API_KEY,
        ]
    );
    let confidential: Vec<&str> = audience
        .account_settings
        .iter()
        .filter(|s| s.confidential)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(confidential, ["password", "apiKey"]);
    let dsr = registration.dsr_processing_registration.as_ref().unwrap();
    assert_eq!(dsr.account_settings[0].id, setting_ids::API_KEY);
}

#[test]
fn other_registration_shapes() {
    // Everything the SDK can say that `liveramp` leaves out: partner identities, audience
    // settings, bulk configuration, text and integer defaults, a required permission, a domain.
    let registration = Registration {
        name: "Test".to_owned(),
        description: "d".to_owned(),
        version: "9".to_owned(),
        permissions: Permissions {
            partner_identities: vec![IdentityPermission::new(
                "partner_id",
                Encoding::Sha256,
                true,
            )],
            ..Permissions::default()
        },
        audience_processing_registration: Some(AudienceProcessingRegistration {
            account_settings: vec![Setting {
                default_value: Some(DefaultValue::Text("us".to_owned())),
                ..Setting::text("region", "Region", "Where")
            }],
            audience_subscription_settings: vec![
                Setting {
                    kind: SettingType::Integer,
                    default_value: Some(DefaultValue::Integer(30)),
                    visible: false,
                    ..Setting::text("days", "Days", "How long")
                },
                Setting::boolean("suppress", "Suppression", "Suppress", true),
            ],
            bulk_configuration: Some(BulkConfiguration {
                bulk_forward_wait_for_messages: 4,
                bulk_forward_wait_in_minutes: 30,
            }),
        }),
        dsr_processing_registration: Some(liveramp_firehose::DsrProcessingRegistration {
            account_settings: vec![],
            supported_dsr_types: vec![liveramp_firehose::SubjectRequestType::Erasure],
            domain: Some("example.com".to_owned()),
        }),
    };
    let response = ModuleRegistrationResponse {
        envelope: ResponseEnvelope {
            firehose_version: "3.2.0".to_owned(),
            ..ResponseEnvelope::new("r", 1)
        },
        registration,
    };
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        minified(
            r#"{"type": "module_registration_response", "id": "r", "timestamp_ms": 1,
                "firehose_version": "3.2.0", "sdk_version": "3.2.0", "name": "Test",
                "description": "d", "version": "9",
                "permissions": {"partner_identities": [{"type": "partner_id", "encoding": "sha256", "required": true}]},
                "audience_processing_registration": {
                  "account_settings": [{"type": "text", "id": "region", "name": "Region",
                    "description": "Where", "visible": true, "required": false,
                    "confidential": false, "default_value": "us"}],
                  "audience_subscription_settings": [
                    {"type": "integer", "id": "days", "name": "Days", "description": "How long",
                     "visible": false, "required": false, "confidential": false, "default_value": 30},
                    {"type": "boolean", "id": "suppress", "name": "Suppression",
                     "description": "Suppress", "visible": true, "required": false,
                     "confidential": false, "default_value": true, "checked": true}],
                  "bulk_configuration": {"bulk_forward_wait_for_messages": 4,
                    "bulk_forward_wait_in_minutes": 30}},
                "dsr_processing_registration": {"supported_dsr_types": ["erasure"],
                  "domain": "example.com"}}"#
        )
    );
}

#[test]
fn response_envelope_speaks_this_version() {
    assert_eq!(FIREHOSE_VERSION, "3.3.0");
    let envelope = ResponseEnvelope::new("x", 2);
    assert_eq!(envelope.firehose_version, FIREHOSE_VERSION);
    for response in [
        Response::from(AudienceMembershipChangeResponse::new("x", 2)),
        Response::from(AudienceSubscriptionResponse::new("x", 2)),
        Response::from(DsrProcessingResponse::new("x", 2)),
        Response::from(ModuleRegistrationResponse::new(
            "x",
            2,
            Registration::liveramp("1"),
        )),
    ] {
        assert_eq!(response.envelope(), &envelope);
        let json = response.to_json();
        assert!(
            json.starts_with(&format!(
                r#"{{"type":"{}","id":"x","timestamp_ms":2,"firehose_version":"3.3.0""#,
                response.type_name()
            )),
            "{json}"
        );
    }
}
