//! The JSON reading every message shares: strict typed visitors, straight from the bytes into
//! the structs (no `serde_json::Value` tree), and a [`Trail`] that records where an error
//! happened while it unwinds.
//!
//! On the way down nothing is recorded, so a message that parses costs nothing for paths. When
//! a value fails, each container it was in adds its own segment (the key, or the index) to the
//! trail on the way back up; the top level then reads the path innermost-last.
//!
//! Every visitor reads with `deserialize_any` and answers every JSON type itself ([`Accept`]
//! through [`Strict`]), so no error text is ever `serde_json`'s own "invalid type: string
//! \"jane@example.com\"": a wrong type is described by its kind only.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, keyword_shown};
use crate::message::MessageType;

/// One step of a JSON path.
#[derive(Debug)]
pub(crate) enum Segment {
    Key(Cow<'static, str>),
    Index(usize),
}

/// What a container found wrong itself (as opposed to a wrong JSON type below it).
#[derive(Debug)]
pub(crate) enum Detail {
    Missing,
    Duplicate,
    Keyword {
        value: Option<String>,
        expected: &'static str,
    },
    UnknownType {
        name: Option<String>,
    },
}

/// Where and why a parse failed, filled in while the error unwinds.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    /// Innermost segment first.
    path: RefCell<Vec<Segment>>,
    detail: RefCell<Option<Detail>>,
    /// The one-pass read stopped because `type` was not the first key.
    pub(crate) type_not_first: Cell<bool>,
    /// The `type` scan found this type (and stopped there).
    pub(crate) found_type: Cell<Option<MessageType>>,
}

impl Trail {
    /// Passes `result` on; on an error, records that it happened under `key`.
    #[inline]
    pub(crate) fn at<T, E>(&self, key: &'static str, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.path
                .borrow_mut()
                .push(Segment::Key(Cow::Borrowed(key)));
        }
        result
    }

    /// Like [`Trail::at`] for a key that is not one of ours (an unknown field, a setting name).
    #[inline]
    pub(crate) fn at_key<T, E>(&self, key: &str, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.path
                .borrow_mut()
                .push(Segment::Key(Cow::Owned(key.to_owned())));
        }
        result
    }

    /// Passes `result` on; on an error, records that it happened in array element `index`.
    #[inline]
    pub(crate) fn at_index<T, E>(&self, index: usize, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.path.borrow_mut().push(Segment::Index(index));
        }
        result
    }

    /// An error for a problem a container found with its field `key`.
    pub(crate) fn fail<E: de::Error>(&self, key: &'static str, detail: Detail) -> E {
        self.path
            .borrow_mut()
            .push(Segment::Key(Cow::Borrowed(key)));
        self.detail_error(detail)
    }

    /// An error for a problem found in the value being read (the caller adds the key).
    pub(crate) fn detail_error<E: de::Error>(&self, detail: Detail) -> E {
        let text = match &detail {
            Detail::Missing => "required field is missing",
            Detail::Duplicate => "field appears more than once",
            Detail::Keyword { .. } => "unknown keyword",
            Detail::UnknownType { .. } => "unknown message type",
        };
        *self.detail.borrow_mut() = Some(detail);
        E::custom(text)
    }

    /// The path as text: `user_profiles[3].audiences[0].action`, `""` for the root.
    fn path_text(&self) -> String {
        let mut text = String::new();
        for segment in self.path.borrow().iter().rev() {
            match segment {
                Segment::Index(i) => {
                    let _ = write!(text, "[{i}]");
                }
                Segment::Key(key) if is_identifier(key) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(key);
                }
                Segment::Key(key) => {
                    text.push('[');
                    // Serialising a string cannot fail.
                    text.push_str(&serde_json::to_string(key.as_ref()).unwrap_or_default());
                    text.push(']');
                }
            }
        }
        text
    }

    /// The crate's error for what `serde_json` reported and what the trail recorded.
    pub(crate) fn into_error(self, e: &serde_json::Error) -> Error {
        let path = self.path_text();
        let (line, column) = (e.line(), e.column());
        match self.detail.into_inner() {
            Some(Detail::Missing) => Error::MissingField { path, line, column },
            Some(Detail::Duplicate) => Error::DuplicateField { path, line, column },
            Some(Detail::Keyword { value, expected }) => Error::UnknownKeyword {
                path,
                value,
                expected,
                line,
                column,
            },
            Some(Detail::UnknownType { name }) => Error::UnknownType {
                type_name: name,
                line,
                column,
            },
            None => {
                let text = e.to_string();
                let suffix = format!(" at line {line} column {column}");
                let problem = text.strip_suffix(&suffix).unwrap_or(&text);
                if e.classify() == serde_json::error::Category::Data {
                    // Every data error is written by this module and names kinds only; a quote
                    // would mean a value slipped in, so such a text is never passed on.
                    let problem = if problem.contains(['"', '`']) {
                        "invalid value (withheld)".to_owned()
                    } else {
                        problem.to_owned()
                    };
                    Error::InvalidValue {
                        path,
                        problem,
                        line,
                        column,
                    }
                } else {
                    Error::Syntax {
                        path,
                        problem: problem.to_owned(),
                        line,
                        column,
                    }
                }
            }
        }
    }
}

