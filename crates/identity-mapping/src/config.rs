//! What to send: the mapping settings of one LiveRamp connection.

use std::fmt;

use liveramp_pii_normalize::HashAlgorithm;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// The mapping settings of one LiveRamp connection (serde, with defaults that match
/// mParticle's LiveRamp integration).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `send_device_ids` | `["IDFA", "AAID"]` | device-ID types to send; `[]` (or `false`) sends none, `true` is the default list |
/// | `device_id_header`, `device_type_header` | `DEVICE_ID`, `ID_TYPE` | the two headers of the device file |
/// | `send_pii` | [`MappingConfig::DEFAULT_PII_COLUMNS`] | the ordered PII column tokens; `[]` (or `false`) sends no PII, `true` is the default list |
/// | `custom_columns` | `[]` | extra columns from an identity, user attribute or calculated attribute |
/// | `hash_emails_and_phones` | `false` | write hashes instead of raw emails and phones |
/// | `email_hashes` | `["md5", "sha1", "sha256"]` | what an `EMAIL` token expands to when hashing is on |
/// | `phone_hashes` | `["sha1"]` | what a `PHONE` token expands to when hashing is on (LiveRamp accepts only SHA-1) |
/// | `email_columns` | `1` | `n` of `EMAIL1..EMAILn` (1 to 10) |
/// | `phone_columns` | `2` | `n` of `PHONE1..PHONEn` (1 to 10) |
/// | `emails_from_other_identities` | `false` | also take emails from `other` identities that parse as emails |
///
/// Column tokens (case-insensitive) and the headers they expand to, in this order:
/// `FIRSTNAME`, `LASTNAME`, `ADDRESS1`, `CITY`, `STATE`, `ZIP`, `COUNTRY` (one column each);
/// `EMAIL` -> `EMAIL1`..`EMAILn`; `EMAIL_MD5`, `EMAIL_SHA1`, `EMAIL_SHA256` ->
/// `EMAIL1_MD5`.., `EMAIL1_SHA-1`.., `EMAIL1_SHA-256`..; `PHONE`, `PHONE_MD5`, `PHONE_SHA1`,
/// `PHONE_SHA256` likewise. With `hash_emails_and_phones` on, `EMAIL` stands for the tokens of
/// `email_hashes` in their order (so with `n` = 2 and the defaults: `EMAIL1_MD5, EMAIL2_MD5,
/// EMAIL1_SHA-1, EMAIL2_SHA-1, EMAIL1_SHA-256, EMAIL2_SHA-256`) and `PHONE` for those of
/// `phone_hashes`. A token equal to the header of a custom column places that column; custom
/// columns not placed this way follow the listed tokens, in their order.
///
/// ```
/// use liveramp_identity_mapping::{Mapper, MappingConfig};
/// let config: MappingConfig = serde_json::from_str(
///     r#"{"send_pii": ["FIRSTNAME", "EMAIL", "PHONE"], "hash_emails_and_phones": true}"#,
/// )?;
/// let mapper = Mapper::new(config)?;
/// assert_eq!(
///     mapper.pii_headers().join(","),
///     "FIRSTNAME,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,PHONE1_SHA-1,PHONE2_SHA-1"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MappingConfig {
    /// The device-ID types to send (an empty list sends no device file).
    #[serde(deserialize_with = "de_device_selection")]
    pub send_device_ids: Vec<DeviceIdType>,
    /// Header of the device ID column (`DEVICE_ID`).
    pub device_id_header: String,
    /// Header of the device ID type column (`ID_TYPE`).
    pub device_type_header: String,
    /// The PII column tokens, in order (an empty list sends no PII file).
    #[serde(deserialize_with = "de_pii_selection")]
    pub send_pii: Vec<String>,
    /// Custom columns: a header and where its value comes from.
    pub custom_columns: Vec<CustomColumn>,
    /// "Hash email and phone values": when on, raw email and phone columns are not written,
    /// only hash columns.
    pub hash_emails_and_phones: bool,
    /// The email hash columns an `EMAIL` token expands to when hashing is on.
    #[serde(with = "hash_list")]
    pub email_hashes: Vec<HashAlgorithm>,
    /// The phone hash columns a `PHONE` token expands to when hashing is on.
    #[serde(with = "hash_list")]
    pub phone_hashes: Vec<HashAlgorithm>,
    /// How many emails a row carries (`EMAIL1..EMAILn`).
    pub email_columns: usize,
    /// How many phones a row carries (`PHONE1..PHONEn`).
    pub phone_columns: usize,
    /// Also take emails from `other` user identities whose value parses as an email.
    pub emails_from_other_identities: bool,
}

