//! [`Profile::parse_into`]'s fast way: the common shape of a profile line, read into the
//! buffers of an existing [`Profile`].
//!
//! It accepts a strict subset of what the derived `Deserialize` accepts (an object for the
//! profile and for each identity, each known field at most once) and gives the same values;
//! anything else is an error here, and the caller then takes the general way, whose result
//! (or error) is the reference. So this module never decides what a line means on its own.

use std::fmt::{self, Write as _};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{AttributeValue, Attributes, Encoding, Identity, Profile};

/// Any error: the caller falls back to the general parse for the real one.
fn bail<T, E: de::Error>() -> Result<T, E> {
    Err(E::custom("not the common shape"))
}

/// Reads a profile object into the profile it holds.
pub(super) struct ProfileSeed<'a>(pub(super) &'a mut Profile);

enum TopField {
    Mpid,
    UserIdentities,
    DeviceIdentities,
    UserAttributes,
    CalculatedAttributes,
    Other,
}

struct TopFieldVisitor;

impl Visitor<'_> for TopFieldVisitor {
    type Value = TopField;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<TopField, E> {
        Ok(match v {
            "mpid" => TopField::Mpid,
            "user_identities" => TopField::UserIdentities,
            "device_identities" => TopField::DeviceIdentities,
            "user_attributes" => TopField::UserAttributes,
            "calculated_attributes" => TopField::CalculatedAttributes,
            _ => TopField::Other,
        })
    }
}

impl<'de> Deserialize<'de> for TopField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(TopFieldVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for ProfileSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProfileSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a profile object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let p = self.0;
        let mut seen = [false; 5];
        let mut once = |i: usize| -> Result<(), A::Error> {
            if std::mem::replace(&mut seen[i], true) {
                bail()
            } else {
                Ok(())
            }
        };
        while let Some(field) = map.next_key::<TopField>()? {
            match field {
                TopField::Mpid => {
                    once(0)?;
                    let mut buffer = p.mpid.take().unwrap_or_default();
                    if map.next_value_seed(ScalarInto(&mut buffer))? {
                        p.mpid = Some(buffer);
                    }
                }
                TopField::UserIdentities => {
                    once(1)?;
                    map.next_value_seed(OrNull(IdentitiesInto(&mut p.user_identities)))?;
                }
                TopField::DeviceIdentities => {
                    once(2)?;
                    map.next_value_seed(OrNull(IdentitiesInto(&mut p.device_identities)))?;
                }
                TopField::UserAttributes => {
                    once(3)?;
                    map.next_value_seed(OrNull(AttributesInto(&mut p.user_attributes)))?;
                }
                TopField::CalculatedAttributes => {
                    once(4)?;
                    map.next_value_seed(OrNull(AttributesInto(&mut p.calculated_attributes)))?;
                }
                TopField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // Absent fields are empty (the struct's `#[serde(default)]`).
        if !seen[0] {
            p.mpid = None;
        }
        if !seen[1] {
            p.user_identities.clear();
        }
        if !seen[2] {
            p.device_identities.clear();
        }
        if !seen[3] {
            p.user_attributes.0.clear();
        }
        if !seen[4] {
            p.calculated_attributes.0.clear();
        }
        Ok(())
    }
}

/// Something that is cleared by `null` and otherwise read by a seed.
trait Fill<'de>: Sized {
    fn clear(self);
    fn fill<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error>;
}

/// `null` (empty, as `de_null_default`) or the value.
struct OrNull<T>(T);

impl<'de, T: Fill<'de>> DeserializeSeed<'de> for OrNull<T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Fill<'de>> Visitor<'de> for OrNull<T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.fill(deserializer)
    }
}

/// A list of identities, read into the vector's existing entries.
struct IdentitiesInto<'a>(&'a mut Vec<Identity>);

impl<'de> Fill<'de> for IdentitiesInto<'_> {
    fn clear(self) {
        self.0.clear();
    }
    fn fill<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for IdentitiesInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of identities")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let list = self.0;
        let mut n = 0;
        loop {
            if n == list.len() {
                list.push(Identity::default());
            }
            if seq.next_element_seed(IdentityInto(&mut list[n]))?.is_none() {
                break;
            }
            n += 1;
        }
        list.truncate(n);
        Ok(())
    }
}