/// Whether a key can be written `a.key` in a path (otherwise `a["key"]`).
fn is_identifier(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes
        .first()
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// A value read with the trail at hand.
pub(crate) trait Parse<'de>: Sized {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error>;
}

/// The [`DeserializeSeed`] of a [`Parse`] type.
pub(crate) struct Seed<'t, T>(&'t Trail, PhantomData<T>);

impl<'t, T> Seed<'t, T> {
    pub(crate) fn new(trail: &'t Trail) -> Self {
        Seed(trail, PhantomData)
    }
}

impl<'de, T: Parse<'de>> DeserializeSeed<'de> for Seed<'_, T> {
    type Value = T;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::parse(deserializer, self.0)
    }
}

/// The kind of a JSON value, for "invalid type" texts (never the value).
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Null,
    Boolean,
    Integer,
    Float,
    Str,
    Array,
    Object,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Null => "null",
            Kind::Boolean => "boolean (value withheld)",
            Kind::Integer => "integer (value withheld)",
            Kind::Float => "number with a fraction or exponent (value withheld)",
            Kind::Str => "string (value withheld)",
            Kind::Array => "array",
            Kind::Object => "object",
        })
    }
}

/// "invalid type: string (value withheld), expected a non-negative integer".
pub(crate) fn wrong_type<E: de::Error>(found: Kind, expected: &str) -> E {
    E::custom(format_args!("invalid type: {found}, expected {expected}"))
}

/// A visitor that says what it accepts; everything else is a wrong type, named by kind only.
pub(crate) trait Accept<'de>: Sized {
    type Value;
    /// What is expected, for error texts: "a string", "an identity object", ...
    const EXPECTED: &'static str;

    fn null<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(wrong_type(Kind::Null, Self::EXPECTED))
    }
    fn boolean<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(wrong_type(Kind::Boolean, Self::EXPECTED))
    }
    fn unsigned<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(wrong_type(Kind::Integer, Self::EXPECTED))
    }
    fn signed<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(wrong_type(Kind::Integer, Self::EXPECTED))
    }
    fn float<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(wrong_type(Kind::Float, Self::EXPECTED))
    }
    fn str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(wrong_type(Kind::Str, Self::EXPECTED))
    }
    fn string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        self.str(&value)
    }
    fn array<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(wrong_type(Kind::Array, Self::EXPECTED))
    }
    fn object<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(wrong_type(Kind::Object, Self::EXPECTED))
    }
}

/// The serde [`Visitor`] of an [`Accept`]: every JSON type goes to the matching method.
pub(crate) struct Strict<V>(pub(crate) V);