impl MappingConfig {
    /// The PII columns of mParticle's integration, in the order its documentation lists them:
    /// first name, last name, email, city, state, ZIP, country, phones.
    pub const DEFAULT_PII_COLUMNS: [&'static str; 8] = [
        "FIRSTNAME",
        "LASTNAME",
        "EMAIL",
        "CITY",
        "STATE",
        "ZIP",
        "COUNTRY",
        "PHONE",
    ];

    /// The largest `email_columns` / `phone_columns` accepted.
    pub const MAX_SLOTS: usize = 10;
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            send_device_ids: DeviceIdType::ALL.to_vec(),
            device_id_header: "DEVICE_ID".to_owned(),
            device_type_header: "ID_TYPE".to_owned(),
            send_pii: default_pii(),
            custom_columns: Vec::new(),
            hash_emails_and_phones: false,
            email_hashes: HashAlgorithm::ALL.to_vec(),
            phone_hashes: vec![HashAlgorithm::Sha1],
            email_columns: 1,
            phone_columns: 2,
            emails_from_other_identities: false,
        }
    }
}

fn default_pii() -> Vec<String> {
    MappingConfig::DEFAULT_PII_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// A mobile advertising ID type LiveRamp accepts in a device file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceIdType {
    /// Apple's IDFA, from the `ios_advertising_id` device identity.
    Idfa,
    /// Google's advertising ID, from `google_advertising_id` (alias `android_advertising_id`).
    Aaid,
}

impl DeviceIdType {
    /// Both types, IDFA first.
    pub const ALL: [DeviceIdType; 2] = [DeviceIdType::Idfa, DeviceIdType::Aaid];

    /// The value of the `ID_TYPE` column: `IDFA` or `AAID`.
    pub fn as_str(self) -> &'static str {
        DEVICE_ID_TYPES[self as usize].id_type_value
    }

    /// Reads `IDFA`/`AAID` (any case) or the mParticle identity type names
    /// (`ios_advertising_id`, `google_advertising_id`, `android_advertising_id`; any case),
    /// ignoring surrounding whitespace.
    pub fn from_name(name: &str) -> Option<DeviceIdType> {
        let n = name.trim();
        DEVICE_ID_TYPES
            .iter()
            .find(|row| {
                n.eq_ignore_ascii_case(row.id_type_value)
                    || row
                        .identities
                        .iter()
                        .any(|identity| n.eq_ignore_ascii_case(identity.name))
            })
            .map(|row| row.id_type)
    }

    /// The type of an mParticle device identity (its `type`, any case, not trimmed) and the
    /// field its rejections name; `None` for identities that are not sent as device IDs.
    pub(crate) fn from_identity(kind: &str) -> Option<(DeviceIdType, &'static str)> {
        DEVICE_ID_TYPES.iter().find_map(|row| {
            row.identities
                .iter()
                .find(|identity| kind.eq_ignore_ascii_case(identity.name))
                .map(|identity| (row.id_type, identity.field))
        })
    }
}

/// One device-ID type: where mParticle profiles carry it and what the device file calls it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceIdTypeRow {
    /// The type; row `i` of [`DEVICE_ID_TYPES`] is the variant with discriminant `i`.
    pub(crate) id_type: DeviceIdType,
    /// The `ID_TYPE` column value ([`DeviceIdType::as_str`]), also accepted by
    /// [`DeviceIdType::from_name`].
    pub(crate) id_type_value: &'static str,
    /// The mParticle device identity types it is read from, matched ignoring ASCII case, in
    /// the order they are tried; the first is the one error messages name.
    pub(crate) identities: &'static [DeviceIdentityName],
}

/// An mParticle device identity type and the field rejections of its values name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceIdentityName {
    /// The identity's `type`, such as `ios_advertising_id`.
    pub(crate) name: &'static str,
    /// `device_identities.{name}`.
    pub(crate) field: &'static str,
}

/// The device-ID types, in [`DeviceIdType`] order: the one table behind
/// [`DeviceIdType::as_str`], [`DeviceIdType::from_name`], [`DeviceIdType::from_identity`] and
/// the message for an unknown name.
pub(crate) const DEVICE_ID_TYPES: &[DeviceIdTypeRow] = &[
    DeviceIdTypeRow {
        id_type: DeviceIdType::Idfa,
        id_type_value: "IDFA",
        identities: &[DeviceIdentityName {
            name: "ios_advertising_id",
            field: "device_identities.ios_advertising_id",
        }],
    },
    DeviceIdTypeRow {
        id_type: DeviceIdType::Aaid,
        id_type_value: "AAID",
        identities: &[
            DeviceIdentityName {
                name: "google_advertising_id",
                field: "device_identities.google_advertising_id",
            },
            DeviceIdentityName {
                name: "android_advertising_id",
                field: "device_identities.android_advertising_id",
            },
        ],
    },
];

