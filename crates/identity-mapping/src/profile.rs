//! The member profile: mParticle's profile JSON, one object per audience member.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::Error;

/// One audience member's profile, as mParticle exports it (one JSON object per member).
///
/// ```json
/// {"mpid": "8472017",
///  "user_identities": [{"type": "email", "encoding": "raw", "value": " Jane.Doe@Example.com"}],
///  "device_identities": [{"type": "ios_advertising_id", "value": "6d92078a-8246-4ba4-ae5b-76104861e7dc"}],
///  "user_attributes": {"$FirstName": "Jane", "$Zip": "10001", "loyalty_tier": "gold"},
///  "calculated_attributes": {"lifetime_value": 1234.5}}
/// ```
///
/// Every field may be absent or `null` (it is then empty); unknown fields are ignored; unknown
/// identity types and attributes are kept, so custom columns can use them. `mpid` may be a JSON
/// string or integer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// The mParticle ID of the member, if the export carries it.
    #[serde(deserialize_with = "de_mpid", skip_serializing_if = "Option::is_none")]
    pub mpid: Option<String>,
    /// Identities of the person: `email`, `mobile_number`, `customer_id`, `other`, ...
    #[serde(deserialize_with = "de_null_default")]
    pub user_identities: Vec<Identity>,
    /// Identities of the person's devices: `ios_advertising_id`, `google_advertising_id`, ...
    #[serde(deserialize_with = "de_null_default")]
    pub device_identities: Vec<Identity>,
    /// User attributes: the reserved `$FirstName`, `$LastName`, `$Address`, `$City`, `$State`,
    /// `$Zip`, `$Country`, `$Mobile`, ... and any custom attribute.
    #[serde(deserialize_with = "de_null_default")]
    pub user_attributes: Attributes,
    /// Calculated attributes (for example `lifetime_value`).
    #[serde(deserialize_with = "de_null_default")]
    pub calculated_attributes: Attributes,
}

impl Profile {
    /// Parses one line of an mParticle profile export (one JSON object).
    ///
    /// A line that is not a profile gives [`Error::InvalidProfile`], which names the problem
    /// and where it is; the caller can count it and go on with the next line.
    ///
    /// ```
    /// use liveramp_identity_mapping::Profile;
    /// let p = Profile::from_json_line(r#"{"mpid": 42, "user_attributes": {"$Zip": 10001}}"#)?;
    /// assert_eq!(p.mpid.as_deref(), Some("42"));
    /// assert_eq!(p.user_attributes.get("$Zip").and_then(|v| v.to_text()).as_deref(), Some("10001"));
    /// assert!(Profile::from_json_line("[1, 2]").is_err());
    /// # Ok::<(), liveramp_identity_mapping::Error>(())
    /// ```
    pub fn from_json_line(line: &str) -> Result<Profile, Error> {
        if line.trim().is_empty() {
            return Err(Error::InvalidProfile {
                problem: "the line is empty".to_owned(),
                column: 0,
            });
        }
        not_an_object(line.as_bytes())?;
        serde_json::from_str(line).map_err(|e| json_error(&e))
    }

    /// Like [`Profile::from_json_line`], for bytes that should be UTF-8 JSON.
    pub fn from_json_slice(line: &[u8]) -> Result<Profile, Error> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::InvalidProfile {
                problem: "the line is empty".to_owned(),
                column: 0,
            });
        }
        not_an_object(line)?;
        // One UTF-8 check of the whole line is much cheaper than serde_json's check of each
        // string; invalid UTF-8 goes the checking way, for its exact error and column.
        match std::str::from_utf8(line) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(line),
        }
        .map_err(|e| json_error(&e))
    }

    /// Parses one line like [`Profile::from_json_slice`] into `self`, reusing its strings and
    /// vectors (no allocation per member once the buffers have grown).
    ///
    /// The result, and the error for a line that is not a profile, are exactly those of
    /// [`Profile::from_json_slice`]; on an error `self` holds an unspecified profile.
    ///
    /// ```
    /// use liveramp_identity_mapping::Profile;
    /// let mut p = Profile::default();
    /// for line in [r#"{"mpid": 1, "user_attributes": {"$Zip": "10001"}}"#, r#"{"mpid": "2"}"#] {
    ///     p.parse_into(line.as_bytes())?;
    ///     assert_eq!(p, Profile::from_json_line(line)?);
    /// }
    /// assert!(p.parse_into(b"[1, 2]").is_err());
    /// # Ok::<(), liveramp_identity_mapping::Error>(())
    /// ```
    pub fn parse_into(&mut self, line: &[u8]) -> Result<(), Error> {
        // The fast way takes the common shape (an object of the known fields) into the reused
        // buffers; anything else (an error, or a shape serde also accepts, such as a struct
        // given as an array) goes the general way, for its exact result or error.
        if let Ok(text) = std::str::from_utf8(line) {
            let mut de = serde_json::Deserializer::from_str(text);
            if de::DeserializeSeed::deserialize(fast::ProfileSeed(self), &mut de).is_ok()
                && de.end().is_ok()
            {
                return Ok(());
            }
        }
        *self = Profile::from_json_slice(line)?;
        Ok(())
    }

    /// The profile as one line of JSON (the inverse of [`Profile::from_json_line`]).
    pub fn to_json_line(&self) -> String {
        // Serialising plain strings, numbers and booleans cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::from_json_line(s)
    }
}

