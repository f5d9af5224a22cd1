//! `dsr_processing_request` (Firehose 3.3): a data subject request (GDPR / CCPA) to fulfil.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::{Deserializer, MapAccess};

use crate::de::{
    Accept, Key, Keyword, Parse, Trail, any, field, fields, next_key, parse_keyword, required, skip,
};
use crate::membership::{Encoding, serialize_as_str};
use crate::message::Envelope;

/// A data subject request: erase (or report) everything held about the identities given.
///
/// `subject_request_id` and `subject_request_type` are required; the rest is optional.
#[derive(Debug, Clone, PartialEq)]
pub struct DsrProcessingRequest {
    /// `type`, `id`, `timestamp_ms`, `firehose_version`, `account`.
    pub envelope: Envelope,
    /// mParticle's ID of the data subject request (a UUID), the same on every retry.
    pub subject_request_id: String,
    /// What the data subject asked for.
    pub subject_request_type: SubjectRequestType,
    /// The regulation the request is made under, if given.
    pub regulation: Option<Regulation>,
    /// When the request was submitted, in seconds since the Unix epoch with a fraction
    /// (`1740083302.8891099`), if given.
    pub submitted_time: Option<f64>,
    /// The `OpenDSR` API version of the request (`"3.0"`), if given.
    pub api_version: Option<String>,
    /// The identities of the data subject, keyed by identity type (`email`,
    /// `android_advertising_id`, `ios_advertising_id`, `customer_id`, `mobile_number`, ...;
    /// kept as given). Empty if absent.
    pub subject_identities: BTreeMap<String, DsrIdentity>,
}

/// One identity of a data subject: `{"encoding": "raw", "value": "jane@example.com"}`.
///
/// `value` is required; an absent or `null` `encoding` is [`Encoding::Raw`], an unknown one is
/// [`Encoding::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DsrIdentity {
    /// How `value` is encoded.
    pub encoding: Encoding,
    /// The value.
    pub value: String,
}

/// What a data subject asked for (`OpenDSR`'s request types).
///
/// mParticle's SDK 3.3 sends `erasure` only; `access` and `portability` are `OpenDSR`'s other
/// two types, read so that a later mParticle version does not fail here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectRequestType {
    /// `erasure`: delete everything about the subject.
    Erasure,
    /// `access`: report what is held about the subject.
    Access,
    /// `portability`: hand over the subject's data in a portable form.
    Portability,
}

impl SubjectRequestType {
    /// The keyword as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectRequestType::Erasure => "erasure",
            SubjectRequestType::Access => "access",
            SubjectRequestType::Portability => "portability",
        }
    }
}

impl Keyword for SubjectRequestType {
    const EXPECTED: &'static str = "erasure, access or portability";
    fn from_keyword(name: &str) -> Option<Self> {
        match name {
            "erasure" => Some(SubjectRequestType::Erasure),
            "access" => Some(SubjectRequestType::Access),
            "portability" => Some(SubjectRequestType::Portability),
            _ => None,
        }
    }
}

/// The regulation a data subject request is made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Regulation {
    /// `gdpr`: the EU's General Data Protection Regulation.
    Gdpr,
    /// `ccpa`: the California Consumer Privacy Act.
    Ccpa,
    /// `unknown`: mParticle's SDK defines this value for a request of no stated regulation;
    /// it is read rather than refused, so such an erasure is still fulfilled.
    Unknown,
}

impl Regulation {
    /// The keyword as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Regulation::Gdpr => "gdpr",
            Regulation::Ccpa => "ccpa",
            Regulation::Unknown => "unknown",
        }
    }
}

impl Keyword for Regulation {
    const EXPECTED: &'static str = "gdpr, ccpa or unknown";
    fn from_keyword(name: &str) -> Option<Self> {
        match name {
            "gdpr" => Some(Regulation::Gdpr),
            "ccpa" => Some(Regulation::Ccpa),
            "unknown" => Some(Regulation::Unknown),
            _ => None,
        }
    }
}

parse_keyword!(SubjectRequestType, Regulation);
serialize_as_str!(SubjectRequestType, Regulation);

fields!(DsrIdentityField {
    Encoding = "encoding",
    Value = "value",
});

impl<'de> Parse<'de> for DsrIdentity {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = DsrIdentity;
            const EXPECTED: &'static str = "a subject identity (an object)";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<DsrIdentity, A::Error> {
                let t = self.0;
                let mut encoding: Option<Option<Encoding>> = None;
                let mut value: Option<String> = None;
                while let Some(key) = next_key(&mut map)? {
                    match key {
                        Key::Known(f @ DsrIdentityField::Encoding) => {
                            field(&mut map, t, &mut encoding, f)?;
                        }
                        Key::Known(f @ DsrIdentityField::Value) => {
                            field(&mut map, t, &mut value, f)?;
                        }
                        Key::Other(name) => skip(&mut map, t, &name)?,
                    }
                }
                Ok(DsrIdentity {
                    encoding: encoding.flatten().unwrap_or_default(),
                    value: required(value, t, DsrIdentityField::Value)?,
                })
            }
        }
        any(deserializer, Object(trail))
    }
}

/// `subject_identities`: an object of identities keyed by type (a `null` identity is absent).
pub(crate) struct SubjectIdentities(pub(crate) BTreeMap<String, DsrIdentity>);

impl<'de> Parse<'de> for SubjectIdentities {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = SubjectIdentities;
            const EXPECTED: &'static str = "an object of subject identities";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<SubjectIdentities, A::Error> {
                let t = self.0;
                let mut identities = BTreeMap::new();
                while let Some(kind) = map.next_key::<String>()? {
                    let seed = crate::de::Seed::<Option<DsrIdentity>>::new(t);
                    match t.at_key(&kind, map.next_value_seed(seed))? {
                        Some(identity) => identities.insert(kind, identity),
                        None => identities.remove(&kind),
                    };
                }
                Ok(SubjectIdentities(identities))
            }
        }
        any(deserializer, Object(trail))
    }
}