// Row `i` is the variant with discriminant `i`, and there is a row for every variant of
// `DeviceIdType::ALL`, so `as_str` can index the table.
const _: () = {
    assert!(DEVICE_ID_TYPES.len() == DeviceIdType::ALL.len());
    let mut i = 0;
    while i < DEVICE_ID_TYPES.len() {
        assert!(DEVICE_ID_TYPES[i].id_type as usize == i);
        assert!(DeviceIdType::ALL[i] as usize == i);
        assert!(!DEVICE_ID_TYPES[i].identities.is_empty());
        i += 1;
    }
};

/// The valid names for an error message: `IDFA (ios_advertising_id) or AAID
/// (google_advertising_id)`.
struct DeviceIdTypeNames;

impl fmt::Display for DeviceIdTypeNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, row) in DEVICE_ID_TYPES.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == DEVICE_ID_TYPES.len() {
                    " or "
                } else {
                    ", "
                })?;
            }
            write!(f, "{}", row.id_type_value)?;
            if let Some(identity) = row.identities.first() {
                write!(f, " ({})", identity.name)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for DeviceIdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DeviceIdType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeviceIdType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        DeviceIdType::from_name(&name).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown device ID type {name:?}: use {DeviceIdTypeNames}"
            ))
        })
    }
}

/// A custom PII column: a header and where its value comes from. Its value is written as given
/// (trimmed), not normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomColumn {
    /// The header (upper-case letters, digits, `_` and `-`; at most 128 characters).
    pub header: String,
    /// Where the value comes from.
    pub source: ColumnSource,
}

impl CustomColumn {
    /// A custom column.
    pub fn new(header: impl Into<String>, source: ColumnSource) -> CustomColumn {
        CustomColumn {
            header: header.into(),
            source,
        }
    }
}

/// Where a custom column's value comes from. In JSON: `{"identity": "customer_id"}`,
/// `{"user_attribute": "loyalty_tier"}` or `{"calculated_attribute": "lifetime_value"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnSource {
    /// The first non-empty identity of this type (user identities, then device identities).
    Identity(String),
    /// A user attribute.
    UserAttribute(String),
    /// A calculated attribute.
    CalculatedAttribute(String),
}

/// `true` (the default list), `false` (none) or a list.
enum Selection<T> {
    All,
    None,
    List(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Selection<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Selection<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or a list")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Selection<T>, E> {
                Ok(if v { Selection::All } else { Selection::None })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Selection<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Selection::List(items))
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

fn de_device_selection<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<DeviceIdType>, D::Error> {
    Ok(match Selection::deserialize(deserializer)? {
        Selection::All => DeviceIdType::ALL.to_vec(),
        Selection::None => Vec::new(),
        Selection::List(list) => list,
    })
}

fn de_pii_selection<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Selection::deserialize(deserializer)? {
        Selection::All => default_pii(),
        Selection::None => Vec::new(),
        Selection::List(list) => list,
    })
}

/// Serde for a list of hash algorithms written `md5`, `sha1`, `sha256`.
mod hash_list {
    use super::{HashAlgorithm, SerializeSeq, Serializer};
    use serde::de::{self, Deserialize, Deserializer};