impl<'de, V: Accept<'de>> Visitor<'de> for Strict<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(V::EXPECTED)
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.null()
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.null()
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.0.boolean(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.0.unsigned(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        self.0.signed(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        self.0.float(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.0.str(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.0.string(v)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<V::Value, E> {
        Err(wrong_type(Kind::Str, V::EXPECTED))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.array(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.object(map)
    }
}

/// Reads a value through an [`Accept`] visitor.
#[inline]
pub(crate) fn any<'de, D: Deserializer<'de>, V: Accept<'de>>(
    deserializer: D,
    visitor: V,
) -> Result<V::Value, D::Error> {
    deserializer.deserialize_any(Strict(visitor))
}

// ---------------------------------------------------------------------------------------------
// Object keys and fields.

/// The known fields of one kind of object.
pub(crate) trait Fields: Copy {
    fn lookup(name: &str) -> Option<Self>;
    fn name(self) -> &'static str;
}

/// Declares the known fields of an object: `fields!(IdentityField { Type = "type", ... })`.
macro_rules! fields {
    ($name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        enum $name { $($variant),* }

        impl $crate::de::Fields for $name {
            #[inline]
            fn lookup(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
            fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),*
                }
            }
        }
    };
}
pub(crate) use fields;

/// An object key: one of the known fields, or another key (ignored).
pub(crate) enum Key<'de, F> {
    Known(F),
    Other(Cow<'de, str>),
}

struct KeySeed<F>(PhantomData<F>);

impl<'de, F: Fields> DeserializeSeed<'de> for KeySeed<F> {
    type Value = Key<'de, F>;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, F: Fields> Visitor<'de> for KeySeed<F> {
    type Value = Key<'de, F>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(F::lookup(v).map_or(Key::Other(Cow::Borrowed(v)), Key::Known))
    }
    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(F::lookup(v).map_or_else(|| Key::Other(Cow::Owned(v.to_owned())), Key::Known))
    }
}

/// The next key of an object, classified.
#[inline]
pub(crate) fn next_key<'de, F: Fields, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<Key<'de, F>>, A::Error> {
    map.next_key_seed(KeySeed(PhantomData))
}

/// Reads the value of field `field` into its empty `slot` (a second occurrence is an error).
#[inline]
pub(crate) fn field<'de, T: Parse<'de>, F: Fields, A: MapAccess<'de>>(
    map: &mut A,
    trail: &Trail,
    slot: &mut Option<T>,
    field: F,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(trail.fail(field.name(), Detail::Duplicate));
    }
    *slot = Some(trail.at(field.name(), map.next_value_seed(Seed::<T>::new(trail)))?);
    Ok(())
}

/// Skips the value of a key this crate does not read (only its JSON syntax is checked).
#[inline]
pub(crate) fn skip<'de, A: MapAccess<'de>>(
    map: &mut A,
    trail: &Trail,
    key: &str,
) -> Result<(), A::Error> {
    trail.at_key(key, map.next_value::<IgnoredAny>())?;
    Ok(())
}

/// The value of a required field, or the error that names it.
#[inline]
pub(crate) fn required<T, F: Fields, E: de::Error>(
    slot: Option<T>,
    trail: &Trail,
    field: F,
) -> Result<T, E> {
    slot.ok_or_else(|| trail.fail(field.name(), Detail::Missing))
}

// ---------------------------------------------------------------------------------------------
// Leaves.

impl<'de> Parse<'de> for String {
    #[inline]
    fn parse<D: Deserializer<'de>>(deserializer: D, _: &Trail) -> Result<Self, D::Error> {
        struct Text;
        impl Accept<'_> for Text {
            type Value = String;
            const EXPECTED: &'static str = "a string";
            fn str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn string<E: de::Error>(self, v: String) -> Result<String, E> {
                Ok(v)
            }
        }
        any(deserializer, Text)
    }
}

impl<'de> Parse<'de> for u64 {
    fn parse<D: Deserializer<'de>>(deserializer: D, _: &Trail) -> Result<Self, D::Error> {
        struct Unsigned;
        impl Accept<'_> for Unsigned {
            type Value = u64;
            const EXPECTED: &'static str = "a non-negative integer";
            fn unsigned<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn signed<E: de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| {
                    E::custom("invalid value: a negative integer, expected a non-negative integer")
                })
            }
        }
        any(deserializer, Unsigned)
    }
}

impl<'de> Parse<'de> for i64 {
    fn parse<D: Deserializer<'de>>(deserializer: D, _: &Trail) -> Result<Self, D::Error> {
        struct Signed;
        impl Accept<'_> for Signed {
            type Value = i64;
            const EXPECTED: &'static str = "an integer";
            fn unsigned<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| {
                    E::custom("invalid value: an integer over 2^63 - 1, expected an integer")
                })
            }
            fn signed<E: de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
        }
        any(deserializer, Signed)
    }
}

impl<'de> Parse<'de> for f64 {
    fn parse<D: Deserializer<'de>>(deserializer: D, _: &Trail) -> Result<Self, D::Error> {
        struct Number;
        impl Accept<'_> for Number {
            type Value = f64;
            const EXPECTED: &'static str = "a number";
            #[allow(clippy::cast_precision_loss)] // a time in seconds: 2^53 s is far away
            fn unsigned<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            #[allow(clippy::cast_precision_loss)]
            fn signed<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn float<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
        }
        any(deserializer, Number)
    }
}

/// `null` is `None`; anything else is read as `T`.
impl<'de, T: Parse<'de>> Parse<'de> for Option<T> {
    #[inline]
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct Nullable<'t, T>(&'t Trail, PhantomData<T>);
        impl<'de, T: Parse<'de>> Visitor<'de> for Nullable<'_, T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                T::parse(d, self.0).map(Some)
            }
        }
        deserializer.deserialize_option(Nullable(trail, PhantomData))
    }
}