/// Refuses a line whose JSON value is not an object: serde would read a profile from an array
/// (`[]` is a profile with every field absent), but a line of the export is one object.
/// Text that is not JSON at all is left to serde_json, for its exact error.
fn not_an_object(line: &[u8]) -> Result<(), Error> {
    let Some(at) = line.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(());
    };
    // `{` (an object) and text that is not JSON go on to serde_json.
    let kind = match line[at] {
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' if line[at..].starts_with(b"true") || line[at..].starts_with(b"false") => {
            "a boolean"
        }
        b'n' if line[at..].starts_with(b"null") => "null",
        _ => return Ok(()),
    };
    Err(Error::InvalidProfile {
        problem: format!("the line is not a JSON object (it is {kind})"),
        column: at + 1,
    })
}

fn json_error(e: &serde_json::Error) -> Error {
    // serde_json's message ends with " at line L column C"; keep the problem, report the column.
    let message = e.to_string();
    let problem = message
        .rfind(" at line ")
        .map_or(message.as_str(), |at| &message[..at]);
    Error::InvalidProfile {
        problem: without_values(problem),
        column: e.column(),
    }
}

/// serde's message without the JSON value it quotes: "invalid type: string
/// \"jane@example.com\", expected a sequence" would put a member's email or phone into a
/// report or a log; the value is withheld, the rest (what was expected, where) is kept.
fn without_values(problem: &str) -> String {
    if [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
    ]
    .iter()
    .any(|p| problem.starts_with(p))
        && let Some(start) = problem.find(['"', '`'])
    {
        let end = problem.rfind(", expected").filter(|&end| end > start);
        format!(
            "{}(value withheld){}",
            &problem[..start],
            end.map_or("", |end| &problem[end..])
        )
    } else {
        problem.to_owned()
    }
}

/// One identity of a member: its type, how it is encoded and its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity type as mParticle names it (`email`, `mobile_number`,
    /// `ios_advertising_id`, ...). Unknown types are kept as they are.
    #[serde(rename = "type")]
    pub kind: String,
    /// `raw` (the default) or the algorithm the sender hashed the normalised value with.
    #[serde(default)]
    pub encoding: Encoding,
    /// The value (a JSON string, number or `null`; `null` is the empty string).
    #[serde(default, deserialize_with = "de_identity_value")]
    pub value: String,
}

impl Identity {
    /// A raw (unhashed) identity.
    pub fn raw(kind: impl Into<String>, value: impl Into<String>) -> Identity {
        Identity {
            kind: kind.into(),
            encoding: Encoding::Raw,
            value: value.into(),
        }
    }
}

/// How an identity value is encoded.
///
/// A hashed identity was normalised and hashed by the sender: it can only feed the hash column of
/// its own algorithm. An encoding this crate does not know is kept as [`Encoding::Other`] (the
/// mapping then rejects that one identity, not the whole profile).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// The value as the person entered it (`raw`, the default when `encoding` is absent).
    #[default]
    Raw,
    /// Lowercase-hex MD5 of the normalised value (`md5`).
    Md5,
    /// Lowercase-hex SHA-1 of the normalised value (`sha1`, also `sha-1`).
    Sha1,
    /// Lowercase-hex SHA-256 of the normalised value (`sha256`, also `sha-256`).
    Sha256,
    /// Any other encoding name, kept as given.
    Other(String),
}

