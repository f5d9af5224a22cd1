//! mParticle's Firehose audience protocol as Rust types: the messages mParticle `POST`s to the
//! integration (registration, audience subscriptions, audience membership changes, data
//! subject requests), read strictly and without ever echoing a value in an error, and the
//! responses it expects, serialisable to its exact JSON.
//!
//! The crate does no I/O: no network, no files, no clock, no randomness. Anything that needs
//! them (a response's ID and time) is passed in by the caller.
//!
//! # Reading a message and answering it
//!
//! ```
//! use liveramp_firehose::{
//!     AudienceMembershipChangeResponse, Encoding, Message, MembershipAction, Response,
//!     setting_ids,
//! };
//!
//! let body = br#"{
//!   "type": "audience_membership_change_request",
//!   "id": "5c1e2a3f-6b7d-4c8e-9f01-23456789abcd",
//!   "timestamp_ms": 1767225600000,
//!   "firehose_version": "3.3.0",
//!   "account": {"account_id": 4242, "account_settings": {"apiKey": "k-123", "sendPii": "true"}},
//!   "user_profiles": [{
//!     "mpid": 8472017,
//!     "user_identities": [{"type": "email", "encoding": "raw", "value": "ana@example.org"}],
//!     "audiences": [
//!       {"audience_id": 17095, "audience_name": "High-value customers", "action": "add"},
//!       {"audience_id": 17096, "action": "delete"}]}]}"#;
//!
//! let Message::AudienceMembershipChange(batch) = Message::from_json(body)? else {
//!     panic!("not a membership message");
//! };
//! let account = batch.envelope.account.as_ref().expect("an account");
//! assert_eq!(account.setting(setting_ids::API_KEY), Some("k-123"));
//! // Debug never shows a setting's value (the API key is a secret):
//! assert!(!format!("{account:?}").contains("k-123"));
//!
//! let user = &batch.user_profiles[0];
//! assert_eq!(user.mpid.as_deref(), Some("8472017")); // an integer mpid, kept as text
//! assert_eq!(user.user_identities[0].kind, "email");
//! assert_eq!(user.user_identities[0].encoding, Encoding::Raw);
//! assert_eq!(user.audiences[0].action, MembershipAction::Add);
//! assert_eq!(user.audiences[1].action, MembershipAction::Delete);
//!
//! // The response has its own ID and time (mParticle's SDK makes a new one for each).
//! let response = AudienceMembershipChangeResponse::new("0f6b2d4e-8a1c-4e3b-9d5f-7a6b5c4d3e2f", 1767225600123);
//! assert_eq!(
//!     Response::from(response).to_json(),
//!     r#"{"type":"audience_membership_change_response","id":"0f6b2d4e-8a1c-4e3b-9d5f-7a6b5c4d3e2f","timestamp_ms":1767225600123,"firehose_version":"3.3.0","suspend_subscription":false}"#
//! );
//! # Ok::<(), liveramp_firehose::Error>(())
//! ```
//!
//! # Errors name the path, never the value
//!
//! Reading is strict about what matters and tolerant of the rest. A missing `type`, `id`,
//! `timestamp_ms`, `audience_id` or `action`, an `action` that is not one of its keywords, a
//! value of the wrong JSON type, a field given twice, are each an [`Error`] whose
//! [`path`](Error::path) is the JSON path of the value (`user_profiles[3].audiences[0].action`)
//! and whose text says what is wrong:
//!
//! ```text
//! user_profiles[3].audiences[0].action: "remove" is not add, delete or attribute_update
//! user_profiles[0].user_identities[1].value: invalid type: integer (value withheld), expected a string
//! timestamp_ms: required field is missing
//! type: "event_processing_request" is not module_registration_request, audience_subscription_request, audience_membership_change_request or dsr_processing_request
//! ```
//!
//! The text never contains an identity, attribute, mpid, name or setting value: a wrong type
//! is named by its kind (`string (value withheld)`), and only enumerated keywords are quoted,
//! when they look like keywords. An unknown `type` is its own variant,
//! [`Error::UnknownType`], for an HTTP `400`. Unknown fields are ignored at every level
//! (mParticle adds fields over time), and `null` is the same as absent for optional fields.
//!
//! # What is kept as given
//!
//! - Identity types are strings (`email`, `mobile_number`, `ios_advertising_id`, ...), so new
//!   types survive.
//! - An identity `encoding` that is not `raw`, `md5`, `sha1` or `sha256` is kept as
//!   [`Encoding::Other`]: the consumer rejects (and counts) that one identity, not the whole
//!   batch. An absent or `null` encoding is `raw`.
//! - `mpid` may be a JSON string or integer; it is kept as text.
//! - Settings (`account_settings`, `audience_subscription_settings`) are strings; numbers and
//!   booleans are kept as their JSON text, a `null` value as an absent setting.
//!
//! # Speed
//!
//! A message is read straight into the typed structs (no `serde_json::Value` tree), in one
//! pass when `type` comes first, as mParticle writes it; path tracking costs nothing until an
//! error unwinds. `cargo bench -p liveramp-firehose` measures a 100-profile batch.
//!
//! # Registering
//!
//! [`Registration::liveramp`] is this integration's `module_registration_response` body:
//! the identities it asks for, the LiveRamp connection settings (with their IDs in
//! [`setting_ids`]) plus the `apiKey` mParticle authenticates with, and the data subject
//! requests it fulfils.
//!
//! ```
//! use liveramp_firehose::{ModuleRegistrationResponse, Registration};
//! let response = ModuleRegistrationResponse::new("b2c3d4e5-0000-4000-8000-000000000002", 1767225600000, Registration::liveramp("0.1.0"));
//! let json: serde_json::Value = serde_json::to_value(&response).unwrap();
//! assert_eq!(json["type"], "module_registration_response");
//! assert_eq!(json["permissions"]["allow_access_mpid"], true);
//! assert_eq!(json["audience_processing_registration"]["account_settings"][7]["id"], "apiKey");
//! ```
#![deny(missing_docs)]

mod de;
mod dsr;
mod error;
mod membership;
mod message;
mod registration;
mod response;
mod subscription;

pub use dsr::{DsrIdentity, DsrProcessingRequest, Regulation, SubjectRequestType};
pub use error::Error;
pub use membership::{
    AttributeAction, Audience, AudienceMembershipChangeRequest, Encoding, Identity,
    MembershipAction, UserAttribute, UserProfile,
};
pub use message::{Account, Envelope, Message, MessageType, ModuleRegistrationRequest};
pub use registration::{
    AudienceProcessingRegistration, BulkConfiguration, DefaultValue, DsrProcessingRegistration,
    IdentityPermission, Permissions, Registration, Setting, SettingType, setting_ids,
};
pub use response::{
    AudienceMembershipChangeResponse, AudienceSubscriptionResponse, DsrProcessingResponse,
    FIREHOSE_VERSION, ModuleRegistrationResponse, Response, ResponseEnvelope,
};
pub use subscription::{AudienceSubscriptionRequest, SubscriptionAction};