/// A JSON array; each element's errors carry its index.
impl<'de, T: Parse<'de>> Parse<'de> for Vec<T> {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct List<'t, T>(&'t Trail, PhantomData<T>);
        impl<'de, T: Parse<'de>> Accept<'de> for List<'_, T> {
            type Value = Vec<T>;
            const EXPECTED: &'static str = "an array";
            fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let trail = self.0;
                let mut items = Vec::new();
                loop {
                    let index = items.len();
                    match trail.at_index(index, seq.next_element_seed(Seed::<T>::new(trail)))? {
                        Some(item) => items.push(item),
                        None => return Ok(items),
                    }
                }
            }
        }
        any(deserializer, List(trail, PhantomData))
    }
}

/// A settings object (`account_settings`, `audience_subscription_settings`): string values;
/// numbers and booleans are kept as their JSON text, a `null` value as an absent setting.
/// A repeated name keeps its last value.
pub(crate) type Settings = BTreeMap<String, String>;

impl<'de> Parse<'de> for Settings {
    fn parse<D: Deserializer<'de>>(deserializer: D, trail: &Trail) -> Result<Self, D::Error> {
        struct SettingValue;
        impl Accept<'_> for SettingValue {
            type Value = Option<String>;
            const EXPECTED: &'static str = "a setting value (a string, number, boolean or null)";
            fn null<E: de::Error>(self) -> Result<Option<String>, E> {
                Ok(None)
            }
            fn boolean<E: de::Error>(self, v: bool) -> Result<Option<String>, E> {
                Ok(Some(v.to_string()))
            }
            fn unsigned<E: de::Error>(self, v: u64) -> Result<Option<String>, E> {
                Ok(Some(v.to_string()))
            }
            fn signed<E: de::Error>(self, v: i64) -> Result<Option<String>, E> {
                Ok(Some(v.to_string()))
            }
            fn float<E: de::Error>(self, v: f64) -> Result<Option<String>, E> {
                Ok(Some(v.to_string()))
            }
            fn str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
                Ok(Some(v.to_owned()))
            }
            fn string<E: de::Error>(self, v: String) -> Result<Option<String>, E> {
                Ok(Some(v))
            }
        }
        struct ValueSeed;
        impl<'de> DeserializeSeed<'de> for ValueSeed {
            type Value = Option<String>;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
                any(d, SettingValue)
            }
        }
        struct Object<'t>(&'t Trail);
        impl<'de> Accept<'de> for Object<'_> {
            type Value = Settings;
            const EXPECTED: &'static str = "an object of settings";
            fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Settings, A::Error> {
                let mut settings = Settings::new();
                while let Some(name) = map.next_key::<String>()? {
                    match self.0.at_key(&name, map.next_value_seed(ValueSeed))? {
                        Some(value) => settings.insert(name, value),
                        None => settings.remove(&name),
                    };
                }
                Ok(settings)
            }
        }
        any(deserializer, Object(trail))
    }
}

/// An enumerated keyword: one of a fixed list of names.
pub(crate) trait Keyword: Sized + Copy {
    /// The values, for error texts: `add, delete or attribute_update`.
    const EXPECTED: &'static str;
    fn from_keyword(name: &str) -> Option<Self>;
}

/// Reads a [`Keyword`]; an unknown name is [`Detail::Keyword`] (the caller adds the key).
pub(crate) fn keyword<'de, K: Keyword, D: Deserializer<'de>>(
    deserializer: D,
    trail: &Trail,
) -> Result<K, D::Error> {
    struct Name<'t, K>(&'t Trail, PhantomData<K>);
    impl<K: Keyword> Accept<'_> for Name<'_, K> {
        type Value = K;
        const EXPECTED: &'static str = "a keyword (a string)";
        fn str<E: de::Error>(self, v: &str) -> Result<K, E> {
            K::from_keyword(v).ok_or_else(|| {
                self.0.detail_error(Detail::Keyword {
                    value: keyword_shown(v),
                    expected: K::EXPECTED,
                })
            })
        }
    }
    any(deserializer, Name(trail, PhantomData))
}

/// Implements [`Parse`] for [`Keyword`] types.
macro_rules! parse_keyword {
    ($($ty:ty),*) => {$(
        impl<'de> $crate::de::Parse<'de> for $ty {
            fn parse<D: serde::Deserializer<'de>>(
                deserializer: D,
                trail: &$crate::de::Trail,
            ) -> Result<Self, D::Error> {
                $crate::de::keyword(deserializer, trail)
            }
        }
    )*};
}
pub(crate) use parse_keyword;