impl Encoding {
    /// Reads an encoding name: `raw`, `md5`, `sha1`/`sha-1`, `sha256`/`sha-256` in any case
    /// (an empty name is `raw`); anything else is [`Encoding::Other`].
    pub fn from_name(name: &str) -> Encoding {
        let n = name.trim();
        if n.is_empty() || n.eq_ignore_ascii_case("raw") {
            Encoding::Raw
        } else if n.eq_ignore_ascii_case("md5") {
            Encoding::Md5
        } else if n.eq_ignore_ascii_case("sha1") || n.eq_ignore_ascii_case("sha-1") {
            Encoding::Sha1
        } else if n.eq_ignore_ascii_case("sha256") || n.eq_ignore_ascii_case("sha-256") {
            Encoding::Sha256
        } else {
            Encoding::Other(name.to_owned())
        }
    }

    /// The name as written in the JSON (`raw`, `md5`, `sha1`, `sha256` or the unknown name).
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

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Encoding;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an encoding name (raw, md5, sha1 or sha256) or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Encoding, E> {
                Ok(Encoding::from_name(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Encoding, E> {
                Ok(Encoding::Raw)
            }
            fn visit_none<E: de::Error>(self) -> Result<Encoding, E> {
                Ok(Encoding::Raw)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The value of a user or calculated attribute.
///
/// JSON strings, numbers, booleans and `null` are accepted. A number keeps the text serde_json
/// gives it: integers exactly as written (any value that fits 64 bits, signed or unsigned), other
/// numbers as the shortest text that reads back to the same IEEE double (`1234.5` stays
/// `1234.5`, `1e3` becomes `1000.0`). Arrays and objects are kept as their compact JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributeValue {
    /// A JSON string.
    String(String),
    /// A JSON number, as its text.
    Number(String),
    /// A JSON boolean.
    Bool(bool),
    /// JSON `null`: the attribute is absent.
    Null,
    /// A JSON array or object, as its compact JSON text.
    Json(String),
}

impl AttributeValue {
    /// The value as text for a column: strings as they are, numbers as their text, booleans as
    /// `true`/`false`, arrays and objects as JSON; `None` for `null`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            AttributeValue::String(s) | AttributeValue::Number(s) | AttributeValue::Json(s) => {
                Some(s)
            }
            AttributeValue::Bool(true) => Some("true"),
            AttributeValue::Bool(false) => Some("false"),
            AttributeValue::Null => None,
        }
    }

    /// Like [`AttributeValue::as_text`], as an owned `String`.
    pub fn to_text(&self) -> Option<String> {
        self.as_text().map(str::to_owned)
    }
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        AttributeValue::String(value.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        AttributeValue::String(value)
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        AttributeValue::Bool(value)
    }
}

impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        AttributeValue::Number(value.to_string())
    }
}

impl From<u64> for AttributeValue {
    fn from(value: u64) -> Self {
        AttributeValue::Number(value.to_string())
    }
}

impl From<f64> for AttributeValue {
    /// A finite number as its shortest round-trip text; NaN and infinities are `Null` (JSON
    /// has no text for them).
    fn from(value: f64) -> Self {
        match serde_json::Number::from_f64(value) {
            Some(n) => AttributeValue::Number(n.to_string()),
            None => AttributeValue::Null,
        }
    }
}

impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttributeValue::String(s) => serializer.serialize_str(s),
            AttributeValue::Number(text) | AttributeValue::Json(text) => {
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value) => value.serialize(serializer),
                    // A number built by hand from text that is not JSON: keep it as a string.
                    Err(_) => serializer.serialize_str(text),
                }
            }
            AttributeValue::Bool(b) => serializer.serialize_bool(*b),
            AttributeValue::Null => serializer.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttributeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AttributeValue, E> {
                Ok(AttributeValue::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<AttributeValue, E> {
                Ok(AttributeValue::String(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<AttributeValue, E> {
                Ok(AttributeValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AttributeValue, E> {
                Ok(AttributeValue::from(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AttributeValue, E> {
                Ok(AttributeValue::from(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AttributeValue, E> {
                Ok(AttributeValue::from(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<AttributeValue, E> {
                Ok(AttributeValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<AttributeValue, E> {
                Ok(AttributeValue::Null)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<AttributeValue, A::Error> {
                let value =
                    serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(AttributeValue::Json(value.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AttributeValue, A::Error> {
                let value =
                    serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AttributeValue::Json(value.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A member's attributes: names and values in the order of the JSON object.
///
/// Looking a name up ([`Attributes::get`]) finds the last entry of that name, as a JSON object
/// with a repeated key means the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(Vec<(String, AttributeValue)>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Attributes {
        Attributes(Vec::new())
    }

    /// The value of attribute `name` (the last one if the name is repeated), if present.
    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets attribute `name`, replacing any earlier value of that name.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<AttributeValue>) {
        let name = name.into();
        let value = value.into();
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value));
    }

    /// The attributes in order (a repeated name appears each time it was given).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttributeValue)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<AttributeValue>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attributes = Attributes::new();
        for (k, v) in iter {
            attributes.insert(k, v);
        }
        attributes
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attribute names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((name, value)) = map.next_entry::<String, AttributeValue>()? {
                    entries.push((name, value));
                }
                Ok(Attributes(entries))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Attributes, E> {
                Ok(Attributes::new())
            }
        }
        deserializer.deserialize_map(V)
    }
}

fn de_null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string, a number (as its text) or `null` (`None`).
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(AttributeValue::from(v).to_text()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn de_mpid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Scalar::deserialize(deserializer)?.0)
}

fn de_identity_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Scalar::deserialize(deserializer)?.0.unwrap_or_default())
}

mod fast;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_json_but_not_an_object_is_not_a_profile() {
        for (line, expected) in [
            (
                "[]",
                "the line is not a JSON object (it is an array) (at column 1)",
            ),
            (
                r#"  ["2026999","not an object"]"#,
                "the line is not a JSON object (it is an array) (at column 3)",
            ),
            (
                r#""jane@example.com""#,
                "the line is not a JSON object (it is a string) (at column 1)",
            ),
            (
                "5551234567",
                "the line is not a JSON object (it is a number) (at column 1)",
            ),
            (
                "true",
                "the line is not a JSON object (it is a boolean) (at column 1)",
            ),
            (
                "null",
                "the line is not a JSON object (it is null) (at column 1)",
            ),
        ] {
            let want = format!(
                "not a valid mParticle profile: {expected}; each line must be one JSON object \
                 with optional `mpid`, `user_identities`, `device_identities`, `user_attributes` \
                 and `calculated_attributes`"
            );
            let by_line = Profile::from_json_line(line)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert_eq!(by_line, Err(want.clone()), "{line}");
            let mut reused = Profile::default();
            let into = reused
                .parse_into(line.as_bytes())
                .map_err(|e| e.to_string());
            assert_eq!(into, Err(want), "{line}");
        }
        // Text that is not JSON keeps serde_json's own error.
        let e = Profile::from_json_line("nope")
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(e.is_err_and(|e| e.contains("expected ident (at column 2)")));
    }

    #[test]
    fn parses_the_issue_example() {
        let line = r#"{"mpid": "8472017",
 "user_identities": [{"type": "email", "encoding": "raw", "value": " Jane.Doe@Example.com"},
                     {"type": "mobile_number", "encoding": "raw", "value": "+1 (212) 555-0143"}],
 "device_identities": [{"type": "ios_advertising_id", "encoding": "raw", "value": "x"}],
 "user_attributes": {"$FirstName": "Jane", "$LastName": "Doe", "$City": "New York",
                     "$State": "NY", "$Zip": "10001", "$Country": "US", "$Mobile": "212 555 0199",
                     "loyalty_tier": "gold"},
 "calculated_attributes": {"lifetime_value": 1234.5}}"#;
        let p = Profile::from_json_line(line).unwrap();
        assert_eq!(p.mpid.as_deref(), Some("8472017"));
        assert_eq!(p.user_identities.len(), 2);
        assert_eq!(p.user_identities[0].kind, "email");
        assert_eq!(p.user_identities[0].value, " Jane.Doe@Example.com");
        assert_eq!(p.user_identities[1].encoding, Encoding::Raw);
        assert_eq!(p.device_identities[0].kind, "ios_advertising_id");
        assert_eq!(p.user_attributes.len(), 8);
        assert_eq!(
            p.user_attributes.get("loyalty_tier"),
            Some(&AttributeValue::String("gold".into()))
        );
        assert_eq!(
            p.calculated_attributes
                .get("lifetime_value")
                .unwrap()
                .as_text(),
            Some("1234.5")
        );
    }

    #[test]
    fn attribute_values_render_without_loss() {
        let p = Profile::from_json_line(
            r#"{"user_attributes": {"a": 42, "b": 1234.5, "c": true, "d": false, "e": null,
               "f": -7, "g": 18446744073709551615, "h": 0.1, "i": [1, "x"], "j": {"k": 1},
               "l": "  text  "}}"#,
        )
        .unwrap();
        let text = |name: &str| p.user_attributes.get(name).unwrap().to_text();
        assert_eq!(text("a").as_deref(), Some("42"));
        assert_eq!(text("b").as_deref(), Some("1234.5"));
        assert_eq!(text("c").as_deref(), Some("true"));
        assert_eq!(text("d").as_deref(), Some("false"));
        assert_eq!(text("e"), None);
        assert_eq!(text("f").as_deref(), Some("-7"));
        assert_eq!(text("g").as_deref(), Some("18446744073709551615"));
        assert_eq!(text("h").as_deref(), Some("0.1"));
        assert_eq!(text("i").as_deref(), Some(r#"[1,"x"]"#));
        assert_eq!(text("j").as_deref(), Some(r#"{"k":1}"#));
        assert_eq!(text("l").as_deref(), Some("  text  "));
        assert_eq!(p.user_attributes.get("missing"), None);
    }

    #[test]
    fn encodings_and_defaults() {
        let p = Profile::from_json_line(
            r#"{"mpid": 8472017, "user_identities": [
                {"type": "email", "value": "a@b.co"},
                {"type": "email", "encoding": "SHA-256", "value": "AB"},
                {"type": "email", "encoding": "sha1", "value": "ab"},
                {"type": "email", "encoding": "md5", "value": "ab"},
                {"type": "email", "encoding": null, "value": null},
                {"type": "customer_id", "encoding": "base64", "value": 1234}],
               "device_identities": null, "user_attributes": null, "extra": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(p.mpid.as_deref(), Some("8472017"));
        let enc: Vec<&Encoding> = p.user_identities.iter().map(|i| &i.encoding).collect();
        assert_eq!(
            enc,
            [
                &Encoding::Raw,
                &Encoding::Sha256,
                &Encoding::Sha1,
                &Encoding::Md5,
                &Encoding::Raw,
                &Encoding::Other("base64".into())
            ]
        );
        assert_eq!(p.user_identities[4].value, "");
        assert_eq!(p.user_identities[5].value, "1234");
        assert!(p.device_identities.is_empty());
        assert!(p.user_attributes.is_empty());
    }

    #[test]
    fn repeated_attribute_names_mean_the_last() {
        let p =
            Profile::from_json_line(r#"{"user_attributes": {"$Zip": "1", "$Zip": "2"}}"#).unwrap();
        assert_eq!(p.user_attributes.get("$Zip").unwrap().as_text(), Some("2"));
    }

    #[test]
    fn invalid_lines_give_typed_errors() {
        for (line, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("[1,2]", "not a JSON object (it is an array)"),
            ("{\"mpid\": \"1\"", "EOF"),
            (
                "{\"user_identities\": [{\"value\": \"x\"}]}",
                "missing field `type`",
            ),
            (
                "{\"user_identities\": {\"type\": \"email\"}}",
                "invalid type",
            ),
            ("{\"user_attributes\": [\"x\"]}", "invalid type"),
            ("xyz", "expected value"),
        ] {
            match Profile::from_json_line(line) {
                Err(Error::InvalidProfile { problem, .. }) => {
                    assert!(problem.contains(needle), "{line:?}: {problem}");
                }
                other => panic!("{line:?}: {other:?}"),
            }
        }
        let e = Profile::from_json_line("{\"mpid\": [1]}").unwrap_err();
        assert!(
            e.to_string().contains("not a valid mParticle profile"),
            "{e}"
        );
    }

    #[test]
    fn round_trips_through_json() {
        let line = r#"{"mpid":"1","user_identities":[{"type":"email","encoding":"sha256","value":"ab"}],"device_identities":[],"user_attributes":{"n":42,"f":1234.5,"b":true,"s":"x","z":null},"calculated_attributes":{}}"#;
        let p = Profile::from_json_line(line).unwrap();
        assert_eq!(p.to_json_line(), line);
        assert_eq!(Profile::from_json_slice(line.as_bytes()).unwrap(), p);
        assert_eq!(line.parse::<Profile>().unwrap(), p);
    }
}
