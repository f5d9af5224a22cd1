//! What the integration declares in its `module_registration_response`: name, permissions,
//! the settings the customer fills in, and the data subject requests it fulfils.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::dsr::SubjectRequestType;
use crate::membership::Encoding;

/// The IDs of the account settings [`Registration::liveramp`] declares: look them up with
/// [`Account::setting`](crate::Account::setting).
pub mod setting_ids {
    /// The SFTP login name (text, required).
    pub const USERNAME: &str = "username";
    /// The SFTP password (text, required, confidential).
    pub const PASSWORD: &str = "password";
    /// The SFTP server, such as `files.liveramp.com` (text, required).
    pub const SFTP_URL: &str = "sftpUrl";
    /// The SFTP port (text; blank for the default).
    pub const SFTP_PORT: &str = "sftpPort";
    /// "Encrypt this file" (boolean: `"true"` or `"false"`, default false).
    pub const ENCRYPT_FILE: &str = "encryptFile";
    /// "Send Device IDs to LiveRamp" (boolean, default false).
    pub const SEND_DEVICE_IDS: &str = "sendDeviceIds";
    /// "Send PII to LiveRamp" (boolean, default false).
    pub const SEND_PII: &str = "sendPii";
    /// The secret mParticle sends with every message, by which the integration knows the
    /// message comes from mParticle (text, required, confidential).
    pub const API_KEY: &str = "apiKey";
}

/// The body of a `module_registration_response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// The integration's name, as mParticle shows it.
    pub name: String,
    /// A description for mParticle's directory (inline HTML is allowed).
    pub description: String,
    /// The integration's version.
    pub version: String,
    /// The identities and data the integration asks for.
    pub permissions: Permissions,
    /// Present if the integration receives audiences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience_processing_registration: Option<AudienceProcessingRegistration>,
    /// Present if the integration fulfils data subject requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsr_processing_registration: Option<DsrProcessingRegistration>,
}

impl Registration {
    /// The registration of this LiveRamp integration, at version `version` (for example the
    /// connector's `env!("CARGO_PKG_VERSION")`).
    ///
    /// - Permissions: the raw user identities `email`, `mobile_number`, `phone_number_2` and
    ///   `phone_number_3`, the raw device identities `ios_advertising_id` and
    ///   `google_advertising_id`, none of them required (a user with any one of them can be
    ///   sent); the mpid (`allow_access_mpid`) and the audiences' shared user attributes
    ///   (`allow_audience_user_attributes`, for `$FirstName`, `$Mobile`, ...).
    /// - Account settings: the Connection Settings of mParticle's LiveRamp integration
    ///   (Username, Password, SFTP URL, SFTP Port, Encrypt this file, Send Device IDs to
    ///   LiveRamp, Send PII to LiveRamp) and the `apiKey` mParticle authenticates with; their
    ///   IDs are in [`setting_ids`].
    /// - Data subject requests: `erasure`, the only type mParticle's registration schema
    ///   allows (access and portability requests are still read if they come); mParticle
    ///   states the regulation, GDPR or CCPA, in each request, the registration has no field
    ///   for it. With the `apiKey` setting.
    pub fn liveramp(version: &str) -> Registration {
        let raw = |kind: &str| IdentityPermission::new(kind, Encoding::Raw, false);
        let api_key = Setting::text(
            setting_ids::API_KEY,
            "API Key",
            "The secret mParticle sends with every message so that the integration knows it \
             comes from mParticle. Use the key the integration's operator gave you.",
        )
        .required()
        .confidential();
        Registration {
            name: "LiveRamp".to_owned(),
            description: "Pushes real-time audiences to LiveRamp: every night at 12am US \
                          Eastern, each connected audience is uploaded over SFTP as LiveRamp's \
                          Device ID and PII files, optionally PGP-encrypted to LiveRamp's key."
                .to_owned(),
            version: version.to_owned(),
            permissions: Permissions {
                device_identities: vec![raw("ios_advertising_id"), raw("google_advertising_id")],
                user_identities: vec![
                    raw("email"),
                    raw("mobile_number"),
                    raw("phone_number_2"),
                    raw("phone_number_3"),
                ],
                partner_identities: Vec::new(),
                allow_access_mpid: true,
                allow_audience_user_attributes: true,
            },
            audience_processing_registration: Some(AudienceProcessingRegistration {
                account_settings: vec![
                    Setting::text(
                        setting_ids::USERNAME,
                        "Username",
                        "Username for logging into the SFTP destination.",
                    )
                    .required(),
                    Setting::text(
                        setting_ids::PASSWORD,
                        "Password",
                        "Password for logging into the SFTP destination.",
                    )
                    .required()
                    .confidential(),
                    Setting::text(setting_ids::SFTP_URL, "SFTP URL", "SFTP URL.").required(),
                    Setting::text(setting_ids::SFTP_PORT, "SFTP Port", "SFTP Port."),
                    Setting::boolean(
                        setting_ids::ENCRYPT_FILE,
                        "Encrypt this file",
                        "If enabled, all files sent to LiveRamp will be GPG/PGP-encrypted using \
                         LiveRamp's public key and will be automatically decrypted when \
                         automated ingestion is set up within LiveRamp. Even if this option is \
                         not selected, the data will be securely transmitted using the SFTP \
                         protocol.",
                        false,
                    ),
                    Setting::boolean(
                        setting_ids::SEND_DEVICE_IDS,
                        "Send Device IDs to LiveRamp",
                        "If enabled, mParticle will send all Device IDs to LiveRamp.",
                        false,
                    ),
                    Setting::boolean(
                        setting_ids::SEND_PII,
                        "Send PII to LiveRamp",
                        "If enabled, mParticle will send PII values the user selects to \
                         LiveRamp.",
                        false,
                    ),
                    api_key.clone(),
                ],
                audience_subscription_settings: Vec::new(),
                bulk_configuration: None,
            }),
            dsr_processing_registration: Some(DsrProcessingRegistration {
                account_settings: vec![api_key],
                // mParticle's schema (SDK 3.3, `DsrProcessingRegistration`) allows only
                // `erasure` here; access and portability requests are still read, recorded and
                // answered if they arrive.
                supported_dsr_types: vec![SubjectRequestType::Erasure],
                domain: None,
            }),
        }
    }
}

