//! `audience_membership_change_request`: user profiles entering and leaving audiences.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess};
use serde::{Serialize, Serializer};

use crate::de::{
    Accept, Key, Keyword, Parse, Settings, Trail, any, field, fields, next_key, parse_keyword,
    required, skip,
};
use crate::message::Envelope;

/// A batch of membership changes: `{"type": "audience_membership_change_request", ...,
/// "user_profiles": [...]}`.
///
/// An empty (or absent, or `null`) `user_profiles` is mParticle's verification ping: answer
/// it, change nothing ([`AudienceMembershipChangeRequest::is_ping`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceMembershipChangeRequest {
    /// `type`, `id`, `timestamp_ms`, `firehose_version`, `account`. The message's
    /// `timestamp_ms` is the only time it carries: there is no per-user change time.
    pub envelope: Envelope,
    /// The users whose memberships changed, in the order sent.
    pub user_profiles: Vec<UserProfile>,
}

impl AudienceMembershipChangeRequest {
    /// Whether this is a verification ping (no user profiles): answer `200`, change nothing.
    pub fn is_ping(&self) -> bool {
        self.user_profiles.is_empty()
    }
}

/// One user of a membership batch: who they are and which audiences they entered or left.
///
/// Absent or `null` lists are empty; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserProfile {
    /// The mParticle ID (sent when the registration asks for `allow_access_mpid`). A JSON
    /// string or integer, kept as text (`"12345"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpid: Option<String>,
    /// Identities of the person: `email`, `mobile_number`, `customer`, `other2`, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_identities: Vec<Identity>,
    /// Identities of the person's devices: `ios_advertising_id`, `google_advertising_id`, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_identities: Vec<Identity>,
    /// Identities defined by partners.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partner_identities: Vec<Identity>,
    /// The audiences this user entered, left, or whose shared attributes changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<Audience>,
}

/// One identity: `{"type": "email", "encoding": "raw", "value": "jane@example.com"}`.
///
/// `type` and `value` are required strings. The type is kept as given, so types this crate
/// does not list (mParticle adds them over time) survive. An absent or `null` `encoding` is
/// [`Encoding::Raw`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The identity type as mParticle names it: `email`, `mobile_number`, `phone_number_2`,
    /// `ios_advertising_id`, `google_advertising_id`, `partner_id`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// How `value` is encoded.
    pub encoding: Encoding,
    /// The value (raw, or the sender's hash of it).
    pub value: String,
}

impl Identity {
    /// An identity of the given type, encoding and value.
    pub fn new(kind: impl Into<String>, encoding: Encoding, value: impl Into<String>) -> Self {
        Identity {
            kind: kind.into(),
            encoding,
            value: value.into(),
        }
    }
}

/// How an identity value is encoded: `raw`, `md5`, `sha1` or `sha256`.
///
/// Any other name is kept as [`Encoding::Other`] rather than failing the message: one
/// identity with an encoding nobody knows is for the consumer to reject (and count), while
/// the rest of the batch goes through. Names are matched exactly (Firehose writes them in
/// lower case).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// The value as entered (`raw`).
    #[default]
    Raw,
    /// Lowercase-hex MD5 of the value (`md5`).
    Md5,
    /// Lowercase-hex SHA-1 of the value (`sha1`).
    Sha1,
    /// Lowercase-hex SHA-256 of the value (`sha256`).
    Sha256,
    /// Another name, kept as given.
    Other(String),
}

impl Encoding {
    /// The encoding of a name: `raw`, `md5`, `sha1`, `sha256`, or [`Encoding::Other`].
    pub fn from_name(name: &str) -> Encoding {
        match name {
            "raw" => Encoding::Raw,
            "md5" => Encoding::Md5,
            "sha1" => Encoding::Sha1,
            "sha256" => Encoding::Sha256,
            other => Encoding::Other(other.to_owned()),
        }
    }

    /// The name as written in JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Md5 => "md5",
            Encoding::Sha1 => "sha1",
            Encoding::Sha256 => "sha256",
            Encoding::Other(name) => name,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Encoding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Parse<'de> for Encoding {
    fn parse<D: Deserializer<'de>>(deserializer: D, _: &Trail) -> Result<Self, D::Error> {
        struct Name;
        impl Accept<'_> for Name {
            type Value = Encoding;
            const EXPECTED: &'static str = "an encoding name (a string)";
            fn str<E: de::Error>(self, v: &str) -> Result<Encoding, E> {
                Ok(Encoding::from_name(v))
            }
        }
        any(deserializer, Name)
    }
}

/// One audience change of a user: `{"audience_id": 456, "audience_name": "...", "action":
/// "add", ...}`. `audience_id` and `action` are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audience {
    /// mParticle's audience ID.
    pub audience_id: u64,
    /// The audience's name, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience_name: Option<String>,
    /// The settings of this audience's connection (empty if absent).
    #[serde(skip_serializing_if = "Settings::is_empty")]
    pub audience_subscription_settings: Settings,
    /// What happened: the user entered (`add`) or left (`delete`) the audience, or its shared
    /// attributes changed (`attribute_update`).
    pub action: MembershipAction,
    /// The audience's shared user attributes that changed (empty if absent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_attributes: Vec<UserAttribute>,
}

