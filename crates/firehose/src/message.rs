//! The envelope every message carries, the [`Message`] enum, and reading a message from JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess};
use serde::ser::{SerializeMap, Serializer};

use crate::de::{
    Accept, Detail, Fields, Key, Parse, Seed, Settings, Trail, any, field, fields, next_key,
    required, skip,
};
use crate::dsr::{
    DsrIdentity, DsrProcessingRequest, Regulation, SubjectIdentities, SubjectRequestType,
};
use crate::error::{Error, keyword_shown};
use crate::membership::{AudienceMembershipChangeRequest, UserProfile};
use crate::subscription::{AudienceSubscriptionRequest, SubscriptionAction};

/// The fields every message carries: `type` (the [`Message`] variant), `id`,
/// `timestamp_ms`, `firehose_version` and, for audience and DSR messages, `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The message's ID (a UUID), the same on every retry of the message (required).
    pub id: String,
    /// When mParticle sent the message, in milliseconds since the Unix epoch (required).
    pub timestamp_ms: i64,
    /// The Firehose protocol version of the sender, such as `"3.3.0"`, if sent.
    pub firehose_version: Option<String>,
    /// The mParticle account the message is for, if sent.
    pub account: Option<Account>,
}

impl Envelope {
    /// An envelope with no `firehose_version` and no account.
    pub fn new(id: impl Into<String>, timestamp_ms: i64) -> Self {
        Envelope {
            id: id.into(),
            timestamp_ms,
            firehose_version: None,
            account: None,
        }
    }
}

/// The mParticle account a message is for: its ID and the account settings the customer
/// entered in mParticle (the values of the registration's `account_settings`, as strings).
///
/// The settings hold secrets (`apiKey`, the SFTP password), so `Debug` prints the setting
/// names only, never a value:
///
/// ```
/// use liveramp_firehose::Account;
/// let account = Account::new(4242, [("apiKey", "s3cret-key"), ("sftpUrl", "files.liveramp.com")]);
/// assert_eq!(account.setting("apiKey"), Some("s3cret-key"));
/// assert_eq!(
///     format!("{account:?}"),
///     r#"Account { account_id: 4242, account_settings: ["apiKey", "sftpUrl"] }"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// mParticle's account ID (required when `account` is sent).
    pub account_id: u64,
    #[serde(rename = "account_settings")]
    settings: BTreeMap<String, String>,
}

