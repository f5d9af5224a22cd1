//! Normalise and hash emails, phones, mobile ad IDs and postal fields exactly as LiveRamp
//! matches on them.
//!
//! LiveRamp matches uploaded identifiers only when they are normalised the way it expects:
//! a single stray space, an upper-case letter or a `+1` prefix silently turns a record into a
//! non-match. This crate holds the pure, I/O-free functions that turn messy input values into
//! exactly what LiveRamp matches on, and hash them.
//!
//! # Types
//!
//! Every type below is a newtype whose only constructor is `parse(raw: &str) -> Result<Self,
//! Rejected>`: a value of one of them is always normalised, and `parse` of its
//! [`as_str`](Email::as_str) returns it unchanged.
//!
//! | Type | Output | Rules |
//! |------|--------|-------|
//! | [`Email`] | `myname@liveramp.com` | whitespace removed, Unicode-lowercased, one `@`, dotted domain |
//! | [`Phone`] | `2125550123` | valid NANP number (libphonenumber), 10 national digits |
//! | [`Idfa`] | `6D92078A-8246-4BA4-AE5B-76104861E7DC` | UUID, upper case, hyphens; all-zero rejected |
//! | [`Aaid`] | `38400000-8cf0-11bd-b23e-10b96e40000d` | UUID, lower case, hyphens; all-zero rejected |
//! | [`Zip`] | `10001` or `100011234` | 5 or 9 digits, 3-4 digits zero-padded |
//! | [`State`] | `NY` | USPS code from a code or a name |
//! | [`Country`] | `US` | ISO 3166-1 alpha-2 from alpha-2, alpha-3 or an English name |
//! | [`PersonName`], [`City`] | `Mary Ann` | trimmed, whitespace collapsed, controls removed |
//!
//! All of them implement `Display`, `AsRef<str>`, `FromStr` (same as `parse`), `Clone`,
//! `Debug`, `PartialEq`, `Eq`, `Hash` and `Ord`.
//!
//! # Rejections
//!
//! A value that cannot be normalised gives a [`Rejected`] saying why, with a stable short
//! [`code`](Rejected::code) (`email.no_at`, `phone.not_nanp`, `idfa.limited_ad_tracking`, ...)
//! for reports that count rejections. Its message never contains the raw value, which is
//! personal data. No input makes `parse` panic.
//!
//! # Hashing
//!
//! LiveRamp wants the lowercase hex digest of the UTF-8 bytes of the *normalised* value, never
//! with a `0x` prefix: [`hex_digest`] (allocates a `String`), [`digest`] (returns an inline
//! [`HexDigest`], no allocation) and [`hex_digest_into`] (appends to a reused `String`).
//! [`Email::hashed`] and [`Phone::hashed`] hash their own normalised value. LiveRamp accepts
//! MD5, SHA-1 and SHA-256 for emails but **only SHA-1 for phones**. Names and postal fields are
//! never hashed. [`looks_hashed`] recognises input that is already a digest.
//!
//! # Performance
//!
//! Parsing allocates only for the types that own text (`Email`, `PersonName`, `City`); the
//! others are stored inline. Phones in the common shapes never reach the `phonenumber` parser
//! (see [`Phone`]); the NANP validity table they use is built on the first `Phone::parse`, in a
//! few hundred milliseconds. Use [`digest`] or [`hex_digest_into`] on hot paths.
//!
//! # Example
//!
//! ```
//! use liveramp_pii_normalize::{Email, HashAlgorithm, Phone, Rejected, hex_digest};
//!
//! // LiveRamp's own examples.
//! let email = Email::parse("MyName@liveramp.com ")?;
//! assert_eq!(email.as_str(), "myname@liveramp.com");
//! assert_eq!(
//!     email.hashed(HashAlgorithm::Sha256),
//!     hex_digest(HashAlgorithm::Sha256, "myname@liveramp.com"),
//! );
//!
//! let phone = Phone::parse("+1 (212) 555-0123")?;
//! assert_eq!(phone.as_str(), "2125550123");
//! assert_eq!(phone.hashed(HashAlgorithm::Sha1).len(), 40);
//!
//! // 555 is not an assigned area code: LiveRamp's literal example is rightly rejected.
//! let err = Phone::parse("+1 (555) 123-4567").unwrap_err();
//! assert_eq!(err, Rejected::PhoneInvalid);
//! assert_eq!(err.code(), "phone.invalid");
//!
//! // Other countries are rejected with their own code.
//! assert_eq!(Phone::parse("+44 20 7946 0958").unwrap_err().code(), "phone.not_nanp");
//! # Ok::<(), Rejected>(())
//! ```
#![deny(missing_docs)]
// "LiveRamp" is a product name, not code: keep it out of backticks.
#![allow(clippy::doc_markdown)]

mod countries;
mod device;
mod email;
mod error;
mod hash;
mod kind;
mod macros;
mod nanp;
mod nanp_table;
mod phone;
mod postal;
mod text;

pub use device::{Aaid, Idfa};
pub use email::Email;
pub use error::Rejected;
pub use hash::{
    HashAlgorithm, HexDigest, UnknownHashAlgorithm, digest, hex_digest, hex_digest_into,
    looks_hashed,
};
pub use kind::{Kind, UnknownKind};
pub use phone::Phone;
pub use postal::{Country, State, Zip};
pub use text::{City, PersonName};