/// What happened to a user's membership of an audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MembershipAction {
    /// `add`: the user entered the audience.
    Add,
    /// `delete`: the user left the audience.
    Delete,
    /// `attribute_update`: the user stays; shared attributes changed.
    AttributeUpdate,
}

impl MembershipAction {
    /// The keyword as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipAction::Add => "add",
            MembershipAction::Delete => "delete",
            MembershipAction::AttributeUpdate => "attribute_update",
        }
    }
}

impl Keyword for MembershipAction {
    const EXPECTED: &'static str = "add, delete or attribute_update";
    fn from_keyword(name: &str) -> Option<Self> {
        match name {
            "add" => Some(MembershipAction::Add),
            "delete" => Some(MembershipAction::Delete),
            "attribute_update" => Some(MembershipAction::AttributeUpdate),
            _ => None,
        }
    }
}

/// One shared user attribute change: `{"key": "$Mobile", "value": "...", "action": "upsert"}`.
///
/// `key` and `action` are required; a list attribute has `list_value` instead of `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserAttribute {
    /// The attribute's name, such as `$Mobile` or `loyalty_tier`.
    pub key: String,
    /// The new value of a single-valued attribute (`None` for a tag, a list or a delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The new value of a list attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_value: Option<Vec<String>>,
    /// Whether the attribute was set (`upsert`) or removed (`delete`).
    pub action: AttributeAction,
}

/// What happened to a shared user attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributeAction {
    /// `upsert`: set to the given value.
    Upsert,
    /// `delete`: removed.
    Delete,
}

impl AttributeAction {
    /// The keyword as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeAction::Upsert => "upsert",
            AttributeAction::Delete => "delete",
        }
    }
}

impl Keyword for AttributeAction {
    const EXPECTED: &'static str = "upsert or delete";
    fn from_keyword(name: &str) -> Option<Self> {
        match name {
            "upsert" => Some(AttributeAction::Upsert),
            "delete" => Some(AttributeAction::Delete),
            _ => None,
        }
    }
}

parse_keyword!(MembershipAction, AttributeAction);

macro_rules! serialize_as_str {
    ($($ty:ty),*) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}
pub(crate) use serialize_as_str;

serialize_as_str!(MembershipAction, AttributeAction);

// ---------------------------------------------------------------------------------------------
// Reading.

fields!(ProfileField {
    Mpid = "mpid",
    UserIdentities = "user_identities",
    DeviceIdentities = "device_identities",
    PartnerIdentities = "partner_identities",
    Audiences = "audiences",
});

impl<'de> Parse<'de> for UserProfile {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = UserProfile;
            const EXPECTED: &'static str = "a user profile (an object)";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<UserProfile, A::Error> {
                let t = self.0;
                let mut mpid: Option<Option<Mpid>> = None;
                let mut user_identities: Option<Option<Vec<Identity>>> = None;
                let mut device_identities: Option<Option<Vec<Identity>>> = None;
                let mut partner_identities: Option<Option<Vec<Identity>>> = None;
                let mut audiences: Option<Option<Vec<Audience>>> = None;
                while let Some(key) = next_key(&mut map)? {
                    match key {
                        Key::Known(f @ ProfileField::Mpid) => field(&mut map, t, &mut mpid, f)?,
                        Key::Known(f @ ProfileField::UserIdentities) => {
                            field(&mut map, t, &mut user_identities, f)?;
                        }
                        Key::Known(f @ ProfileField::DeviceIdentities) => {
                            field(&mut map, t, &mut device_identities, f)?;
                        }
                        Key::Known(f @ ProfileField::PartnerIdentities) => {
                            field(&mut map, t, &mut partner_identities, f)?;
                        }
                        Key::Known(f @ ProfileField::Audiences) => {
                            field(&mut map, t, &mut audiences, f)?;
                        }
                        Key::Other(name) => skip(&mut map, t, &name)?,
                    }
                }
                Ok(UserProfile {
                    mpid: mpid.flatten().map(|m| m.0),
                    user_identities: user_identities.flatten().unwrap_or_default(),
                    device_identities: device_identities.flatten().unwrap_or_default(),
                    partner_identities: partner_identities.flatten().unwrap_or_default(),
                    audiences: audiences.flatten().unwrap_or_default(),
                })
            }
        }
        any(deserializer, Object(trail))
    }
}

/// An mpid: a JSON string or integer, as text.
struct Mpid(String);