impl Account {
    /// An account with these settings.
    pub fn new<K: Into<String>, V: Into<String>>(
        account_id: u64,
        settings: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Account {
            account_id,
            settings: settings
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of the setting with this ID (such as `"apiKey"`; see
    /// [`setting_ids`](crate::setting_ids)), if the customer set it.
    pub fn setting(&self, id: &str) -> Option<&str> {
        self.settings.get(id).map(String::as_str)
    }

    /// The IDs of the settings present, in order.
    pub fn setting_ids(&self) -> impl Iterator<Item = &str> {
        self.settings.keys().map(String::as_str)
    }

    /// Every setting as (ID, value), in order of ID. The values may be secrets.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("account_id", &self.account_id)
            .field(
                "account_settings",
                &self.settings.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// `module_registration_request`: mParticle asks what this integration is. Answer with a
/// [`ModuleRegistrationResponse`](crate::ModuleRegistrationResponse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRegistrationRequest {
    /// `type`, `id`, `timestamp_ms`, `firehose_version` (and an `account` if sent).
    pub envelope: Envelope,
}

/// The type of a message this crate reads: the `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `module_registration_request`.
    ModuleRegistrationRequest,
    /// `audience_subscription_request`.
    AudienceSubscriptionRequest,
    /// `audience_membership_change_request`.
    AudienceMembershipChangeRequest,
    /// `dsr_processing_request`.
    DsrProcessingRequest,
}

impl MessageType {
    /// The `type` as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::ModuleRegistrationRequest => "module_registration_request",
            MessageType::AudienceSubscriptionRequest => "audience_subscription_request",
            MessageType::AudienceMembershipChangeRequest => "audience_membership_change_request",
            MessageType::DsrProcessingRequest => "dsr_processing_request",
        }
    }

    /// The type of a `type` name, if it is one this crate reads.
    pub fn from_name(name: &str) -> Option<MessageType> {
        match name {
            "module_registration_request" => Some(MessageType::ModuleRegistrationRequest),
            "audience_subscription_request" => Some(MessageType::AudienceSubscriptionRequest),
            "audience_membership_change_request" => {
                Some(MessageType::AudienceMembershipChangeRequest)
            }
            "dsr_processing_request" => Some(MessageType::DsrProcessingRequest),
            _ => None,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Firehose message from mParticle: one `POST` body.
///
/// Read one with [`Message::from_json`]; each variant keeps its [`Envelope`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// `module_registration_request`.
    ModuleRegistration(ModuleRegistrationRequest),
    /// `audience_subscription_request`.
    AudienceSubscription(AudienceSubscriptionRequest),
    /// `audience_membership_change_request`.
    AudienceMembershipChange(AudienceMembershipChangeRequest),
    /// `dsr_processing_request`.
    DsrProcessing(DsrProcessingRequest),
}

impl Message {
    /// Reads one message (a `POST` body) from JSON bytes.
    ///
    /// The message goes straight into the typed structs, in one pass when `type` is the first
    /// field (as mParticle writes it); otherwise the `type` is looked up first, then the
    /// message is read. Strict about what matters: a missing `type`, `id`, `timestamp_ms`,
    /// `audience_id`, `action`, an unknown `action` or `type`, a value of the wrong JSON type,
    /// a repeated field, are errors naming the JSON path ([`Error::path`]). Tolerant of the
    /// rest: unknown fields are ignored at every level (they are only checked to be JSON), and
    /// `null` is the same as absent for every optional field.
    ///
    /// ```
    /// use liveramp_firehose::{Error, Message};
    /// let err = Message::from_json(br#"{"type": "audience_membership_change_request",
    ///     "id": "c0ffee00-0000-4000-8000-000000000001", "timestamp_ms": 1700000000000,
    ///     "user_profiles": [{"audiences": [{"audience_id": 7, "action": "remove"}]}]}"#)
    ///     .unwrap_err();
    /// assert_eq!(err.path(), "user_profiles[0].audiences[0].action");
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"user_profiles[0].audiences[0].action: "remove" is not add, delete or attribute_update"#
    /// );
    /// assert!(matches!(
    ///     Message::from_json(br#"{"type": "event_processing_request"}"#),
    ///     Err(Error::UnknownType { .. })
    /// ));
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Message, Error> {
        // One UTF-8 check of the whole body is cheaper than serde_json's check of each string;
        // invalid UTF-8 goes the checking way, for its exact error and position.
        match std::str::from_utf8(bytes) {
            Ok(text) => read(|| serde_json::Deserializer::from_str(text)),
            Err(_) => read(|| serde_json::Deserializer::from_slice(bytes)),
        }
    }

    /// Like [`Message::from_json`], from text.
    pub fn from_json_str(text: &str) -> Result<Message, Error> {
        read(|| serde_json::Deserializer::from_str(text))
    }

    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::ModuleRegistration(_) => MessageType::ModuleRegistrationRequest,
            Message::AudienceSubscription(_) => MessageType::AudienceSubscriptionRequest,
            Message::AudienceMembershipChange(_) => MessageType::AudienceMembershipChangeRequest,
            Message::DsrProcessing(_) => MessageType::DsrProcessingRequest,
        }
    }

    /// The message's envelope (`id`, `timestamp_ms`, `firehose_version`, `account`).
    pub fn envelope(&self) -> &Envelope {
        match self {
            Message::ModuleRegistration(m) => &m.envelope,
            Message::AudienceSubscription(m) => &m.envelope,
            Message::AudienceMembershipChange(m) => &m.envelope,
            Message::DsrProcessing(m) => &m.envelope,
        }
    }

    /// The message's account, if it has one (shorthand for `envelope().account`).
    pub fn account(&self) -> Option<&Account> {
        self.envelope().account.as_ref()
    }

    /// The message as JSON, `type` first: what [`Message::from_json`] reads back as an equal
    /// message. Absent optional fields and empty lists and settings are left out.
    pub fn to_json(&self) -> String {
        // Serialising strings, integers, finite floats and booleans into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl FromStr for Message {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Message::from_json_str(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

fields!(TopField {
    Type = "type",
    Id = "id",
    TimestampMs = "timestamp_ms",
    FirehoseVersion = "firehose_version",
    Account = "account",
    AudienceId = "audience_id",
    AudienceName = "audience_name",
    AudienceDescription = "audience_description",
    AudienceSubscriptionSettings = "audience_subscription_settings",
    PreviousAudienceSubscriptionSettings = "previous_audience_subscription_settings",
    Action = "action",
    UserProfiles = "user_profiles",
    SubjectRequestId = "subject_request_id",
    SubjectRequestType = "subject_request_type",
    Regulation = "regulation",
    SubmittedTime = "submitted_time",
    ApiVersion = "api_version",
    SubjectIdentities = "subject_identities",
});

impl TopField {
    /// Whether the field is part of messages of this type (the others are ignored, unread).
    fn belongs_to(self, ty: MessageType) -> bool {
        match self {
            TopField::Type
            | TopField::Id
            | TopField::TimestampMs
            | TopField::FirehoseVersion
            | TopField::Account => true,
            TopField::AudienceId
            | TopField::AudienceName
            | TopField::AudienceDescription
            | TopField::AudienceSubscriptionSettings
            | TopField::PreviousAudienceSubscriptionSettings
            | TopField::Action => ty == MessageType::AudienceSubscriptionRequest,
            TopField::UserProfiles => ty == MessageType::AudienceMembershipChangeRequest,
            TopField::SubjectRequestId
            | TopField::SubjectRequestType
            | TopField::Regulation
            | TopField::SubmittedTime
            | TopField::ApiVersion
            | TopField::SubjectIdentities => ty == MessageType::DsrProcessingRequest,
        }
    }
}

/// Reads a whole message from the deserializers `open` makes (one, or three when `type` is
/// not the first field).
fn read<'de, R: serde_json::de::Read<'de>>(
    open: impl Fn() -> serde_json::Deserializer<R>,
) -> Result<Message, Error> {
    let trail = Trail::default();
    let seed = MessageSeed {
        trail: &trail,
        known: None,
    };
    match whole(&mut open(), seed) {
        Ok(message) => return Ok(message),
        Err(e) if !trail.type_not_first.get() => return Err(trail.into_error(&e)),
        Err(_) => {}
    }
    // `type` is not the first field: find it, then read the message knowing its type.
    let scan = Trail::default();
    let e = match whole(&mut open(), TypeScan(&scan)) {
        Ok(()) => {
            return Err(Error::MissingField {
                path: "type".to_owned(),
                line: 0,
                column: 0,
            });
        }
        Err(e) => e,
    };
    let Some(known) = scan.found_type.get() else {
        return Err(scan.into_error(&e));
    };
    let trail = Trail::default();
    let seed = MessageSeed {
        trail: &trail,
        known: Some(known),
    };
    whole(&mut open(), seed).map_err(|e| trail.into_error(&e))
}

/// Reads one value with `seed` and checks that nothing but whitespace follows.
fn whole<'de, R: serde_json::de::Read<'de>, S: DeserializeSeed<'de>>(
    deserializer: &mut serde_json::Deserializer<R>,
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    let value = seed.deserialize(&mut *deserializer)?;
    deserializer.end()?;
    Ok(value)
}

impl<'de> Parse<'de> for MessageType {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Name<'t>(&'t Trail);
        impl Accept<'_> for Name<'_> {
            type Value = MessageType;
            const EXPECTED: &'static str = "a message type (a string)";
            fn str<E: de::Error>(self, v: &str) -> Result<MessageType, E> {
                MessageType::from_name(v).ok_or_else(|| {
                    self.0.detail_error(Detail::UnknownType {
                        name: keyword_shown(v),
                    })
                })
            }
        }
        any(deserializer, Name(trail))
    }
}