/// What the integration may see of each user.
///
/// Like mParticle's SDK, the JSON leaves out empty identity lists and `false` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Permissions {
    /// Device identities asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_identities: Vec<IdentityPermission>,
    /// User identities asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_identities: Vec<IdentityPermission>,
    /// Partner identities asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partner_identities: Vec<IdentityPermission>,
    /// Receive each user's mpid.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_access_mpid: bool,
    /// Receive the audiences' shared user attributes.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_audience_user_attributes: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

/// One identity asked for: `{"type": "email", "encoding": "raw", "required": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityPermission {
    /// The identity type (`email`, `ios_advertising_id`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The encoding wanted: `raw` to normalise and hash it here.
    pub encoding: Encoding,
    /// `true`: users without this identity are not sent at all.
    pub required: bool,
}

impl IdentityPermission {
    /// An identity permission.
    pub fn new(kind: impl Into<String>, encoding: Encoding, required: bool) -> Self {
        IdentityPermission {
            kind: kind.into(),
            encoding,
            required,
        }
    }
}

/// How the integration receives audiences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AudienceProcessingRegistration {
    /// The settings of the account's configuration (sent back in every message's
    /// `account.account_settings`).
    pub account_settings: Vec<Setting>,
    /// The settings of each audience's connection (left out of the JSON when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audience_subscription_settings: Vec<Setting>,
    /// How many messages or minutes mParticle gathers before sending (left out when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_configuration: Option<BulkConfiguration>,
}

/// How mParticle batches audience messages for the integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BulkConfiguration {
    /// Send once this many messages are waiting.
    pub bulk_forward_wait_for_messages: u32,
    /// Send at least every this many minutes.
    pub bulk_forward_wait_in_minutes: u32,
}

/// How the integration receives data subject requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DsrProcessingRegistration {
    /// The settings of the DSR configuration (left out of the JSON when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub account_settings: Vec<Setting>,
    /// The request types fulfilled.
    pub supported_dsr_types: Vec<SubjectRequestType>,
    /// The integration's domain, if it declares one (left out when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// One setting the customer fills in in mParticle.
///
/// Written as `{"type", "id", "name", "description", "visible", "required", "confidential",
/// "default_value"}` (`default_value` only when set); a boolean setting also writes
/// `checked`, its default, as mParticle's SDK does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The kind of value.
    pub kind: SettingType,
    /// The ID the value is sent under in `account_settings` (see [`setting_ids`]).
    pub id: String,
    /// The label mParticle shows.
    pub name: String,
    /// The help text mParticle shows.
    pub description: String,
    /// Whether mParticle shows it.
    pub visible: bool,
    /// Whether the customer must fill it in.
    pub required: bool,
    /// Whether mParticle masks it (passwords, keys).
    pub confidential: bool,
    /// The value it starts with, if any.
    pub default_value: Option<DefaultValue>,
}

impl Setting {
    /// A visible, optional, not confidential text setting with no default.
    pub fn text(id: &str, name: &str, description: &str) -> Setting {
        Setting {
            kind: SettingType::Text,
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            visible: true,
            required: false,
            confidential: false,
            default_value: None,
        }
    }

    /// A visible, optional boolean setting that starts as `default`.
    pub fn boolean(id: &str, name: &str, description: &str, default: bool) -> Setting {
        Setting {
            kind: SettingType::Boolean,
            default_value: Some(DefaultValue::Bool(default)),
            ..Setting::text(id, name, description)
        }
    }

    /// The same setting, required.
    #[must_use]
    pub fn required(mut self) -> Setting {
        self.required = true;
        self
    }

    /// The same setting, confidential (masked in mParticle).
    #[must_use]
    pub fn confidential(mut self) -> Setting {
        self.confidential = true;
        self
    }
}

/// The kind of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SettingType {
    /// `text`.
    Text,
    /// `integer`.
    Integer,
    /// `float`.
    Float,
    /// `boolean`.
    Boolean,
}

impl SettingType {
    /// The type as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingType::Text => "text",
            SettingType::Integer => "integer",
            SettingType::Float => "float",
            SettingType::Boolean => "boolean",
        }
    }
}

/// A setting's default value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultValue {
    /// A text default (a JSON string).
    Text(String),
    /// A boolean default (a JSON boolean).
    Bool(bool),
    /// An integer default (a JSON number).
    Integer(i64),
}

impl Serialize for Setting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind.as_str())?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("description", &self.description)?;
        map.serialize_entry("visible", &self.visible)?;
        map.serialize_entry("required", &self.required)?;
        map.serialize_entry("confidential", &self.confidential)?;
        match &self.default_value {
            None => {}
            Some(DefaultValue::Text(text)) => map.serialize_entry("default_value", text)?,
            Some(DefaultValue::Integer(n)) => map.serialize_entry("default_value", n)?,
            Some(DefaultValue::Bool(b)) => map.serialize_entry("default_value", b)?,
        }
        if self.kind == SettingType::Boolean {
            let checked = matches!(self.default_value, Some(DefaultValue::Bool(true)));
            map.serialize_entry("checked", &checked)?;
        }
        map.end()
    }
}