impl<'de> Parse<'de> for Mpid {
    fn parse<D: Deserializer<'de>>(deserializer: D, _: &Trail) -> Result<Self, D::Error> {
        struct Text;
        impl Accept<'_> for Text {
            type Value = Mpid;
            const EXPECTED: &'static str = "an mpid (a string or an integer)";
            fn unsigned<E: de::Error>(self, v: u64) -> Result<Mpid, E> {
                Ok(Mpid(v.to_string()))
            }
            fn signed<E: de::Error>(self, v: i64) -> Result<Mpid, E> {
                Ok(Mpid(v.to_string()))
            }
            fn str<E: de::Error>(self, v: &str) -> Result<Mpid, E> {
                Ok(Mpid(v.to_owned()))
            }
            fn string<E: de::Error>(self, v: String) -> Result<Mpid, E> {
                Ok(Mpid(v))
            }
        }
        any(deserializer, Text)
    }
}

fields!(IdentityField {
    Type = "type",
    Encoding = "encoding",
    Value = "value",
});

impl<'de> Parse<'de> for Identity {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = Identity;
            const EXPECTED: &'static str = "an identity (an object)";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Identity, A::Error> {
                let t = self.0;
                let mut kind: Option<String> = None;
                let mut encoding: Option<Option<Encoding>> = None;
                let mut value: Option<String> = None;
                while let Some(key) = next_key(&mut map)? {
                    match key {
                        Key::Known(f @ IdentityField::Type) => field(&mut map, t, &mut kind, f)?,
                        Key::Known(f @ IdentityField::Encoding) => {
                            field(&mut map, t, &mut encoding, f)?;
                        }
                        Key::Known(f @ IdentityField::Value) => field(&mut map, t, &mut value, f)?,
                        Key::Other(name) => skip(&mut map, t, &name)?,
                    }
                }
                Ok(Identity {
                    kind: required(kind, t, IdentityField::Type)?,
                    encoding: encoding.flatten().unwrap_or_default(),
                    value: required(value, t, IdentityField::Value)?,
                })
            }
        }
        any(deserializer, Object(trail))
    }
}

fields!(AudienceField {
    AudienceId = "audience_id",
    AudienceName = "audience_name",
    AudienceSubscriptionSettings = "audience_subscription_settings",
    Action = "action",
    UserAttributes = "user_attributes",
});

impl<'de> Parse<'de> for Audience {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = Audience;
            const EXPECTED: &'static str = "an audience (an object)";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Audience, A::Error> {
                let t = self.0;
                let mut audience_id: Option<u64> = None;
                let mut audience_name: Option<Option<String>> = None;
                let mut settings: Option<Option<Settings>> = None;
                let mut action: Option<MembershipAction> = None;
                let mut user_attributes: Option<Option<Vec<UserAttribute>>> = None;
                while let Some(key) = next_key(&mut map)? {
                    match key {
                        Key::Known(f @ AudienceField::AudienceId) => {
                            field(&mut map, t, &mut audience_id, f)?;
                        }
                        Key::Known(f @ AudienceField::AudienceName) => {
                            field(&mut map, t, &mut audience_name, f)?;
                        }
                        Key::Known(f @ AudienceField::AudienceSubscriptionSettings) => {
                            field(&mut map, t, &mut settings, f)?;
                        }
                        Key::Known(f @ AudienceField::Action) => {
                            field(&mut map, t, &mut action, f)?;
                        }
                        Key::Known(f @ AudienceField::UserAttributes) => {
                            field(&mut map, t, &mut user_attributes, f)?;
                        }
                        Key::Other(name) => skip(&mut map, t, &name)?,
                    }
                }
                Ok(Audience {
                    audience_id: required(audience_id, t, AudienceField::AudienceId)?,
                    audience_name: audience_name.flatten(),
                    audience_subscription_settings: settings.flatten().unwrap_or_default(),
                    action: required(action, t, AudienceField::Action)?,
                    user_attributes: user_attributes.flatten().unwrap_or_default(),
                })
            }
        }
        any(deserializer, Object(trail))
    }
}

fields!(AttributeField {
    Key = "key",
    Value = "value",
    ListValue = "list_value",
    Action = "action",
});

impl<'de> Parse<'de> for UserAttribute {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = UserAttribute;
            const EXPECTED: &'static str = "a user attribute (an object)";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<UserAttribute, A::Error> {
                let t = self.0;
                let mut key_slot: Option<String> = None;
                let mut value: Option<Option<String>> = None;
                let mut list_value: Option<Option<Vec<String>>> = None;
                let mut action: Option<AttributeAction> = None;
                while let Some(key) = next_key(&mut map)? {
                    match key {
                        Key::Known(f @ AttributeField::Key) => {
                            field(&mut map, t, &mut key_slot, f)?;
                        }
                        Key::Known(f @ AttributeField::Value) => field(&mut map, t, &mut value, f)?,
                        Key::Known(f @ AttributeField::ListValue) => {
                            field(&mut map, t, &mut list_value, f)?;
                        }
                        Key::Known(f @ AttributeField::Action) => {
                            field(&mut map, t, &mut action, f)?;
                        }
                        Key::Other(name) => skip(&mut map, t, &name)?,
                    }
                }
                Ok(UserAttribute {
                    key: required(key_slot, t, AttributeField::Key)?,
                    value: value.flatten(),
                    list_value: list_value.flatten(),
                    action: required(action, t, AttributeField::Action)?,
                })
            }
        }
        any(deserializer, Object(trail))
    }
}