/// The whole message; `known` is the type when a scan found it.
struct MessageSeed<'t> {
    trail: &'t Trail,
    known: Option<MessageType>,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = Message;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Message, D::Error> {
        any(deserializer, self)
    }
}

impl<'de> Accept<'de> for MessageSeed<'_> {
    type Value = Message;
    const EXPECTED: &'static str = "a Firehose message (a JSON object)";

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let t = self.trail;
        let (ty, mut type_seen) = match self.known {
            Some(ty) => (ty, false),
            None => {
                if let Some(Key::Known(f @ TopField::Type)) = next_key::<TopField, A>(&mut map)? {
                    let seed = Seed::<MessageType>::new(t);
                    (t.at(f.name(), map.next_value_seed(seed))?, true)
                } else {
                    // Read again once the type is known (see `read`).
                    t.type_not_first.set(true);
                    return Err(de::Error::custom("`type` is not the first field"));
                }
            }
        };
        let mut parts = Parts::default();
        while let Some(key) = next_key::<TopField, A>(&mut map)? {
            match key {
                Key::Known(f @ TopField::Type) => {
                    if type_seen {
                        return Err(t.fail(f.name(), Detail::Duplicate));
                    }
                    type_seen = true;
                    skip(&mut map, t, f.name())?;
                }
                Key::Known(f) if f.belongs_to(ty) => parts.read(&mut map, t, f)?,
                Key::Known(f) => skip(&mut map, t, f.name())?,
                Key::Other(name) => skip(&mut map, t, &name)?,
            }
        }
        parts.finish(ty, t)
    }
}

