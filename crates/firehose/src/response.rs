//! The answers to each message: serde-serialisable to the JSON mParticle expects.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::registration::Registration;

/// The Firehose protocol version this crate speaks, written as `firehose_version` (and
/// `sdk_version` in the registration) of every response.
pub const FIREHOSE_VERSION: &str = "3.3.0";

/// The fields every response carries (with its `type`).
///
/// mParticle's SDK gives each response **its own new ID** and the time it was made, not the
/// request's: the caller passes both (this crate has no clock and no randomness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseEnvelope {
    /// The response's own ID (a new UUID).
    pub id: String,
    /// When the response was made, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The protocol version answered with ([`FIREHOSE_VERSION`] by default).
    pub firehose_version: String,
}

impl ResponseEnvelope {
    /// An envelope with this ID and time, speaking [`FIREHOSE_VERSION`].
    pub fn new(id: impl Into<String>, timestamp_ms: i64) -> Self {
        ResponseEnvelope {
            id: id.into(),
            timestamp_ms,
            firehose_version: FIREHOSE_VERSION.to_owned(),
        }
    }
}

/// `module_registration_response`: what this integration is and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRegistrationResponse {
    /// `id`, `timestamp_ms`, `firehose_version`.
    pub envelope: ResponseEnvelope,
    /// The integration's description (see [`Registration::liveramp`]).
    pub registration: Registration,
}

impl ModuleRegistrationResponse {
    /// The response with this ID and time.
    pub fn new(id: impl Into<String>, timestamp_ms: i64, registration: Registration) -> Self {
        ModuleRegistrationResponse {
            envelope: ResponseEnvelope::new(id, timestamp_ms),
            registration,
        }
    }
}

/// `audience_subscription_response`: acknowledges a subscription change, optionally with
/// settings for the audience's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceSubscriptionResponse {
    /// `id`, `timestamp_ms`, `firehose_version`.
    pub envelope: ResponseEnvelope,
    /// Settings to store on the audience's connection (left out of the JSON when empty).
    pub audience_subscription_settings: BTreeMap<String, String>,
}

impl AudienceSubscriptionResponse {
    /// The response with this ID and time, and no settings.
    pub fn new(id: impl Into<String>, timestamp_ms: i64) -> Self {
        AudienceSubscriptionResponse {
            envelope: ResponseEnvelope::new(id, timestamp_ms),
            audience_subscription_settings: BTreeMap::new(),
        }
    }
}

/// `audience_membership_change_response`: acknowledges a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceMembershipChangeResponse {
    /// `id`, `timestamp_ms`, `firehose_version`.
    pub envelope: ResponseEnvelope,
    /// `true` makes mParticle stop sending until the customer resumes the connection: for
    /// permanent errors only (a wrong API key, a disabled account).
    pub suspend_subscription: bool,
}

impl AudienceMembershipChangeResponse {
    /// The response with this ID and time, not suspending.
    pub fn new(id: impl Into<String>, timestamp_ms: i64) -> Self {
        AudienceMembershipChangeResponse {
            envelope: ResponseEnvelope::new(id, timestamp_ms),
            suspend_subscription: false,
        }
    }
}

/// `dsr_processing_response`: acknowledges a data subject request (envelope only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsrProcessingResponse {
    /// `id`, `timestamp_ms`, `firehose_version`.
    pub envelope: ResponseEnvelope,
}

impl DsrProcessingResponse {
    /// The response with this ID and time.
    pub fn new(id: impl Into<String>, timestamp_ms: i64) -> Self {
        DsrProcessingResponse {
            envelope: ResponseEnvelope::new(id, timestamp_ms),
        }
    }
}

/// Any response, for code that answers every message type in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one response per request: its size does not matter
#[non_exhaustive]
pub enum Response {
    /// `module_registration_response`.
    ModuleRegistration(ModuleRegistrationResponse),
    /// `audience_subscription_response`.
    AudienceSubscription(AudienceSubscriptionResponse),
    /// `audience_membership_change_response`.
    AudienceMembershipChange(AudienceMembershipChangeResponse),
    /// `dsr_processing_response`.
    DsrProcessing(DsrProcessingResponse),
}

impl Response {
    /// The response's `type`, such as `audience_membership_change_response`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Response::ModuleRegistration(_) => "module_registration_response",
            Response::AudienceSubscription(_) => "audience_subscription_response",
            Response::AudienceMembershipChange(_) => "audience_membership_change_response",
            Response::DsrProcessing(_) => "dsr_processing_response",
        }
    }

    /// The response's envelope.
    pub fn envelope(&self) -> &ResponseEnvelope {
        match self {
            Response::ModuleRegistration(r) => &r.envelope,
            Response::AudienceSubscription(r) => &r.envelope,
            Response::AudienceMembershipChange(r) => &r.envelope,
            Response::DsrProcessing(r) => &r.envelope,
        }
    }

    /// The response as JSON, the body of the HTTP answer.
    pub fn to_json(&self) -> String {
        // Strings, integers and booleans into a String: cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

macro_rules! response_from {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Response {
            fn from(response: $ty) -> Self {
                Response::$variant(response)
            }
        }
    )*};
}

response_from!(
    ModuleRegistration(ModuleRegistrationResponse),
    AudienceSubscription(AudienceSubscriptionResponse),
    AudienceMembershipChange(AudienceMembershipChangeResponse),
    DsrProcessing(DsrProcessingResponse)
);

// ---------------------------------------------------------------------------------------------
// Writing: `type` first, then the envelope, then the body, as mParticle's SDK writes them.

#[derive(Serialize)]
struct Head<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    timestamp_ms: i64,
    firehose_version: &'a str,
}

impl<'a> Head<'a> {
    fn new(kind: &'static str, envelope: &'a ResponseEnvelope) -> Self {
        Head {
            kind,
            id: &envelope.id,
            timestamp_ms: envelope.timestamp_ms,
            firehose_version: &envelope.firehose_version,
        }
    }
}

impl Serialize for ModuleRegistrationResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(flatten)]
            head: Head<'a>,
            sdk_version: &'a str,
            #[serde(flatten)]
            registration: &'a Registration,
        }
        Wire {
            head: Head::new("module_registration_response", &self.envelope),
            sdk_version: &self.envelope.firehose_version,
            registration: &self.registration,
        }
        .serialize(serializer)
    }
}

impl Serialize for AudienceSubscriptionResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(flatten)]
            head: Head<'a>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            audience_subscription_settings: &'a BTreeMap<String, String>,
        }
        Wire {
            head: Head::new("audience_subscription_response", &self.envelope),
            audience_subscription_settings: &self.audience_subscription_settings,
        }
        .serialize(serializer)
    }
}

impl Serialize for AudienceMembershipChangeResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(flatten)]
            head: Head<'a>,
            suspend_subscription: bool,
        }
        Wire {
            head: Head::new("audience_membership_change_response", &self.envelope),
            suspend_subscription: self.suspend_subscription,
        }
        .serialize(serializer)
    }
}

impl Serialize for DsrProcessingResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Head::new("dsr_processing_response", &self.envelope).serialize(serializer)
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Response::ModuleRegistration(r) => r.serialize(serializer),
            Response::AudienceSubscription(r) => r.serialize(serializer),
            Response::AudienceMembershipChange(r) => r.serialize(serializer),
            Response::DsrProcessing(r) => r.serialize(serializer),
        }
    }
}
