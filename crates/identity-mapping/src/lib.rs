//! Map an mParticle audience member profile to the device-ID and PII rows LiveRamp receives.
//!
//! This crate decides, per audience member, which rows go to LiveRamp: one row of the device
//! file per distinct valid mobile advertising ID, and at most one row of the PII file. It
//! follows mParticle's LiveRamp integration (its "User Identity Mapping" and "Connection
//! Settings") and LiveRamp's rules: emails and phones normalised exactly as LiveRamp matches on
//! them (by [`liveramp_pii_normalize`]), hashed on request with lowercase hex, names and postal
//! addresses never hashed, and headers that depend only on the configuration so they never
//! change from one night to the next. It does no I/O: the caller reads profiles and writes
//! the CSV files.
//!
//! # Example: profile JSON in, rows out
//!
//! ```
//! use liveramp_identity_mapping::{Mapper, MappingConfig, Profile};
//!
//! // The settings: the default PII columns, emails and phones hashed.
//! let config = MappingConfig { hash_emails_and_phones: true, ..MappingConfig::default() };
//! let mapper = Mapper::new(config)?;
//! assert_eq!(
//!     mapper.pii_headers().join(","),
//!     "FIRSTNAME,LASTNAME,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,CITY,STATE,ZIP,COUNTRY,\
//!      PHONE1_SHA-1,PHONE2_SHA-1"
//! );
//! assert_eq!(mapper.device_headers(), ["DEVICE_ID", "ID_TYPE"]);
//!
//! // One line of mParticle's profile export.
//! let line = r#"{"mpid": "8472017",
//!   "user_identities": [
//!     {"type": "email", "encoding": "raw", "value": " Jane.Doe@Example.com"},
//!     {"type": "mobile_number", "encoding": "raw", "value": "+1 (212) 555-0143"}],
//!   "device_identities": [
//!     {"type": "ios_advertising_id", "encoding": "raw", "value": "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
//!     {"type": "google_advertising_id", "value": "00000000-0000-0000-0000-000000000000"}],
//!   "user_attributes": {"$FirstName": "Jane", "$LastName": "Doe", "$City": "New York",
//!     "$State": "new york", "$Zip": "10001-1234", "$Country": "USA", "$Mobile": "212.555.0143",
//!     "loyalty_tier": "gold"},
//!   "calculated_attributes": {"lifetime_value": 1234.5}}"#;
//! let profile = Profile::from_json_line(line)?;
//! let member = mapper.map(&profile);
//!
//! // Device rows: the IDFA (upper case); the all-zero AAID (limited ad tracking) is rejected.
//! let devices: Vec<[&str; 2]> = member.device_rows().iter().map(|r| r.fields()).collect();
//! assert_eq!(devices, [["6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA"]]);
//!
//! // The PII row: `jane.doe@example.com` hashed three ways, `2125550143` hashed with SHA-1
//! // (the `$Mobile` attribute is the same number, so PHONE2 stays empty).
//! let row = member.pii_row().expect("Jane has an email");
//! assert_eq!(
//!     row,
//!     [
//!         "Jane",
//!         "Doe",
//!         "0cba00ca3da1b283a57287bcceb17e35",
//!         "a3caddb38202511eab803116294dc020f7c4f8a2",
//!         "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d",
//!         "New York",
//!         "NY",
//!         "100011234",
//!         "US",
//!         "642a995e9ac252a0543d2f07470c3935b53b2989",
//!         "",
//!     ]
//! );
//!
//! // What was not sent, and why: counted by the caller, never fatal.
//! let codes: Vec<&str> = member.rejections().iter().map(|r| r.code).collect();
//! assert_eq!(codes, ["aaid.limited_ad_tracking"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For millions of members, reuse one [`MappedMember`] with [`Mapper::map_into`]: its cells
//! keep their capacity, so mapping allocates little beyond what normalisation needs.
//!
//! # The rules
//!
//! - **Device IDs** (`send_device_ids`, default IDFA and AAID): IDFA from the
//!   `ios_advertising_id` device identity, AAID from `google_advertising_id` (or its alias
//!   `android_advertising_id`). One row per distinct valid ID: `DEVICE_ID` (normalised),
//!   `ID_TYPE` (`IDFA`/`AAID`). Hashed device IDs cannot be sent (`device.hashed`).
//! - **Emails** come from the `email` identities (then, if `emails_from_other_identities`,
//!   the raw `other` identities that parse as emails), normalised and de-duplicated, in that
//!   order; the first `email_columns` fill `EMAIL1..EMAILn`.
//! - **Phones** come from the `mobile_number`, `phone_number_2`, `phone_number_3` identities
//!   and the `$Mobile` attribute, in that order, normalised and de-duplicated; the first
//!   `phone_columns` (default 2) fill `PHONE1..PHONEn`.
//! - **Hashed identities** (`encoding` `md5`, `sha1`, `sha256`): the sender normalised and
//!   hashed the value; it is checked with [`looks_hashed`](liveramp_pii_normalize::looks_hashed),
//!   lower-cased, and fills only the hash column of its own algorithm in its slot (a raw value
//!   of the same slot fills every column). A sender's hash of a value that is also present raw
//!   is a duplicate, not a second slot.
//! - **Hashing** (`hash_emails_and_phones`): raw email and phone columns are not written; the
//!   `EMAIL` token expands to the `email_hashes` columns, `PHONE` to the `phone_hashes`
//!   columns. Each distinct value is hashed at most once per algorithm.
//! - **Built-in columns** are normalised with their `pii-normalize` type (`FIRSTNAME` and
//!   `LASTNAME` as `PersonName`, `ADDRESS1` with the same free-text cleanup, `CITY`, `STATE`,
//!   `ZIP`, `COUNTRY`); a value that fails leaves its cell empty and is counted. `null` is
//!   absent, not rejected. Names and addresses are never hashed.
//! - **Custom columns** ([`CustomColumn`]) are written as given (trimmed).
//! - **No matchable identifier**: a member whose PII row would have no email or phone value, and
//!   not `FIRSTNAME`, `LASTNAME`, `ADDRESS1` and either `ZIP` or both `CITY` and `STATE`, gets
//!   no PII row and the rejection `pii.no_matchable_identifier`.
//! - **Deterministic**: the same profile and config always give byte-identical rows.
//!
//! # Rejection codes
//!
//! Besides the [`Rejected::code`](liveramp_pii_normalize::Rejected::code)s of `pii-normalize`
//! (`email.no_at`, `phone.invalid`, `idfa.limited_ad_tracking`, `zip.bad_shape`, ...), a
//! [`Rejection`] carries one of these codes of this crate:
//!
//! | code | meaning |
//! |---|---|
//! | `pii.no_matchable_identifier` | the member has nothing LiveRamp can match on: no PII row |
//! | `email.bad_hash`, `phone.bad_hash` | a hashed identity is not hex of its algorithm's length |
//! | `email.hash_column_not_selected`, `phone.hash_column_not_selected` | a hashed identity whose algorithm has no column |
//! | `email.unknown_encoding`, `phone.unknown_encoding`, `device.unknown_encoding` | an `encoding` other than raw, md5, sha1, sha256 |
//! | `email.over_column_limit`, `phone.over_column_limit` | more distinct values than `EMAILn`/`PHONEn` columns |
//! | `device.hashed` | a hashed device ID: LiveRamp needs the ID itself |
//! | `address.empty` | `$Address` is empty after cleanup |
//!
//! Configuration problems are [`Error`]s when [`Mapper::new`] cannot work with them, and
//! [`Warning`]s (phone hashes other than SHA-1, which LiveRamp does not accept; columns that
//! cannot identify anyone) when it can.
#![deny(missing_docs)]
// Product names (LiveRamp, mParticle) read better without backticks.
#![allow(clippy::doc_markdown)]

mod columns;
mod config;
mod error;
mod mapper;
mod profile;

pub use config::{ColumnSource, CustomColumn, DeviceIdType, MappingConfig};
pub use error::{Error, Rejection, Warning};
pub use liveramp_pii_normalize::HashAlgorithm;
pub use mapper::{DeviceRow, MappedMember, Mapper};
pub use profile::{AttributeValue, Attributes, Encoding, Identity, Profile};