/// The top-level fields read so far (`None`: not seen; `Some(None)`: `null`).
#[derive(Default)]
#[allow(clippy::option_option)] // not seen (so a repeat is caught) differs from null
struct Parts {
    id: Option<String>,
    timestamp_ms: Option<i64>,
    firehose_version: Option<Option<String>>,
    account: Option<Option<Account>>,
    audience_id: Option<u64>,
    audience_name: Option<Option<String>>,
    audience_description: Option<Option<String>>,
    audience_subscription_settings: Option<Option<Settings>>,
    previous_audience_subscription_settings: Option<Option<Settings>>,
    action: Option<SubscriptionAction>,
    user_profiles: Option<Option<Vec<UserProfile>>>,
    subject_request_id: Option<String>,
    subject_request_type: Option<SubjectRequestType>,
    regulation: Option<Option<Regulation>>,
    submitted_time: Option<Option<f64>>,
    api_version: Option<Option<String>>,
    subject_identities: Option<Option<SubjectIdentities>>,
}

impl Parts {
    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        t: &Trail,
        f: TopField,
    ) -> Result<(), A::Error> {
        match f {
            // Handled by the caller.
            TopField::Type => Ok(()),
            TopField::Id => field(map, t, &mut self.id, f),
            TopField::TimestampMs => field(map, t, &mut self.timestamp_ms, f),
            TopField::FirehoseVersion => field(map, t, &mut self.firehose_version, f),
            TopField::Account => field(map, t, &mut self.account, f),
            TopField::AudienceId => field(map, t, &mut self.audience_id, f),
            TopField::AudienceName => field(map, t, &mut self.audience_name, f),
            TopField::AudienceDescription => field(map, t, &mut self.audience_description, f),
            TopField::AudienceSubscriptionSettings => {
                field(map, t, &mut self.audience_subscription_settings, f)
            }
            TopField::PreviousAudienceSubscriptionSettings => {
                field(map, t, &mut self.previous_audience_subscription_settings, f)
            }
            TopField::Action => field(map, t, &mut self.action, f),
            TopField::UserProfiles => field(map, t, &mut self.user_profiles, f),
            TopField::SubjectRequestId => field(map, t, &mut self.subject_request_id, f),
            TopField::SubjectRequestType => field(map, t, &mut self.subject_request_type, f),
            TopField::Regulation => field(map, t, &mut self.regulation, f),
            TopField::SubmittedTime => field(map, t, &mut self.submitted_time, f),
            TopField::ApiVersion => field(map, t, &mut self.api_version, f),
            TopField::SubjectIdentities => field(map, t, &mut self.subject_identities, f),
        }
    }

    fn finish<E: de::Error>(self, ty: MessageType, t: &Trail) -> Result<Message, E> {
        let envelope = Envelope {
            id: required(self.id, t, TopField::Id)?,
            timestamp_ms: required(self.timestamp_ms, t, TopField::TimestampMs)?,
            firehose_version: self.firehose_version.flatten(),
            account: self.account.flatten(),
        };
        Ok(match ty {
            MessageType::ModuleRegistrationRequest => {
                Message::ModuleRegistration(ModuleRegistrationRequest { envelope })
            }
            MessageType::AudienceSubscriptionRequest => {
                Message::AudienceSubscription(AudienceSubscriptionRequest {
                    envelope,
                    audience_id: required(self.audience_id, t, TopField::AudienceId)?,
                    audience_name: self.audience_name.flatten(),
                    audience_description: self.audience_description.flatten(),
                    audience_subscription_settings: self
                        .audience_subscription_settings
                        .flatten()
                        .unwrap_or_default(),
                    previous_audience_subscription_settings: self
                        .previous_audience_subscription_settings
                        .flatten()
                        .unwrap_or_default(),
                    action: required(self.action, t, TopField::Action)?,
                })
            }
            MessageType::AudienceMembershipChangeRequest => {
                Message::AudienceMembershipChange(AudienceMembershipChangeRequest {
                    envelope,
                    user_profiles: self.user_profiles.flatten().unwrap_or_default(),
                })
            }
            MessageType::DsrProcessingRequest => Message::DsrProcessing(DsrProcessingRequest {
                envelope,
                subject_request_id: required(
                    self.subject_request_id,
                    t,
                    TopField::SubjectRequestId,
                )?,
                subject_request_type: required(
                    self.subject_request_type,
                    t,
                    TopField::SubjectRequestType,
                )?,
                regulation: self.regulation.flatten(),
                submitted_time: self.submitted_time.flatten(),
                api_version: self.api_version.flatten(),
                subject_identities: self
                    .subject_identities
                    .flatten()
                    .map(|s| s.0)
                    .unwrap_or_default(),
            }),
        })
    }
}