enum IdentityField {
    Type,
    Encoding,
    Value,
    Other,
}

struct IdentityFieldVisitor;

impl Visitor<'_> for IdentityFieldVisitor {
    type Value = IdentityField;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<IdentityField, E> {
        Ok(match v {
            "type" => IdentityField::Type,
            "encoding" => IdentityField::Encoding,
            "value" => IdentityField::Value,
            _ => IdentityField::Other,
        })
    }
}

impl<'de> Deserialize<'de> for IdentityField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(IdentityFieldVisitor)
    }
}

/// One identity object, read into an existing identity.
struct IdentityInto<'a>(&'a mut Identity);

impl<'de> DeserializeSeed<'de> for IdentityInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdentityInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identity object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let identity = self.0;
        let mut seen = [false; 3];
        while let Some(field) = map.next_key::<IdentityField>()? {
            let i = match field {
                IdentityField::Type => 0,
                IdentityField::Encoding => 1,
                IdentityField::Value => 2,
                IdentityField::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[i], true) {
                return bail();
            }
            match i {
                0 => map.next_value_seed(StrInto(&mut identity.kind))?,
                1 => identity.encoding = map.next_value::<Encoding>()?,
                _ => {
                    if !map.next_value_seed(ScalarInto(&mut identity.value))? {
                        identity.value.clear();
                    }
                }
            }
        }
        if !seen[0] {
            // `type` is required: the general way reports it.
            return bail();
        }
        if !seen[1] {
            identity.encoding = Encoding::Raw;
        }
        if !seen[2] {
            identity.value.clear();
        }
        Ok(())
    }
}

/// A JSON string, written over a string.
struct StrInto<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for StrInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for StrInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

/// A string, a number (as its text) or `null` (as [`super::Scalar`]), written over a string;
/// gives whether it was not `null`.
struct ScalarInto<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for ScalarInto<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for ScalarInto<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(true)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.0.clear();
        let _ = write!(self.0, "{v}");
        Ok(true)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.0.clear();
        let _ = write!(self.0, "{v}");
        Ok(true)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        match AttributeValue::from(v).as_text() {
            Some(text) => {
                self.0.clear();
                self.0.push_str(text);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// An object of attributes, read into the existing entries.
struct AttributesInto<'a>(&'a mut Attributes);

impl<'de> Fill<'de> for AttributesInto<'_> {
    fn clear(self) {
        self.0.0.clear();
    }
    fn fill<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AttributesInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of attributes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let entries = &mut self.0.0;
        let mut n = 0;
        loop {
            if n == entries.len() {
                entries.push((String::new(), AttributeValue::Null));
            }
            let (name, value) = &mut entries[n];
            if map.next_key_seed(StrInto(name))?.is_none() {
                break;
            }
            map.next_value_seed(ValueInto(value))?;
            n += 1;
        }
        entries.truncate(n);
        Ok(())
    }
}

/// An attribute value (as [`AttributeValue`]'s `Deserialize`), written over an existing one.
struct ValueInto<'a>(&'a mut AttributeValue);

impl<'de> DeserializeSeed<'de> for ValueInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueInto<'_> {
    fn string(self, text: &str) {
        if let AttributeValue::String(s) = self.0 {
            s.clear();
            s.push_str(text);
        } else {
            *self.0 = AttributeValue::String(text.to_owned());
        }
    }

    fn number(self, args: fmt::Arguments<'_>) {
        if let AttributeValue::Number(s) = self.0 {
            s.clear();
            let _ = s.write_fmt(args);
        } else {
            *self.0 = AttributeValue::Number(args.to_string());
        }
    }
}

impl<'de> Visitor<'de> for ValueInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.string(v);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        *self.0 = AttributeValue::Bool(v);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(format_args!("{v}"));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(format_args!("{v}"));
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        *self.0 = AttributeValue::from(v);
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        *self.0 = AttributeValue::Null;
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        *self.0 = AttributeValue::Null;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        *self.0 = AttributeValue::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        *self.0 = AttributeValue::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(())
    }
}
