//! The impls every normalised newtype shares.

/// Implements `Display`, `AsRef<str>`, `FromStr` (= `parse`) and `From<T> for String` for a
/// newtype that has `fn as_str(&self) -> &str` and `fn parse(&str) -> Result<Self, Rejected>`.
macro_rules! text_impls {
    ($t:ident) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::Rejected;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $t::parse(s)
            }
        }

        impl ::std::convert::From<$t> for String {
            fn from(value: $t) -> String {
                value.as_str().to_owned()
            }
        }

        impl ::std::cmp::PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl ::std::cmp::PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

pub(crate) use text_impls;

/// `as_str` for a newtype holding ASCII bytes in a fixed array.
pub(crate) fn ascii_str(bytes: &[u8]) -> &str {
    // Callers only ever store ASCII, so this never falls back.
    std::str::from_utf8(bytes).unwrap_or_default()
}