fields!(ScanField { Type = "type" });

/// Looks for the top-level `type` only; stops with an error as soon as it has it (recorded in
/// the trail's `found_type`), since nothing after it is needed.
struct TypeScan<'t>(&'t Trail);

impl<'de> DeserializeSeed<'de> for TypeScan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        any(deserializer, self)
    }
}

impl<'de> Accept<'de> for TypeScan<'_> {
    type Value = ();
    const EXPECTED: &'static str = "a Firehose message (a JSON object)";

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let t = self.0;
        while let Some(key) = next_key::<ScanField, A>(&mut map)? {
            if let Key::Other(name) = key {
                skip(&mut map, t, &name)?;
            } else {
                let name = ScanField::Type.name();
                let ty = t.at(name, map.next_value_seed(Seed::<MessageType>::new(t)))?;
                t.found_type.set(Some(ty));
                return Err(de::Error::custom("found the type"));
            }
        }
        required(None, t, ScanField::Type)
    }
}

fields!(AccountField {
    AccountId = "account_id",
    AccountSettings = "account_settings",
});

impl<'de> Parse<'de> for Account {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = Account;
            const EXPECTED: &'static str = "an account (an object)";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Account, A::Error> {
                let t = self.0;
                let mut account_id: Option<u64> = None;
                let mut settings: Option<Option<Settings>> = None;
                while let Some(key) = next_key(&mut map)? {
                    match key {
                        Key::Known(f @ AccountField::AccountId) => {
                            field(&mut map, t, &mut account_id, f)?;
                        }
                        Key::Known(f @ AccountField::AccountSettings) => {
                            field(&mut map, t, &mut settings, f)?;
                        }
                        Key::Other(name) => skip(&mut map, t, &name)?,
                    }
                }
                Ok(Account {
                    account_id: required(account_id, t, AccountField::AccountId)?,
                    settings: settings.flatten().unwrap_or_default(),
                })
            }
        }
        any(deserializer, Object(trail))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.message_type().as_str())?;
        let envelope = self.envelope();
        map.serialize_entry("id", &envelope.id)?;
        map.serialize_entry("timestamp_ms", &envelope.timestamp_ms)?;
        if let Some(version) = &envelope.firehose_version {
            map.serialize_entry("firehose_version", version)?;
        }
        if let Some(account) = &envelope.account {
            map.serialize_entry("account", account)?;
        }
        match self {
            Message::ModuleRegistration(_) => {}
            Message::AudienceSubscription(m) => {
                map.serialize_entry("audience_id", &m.audience_id)?;
                if let Some(name) = &m.audience_name {
                    map.serialize_entry("audience_name", name)?;
                }
                if let Some(description) = &m.audience_description {
                    map.serialize_entry("audience_description", description)?;
                }
                if !m.audience_subscription_settings.is_empty() {
                    map.serialize_entry(
                        "audience_subscription_settings",
                        &m.audience_subscription_settings,
                    )?;
                }
                if !m.previous_audience_subscription_settings.is_empty() {
                    map.serialize_entry(
                        "previous_audience_subscription_settings",
                        &m.previous_audience_subscription_settings,
                    )?;
                }
                map.serialize_entry("action", &m.action)?;
            }
            Message::AudienceMembershipChange(m) => {
                map.serialize_entry("user_profiles", &m.user_profiles)?;
            }
            Message::DsrProcessing(m) => {
                map.serialize_entry("subject_request_id", &m.subject_request_id)?;
                map.serialize_entry("subject_request_type", &m.subject_request_type)?;
                if let Some(regulation) = &m.regulation {
                    map.serialize_entry("regulation", regulation)?;
                }
                if let Some(time) = m.submitted_time {
                    map.serialize_entry("submitted_time", &time)?;
                }
                if let Some(version) = &m.api_version {
                    map.serialize_entry("api_version", version)?;
                }
                if !m.subject_identities.is_empty() {
                    map.serialize_entry::<str, BTreeMap<String, DsrIdentity>>(
                        "subject_identities",
                        &m.subject_identities,
                    )?;
                }
            }
        }
        map.end()
    }
}