    pub(super) fn serialize<S: Serializer>(
        list: &[HashAlgorithm],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for algorithm in list {
            seq.serialize_element(algorithm.as_str())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<HashAlgorithm>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|name| {
                name.parse::<HashAlgorithm>().map_err(|_| {
                    de::Error::custom(format!(
                        "unknown hash algorithm {name:?}: use md5, sha1 or sha256"
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_seed() {
        let c = MappingConfig::default();
        assert_eq!(c.send_device_ids, [DeviceIdType::Idfa, DeviceIdType::Aaid]);
        assert_eq!(
            c.send_pii,
            [
                "FIRSTNAME",
                "LASTNAME",
                "EMAIL",
                "CITY",
                "STATE",
                "ZIP",
                "COUNTRY",
                "PHONE"
            ]
        );
        assert!(!c.hash_emails_and_phones);
        assert_eq!(
            c.email_hashes,
            [
                HashAlgorithm::Md5,
                HashAlgorithm::Sha1,
                HashAlgorithm::Sha256
            ]
        );
        assert_eq!(c.phone_hashes, [HashAlgorithm::Sha1]);
        assert_eq!((c.email_columns, c.phone_columns), (1, 2));
        assert_eq!(serde_json::from_str::<MappingConfig>("{}").unwrap(), c);
    }

    #[test]
    fn serde_forms() {
        let c: MappingConfig = serde_json::from_str(
            r#"{"send_device_ids": ["aaid", "ios_advertising_id"], "send_pii": false,
                "email_hashes": ["SHA-256", "md5"], "phone_hashes": ["sha1", "sha256"],
                "custom_columns": [
                  {"header": "CUSTOMER_ID", "source": {"identity": "customer_id"}},
                  {"header": "TIER", "source": {"user_attribute": "loyalty_tier"}},
                  {"header": "LTV", "source": {"calculated_attribute": "lifetime_value"}}]}"#,
        )
        .unwrap();
        assert_eq!(c.send_device_ids, [DeviceIdType::Aaid, DeviceIdType::Idfa]);
        assert!(c.send_pii.is_empty());
        assert_eq!(c.email_hashes, [HashAlgorithm::Sha256, HashAlgorithm::Md5]);
        assert_eq!(c.phone_hashes, [HashAlgorithm::Sha1, HashAlgorithm::Sha256]);
        assert_eq!(
            c.custom_columns[2],
            CustomColumn::new(
                "LTV",
                ColumnSource::CalculatedAttribute("lifetime_value".into())
            )
        );
        let back: MappingConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);

        let c: MappingConfig =
            serde_json::from_str(r#"{"send_device_ids": false, "send_pii": true}"#).unwrap();
        assert!(c.send_device_ids.is_empty());
        assert_eq!(c.send_pii, MappingConfig::default().send_pii);
    }

    #[test]
    fn device_id_type_names() {
        for (name, expected) in [
            ("IDFA", Some(DeviceIdType::Idfa)),
            (" idfa ", Some(DeviceIdType::Idfa)),
            ("ios_advertising_id", Some(DeviceIdType::Idfa)),
            ("IOS_Advertising_ID\t", Some(DeviceIdType::Idfa)),
            ("aaid", Some(DeviceIdType::Aaid)),
            ("google_advertising_id", Some(DeviceIdType::Aaid)),
            ("Android_Advertising_Id", Some(DeviceIdType::Aaid)),
            ("IDFV", None),
            ("ios advertising id", None),
            ("", None),
        ] {
            assert_eq!(DeviceIdType::from_name(name), expected, "{name:?}");
        }
        for t in DeviceIdType::ALL {
            assert_eq!(DeviceIdType::from_name(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(
            DeviceIdType::ALL.map(DeviceIdType::as_str),
            ["IDFA", "AAID"]
        );
    }

    #[test]
    fn device_identity_types() {
        for (kind, expected) in [
            (
                "ios_advertising_id",
                Some((DeviceIdType::Idfa, "device_identities.ios_advertising_id")),
            ),
            (
                "IOS_ADVERTISING_ID",
                Some((DeviceIdType::Idfa, "device_identities.ios_advertising_id")),
            ),
            (
                "Google_Advertising_ID",
                Some((
                    DeviceIdType::Aaid,
                    "device_identities.google_advertising_id",
                )),
            ),
            (
                "android_advertising_id",
                Some((
                    DeviceIdType::Aaid,
                    "device_identities.android_advertising_id",
                )),
            ),
            // The ID_TYPE values and padded names are not identity types.
            ("IDFA", None),
            ("AAID", None),
            (" ios_advertising_id", None),
            ("roku_advertising_id", None),
        ] {
            assert_eq!(DeviceIdType::from_identity(kind), expected, "{kind:?}");
        }
        for row in DEVICE_ID_TYPES {
            for identity in row.identities {
                assert_eq!(
                    identity.field,
                    format!("device_identities.{}", identity.name)
                );
            }
        }
    }

    #[test]
    fn serde_rejects_mistakes() {
        for (json, needle) in [
            (
                r#"{"send_device_ids": ["IDFV"]}"#,
                "unknown device ID type \"IDFV\": use IDFA (ios_advertising_id) or AAID \
                 (google_advertising_id)",
            ),
            (r#"{"email_hashes": ["sha512"]}"#, "unknown hash algorithm"),
            (r#"{"hash_emails": true}"#, "unknown field"),
        ] {
            let e = serde_json::from_str::<MappingConfig>(json).unwrap_err();
            assert!(e.to_string().contains(needle), "{json}: {e}");
        }
    }
}
