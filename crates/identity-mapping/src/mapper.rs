//! The mapping itself: from a profile to the device rows and the PII row.

use std::borrow::Borrow;

use liveramp_pii_normalize::{
    Aaid, Email, HashAlgorithm, HexDigest, Idfa, Phone, Rejected, digest, looks_hashed,
};

use crate::columns::{
    ATTRIBUTE_COLUMNS, AttributeColumn, ColumnSet, FamilyKind, Token, builtin_token,
    name_and_address,
};
use crate::config::{ColumnSource, DeviceIdType, MappingConfig};
use crate::error::{Error, Rejection, Warning};
use crate::profile::{AttributeValue, Encoding, Identity, Profile};

/// The longest header LiveRamp accepts.
const MAX_HEADER_LEN: usize = 128;

/// One column of the PII file, resolved from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    /// The row of [`ATTRIBUTE_COLUMNS`] with this index.
    Attribute(usize),
    /// Email slot `slot` (0-based), raw (`None`) or hashed.
    Email(usize, Option<HashAlgorithm>),
    /// Phone slot `slot` (0-based), raw (`None`) or hashed.
    Phone(usize, Option<HashAlgorithm>),
    Custom(ColumnSource),
}

/// Which columns one family (emails or phones) has: how many slots, raw and which hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Family {
    slots: usize,
    raw: bool,
    hashes: [bool; 3],
}

impl Family {
    fn wants(&self, algorithm: HashAlgorithm) -> bool {
        self.hashes[alg_index(algorithm)]
    }
}

fn alg_index(algorithm: HashAlgorithm) -> usize {
    match algorithm {
        HashAlgorithm::Md5 => 0,
        HashAlgorithm::Sha1 => 1,
        HashAlgorithm::Sha256 => 2,
    }
}

fn hash_suffix(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Md5 => "MD5",
        HashAlgorithm::Sha1 => "SHA-1",
        HashAlgorithm::Sha256 => "SHA-256",
    }
}

/// Maps member profiles to the rows LiveRamp receives. Build it once from a [`MappingConfig`],
/// then apply it to every member; it is immutable, `Send` and `Sync`.
///
/// The headers ([`Mapper::pii_headers`], [`Mapper::device_headers`]) depend only on the
/// config, never on the data, so they stay identical night after night.
#[derive(Debug, Clone)]
pub struct Mapper {
    config: MappingConfig,
    columns: Vec<Column>,
    pii_headers: Vec<String>,
    device_headers: Vec<String>,
    emails: Family,
    phones: Family,
    warnings: Vec<Warning>,
}

impl Mapper {
    /// Builds a mapper: expands the column tokens into headers and checks them (valid
    /// characters, at most 128 characters, unique).
    ///
    /// Takes the config by value or by reference.
    pub fn new(config: impl Borrow<MappingConfig>) -> Result<Mapper, Error> {
        let config = config.borrow().clone();
        for (setting, n) in [
            ("email_columns", config.email_columns),
            ("phone_columns", config.phone_columns),
        ] {
            if n == 0 || n > MappingConfig::MAX_SLOTS {
                return Err(Error::InvalidConfig {
                    setting,
                    problem: format!(
                        "{n} columns: use 1 to {} (LiveRamp recognises EMAIL1-EMAIL3 and \
                         PHONE1-PHONE2)",
                        MappingConfig::MAX_SLOTS
                    ),
                });
            }
        }
        let device_headers = vec![
            config.device_id_header.clone(),
            config.device_type_header.clone(),
        ];
        for header in &device_headers {
            validate_header(header)?;
        }
        if device_headers[0] == device_headers[1] {
            return Err(Error::DuplicateHeader {
                header: device_headers[0].clone(),
                file: "device",
            });
        }

        let (columns, pii_headers) = expand_columns(&config)?;
        let mut emails = Family::default();
        let mut phones = Family::default();
        for column in &columns {
            match *column {
                Column::Email(_, hash) => {
                    emails.slots = config.email_columns;
                    match hash {
                        None => emails.raw = true,
                        Some(a) => emails.hashes[alg_index(a)] = true,
                    }
                }
                Column::Phone(_, hash) => {
                    phones.slots = config.phone_columns;
                    match hash {
                        None => phones.raw = true,
                        Some(a) => phones.hashes[alg_index(a)] = true,
                    }
                }
                _ => {}
            }
        }

        let mut warnings = Vec::new();
        for algorithm in [HashAlgorithm::Md5, HashAlgorithm::Sha256] {
            if phones.wants(algorithm) {
                warnings.push(Warning::PhoneHashNotSha1 { algorithm });
            }
        }
        let mut has = ColumnSet::default();
        for column in &columns {
            if let Column::Attribute(i) = *column {
                has[i] = true;
            }
        }
        if !columns.is_empty() && emails.slots == 0 && phones.slots == 0 && !name_and_address(has) {
            warnings.push(Warning::NoMatchableColumns);
        }

        Ok(Mapper {
            config,
            columns,
            pii_headers,
            device_headers,
            emails,
            phones,
            warnings,
        })
    }

    /// The config this mapper was built from.
    pub fn config(&self) -> &MappingConfig {
        &self.config
    }

    /// The header row of the PII file (empty when no PII is sent).
    pub fn pii_headers(&self) -> &[String] {
        &self.pii_headers
    }

    /// The header row of the device file: `[device_id_header, device_type_header]`
    /// (`DEVICE_ID`, `ID_TYPE` by default).
    pub fn device_headers(&self) -> &[String] {
        &self.device_headers
    }

    /// Whether the config sends a PII file (at least one PII column).
    pub fn sends_pii(&self) -> bool {
        !self.columns.is_empty()
    }

    /// Whether the config sends a device file (at least one device ID type).
    pub fn sends_device_ids(&self) -> bool {
        !self.config.send_device_ids.is_empty()
    }

    /// What in the config LiveRamp may not accept (for example phone hashes other than SHA-1).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Maps one profile. For many profiles prefer [`Mapper::map_into`], which reuses buffers.
    pub fn map(&self, profile: &Profile) -> MappedMember {
        let mut out = MappedMember::new();
        self.map_into(profile, &mut out);
        out
    }

    /// Maps one profile into `out`, replacing what it held and reusing its buffers (cells keep
    /// their capacity from member to member).
    pub fn map_into(&self, profile: &Profile, out: &mut MappedMember) {
        out.device_rows.clear();
        out.rejections.clear();
        out.has_pii = false;
        if self.sends_device_ids() {
            self.map_devices(profile, out);
        }
        if self.sends_pii() {
            self.map_pii(profile, out);
        }
    }

    fn map_devices(&self, profile: &Profile, out: &mut MappedMember) {
        for identity in &profile.device_identities {
            let Some((id_type, field)) = DeviceIdType::from_identity(&identity.kind) else {
                continue;
            };
            if !self.config.send_device_ids.contains(&id_type) {
                continue;
            }
            let reject = |code| Rejection {
                code,
                field,
                column: Some("DEVICE_ID"),
            };
            if identity.encoding != Encoding::Raw {
                out.rejections.push(reject(match identity.encoding {
                    Encoding::Other(_) => "device.unknown_encoding",
                    _ => "device.hashed",
                }));
                continue;
            }
            let parsed = match id_type {
                DeviceIdType::Idfa => Idfa::parse(&identity.value).map(DeviceId::Idfa),
                DeviceIdType::Aaid => Aaid::parse(&identity.value).map(DeviceId::Aaid),
            };
            match parsed {
                Ok(id) => {
                    if !out.device_rows.iter().any(|row| row.id == id) {
                        out.device_rows.push(DeviceRow { id });
                    }
                }
                Err(rejected) => out.rejections.push(reject(rejected.code())),
            }
        }
    }

    fn map_pii(&self, profile: &Profile, out: &mut MappedMember) {
        let attrs = Reserved::scan(profile);
        for entry in out.emails.drain(..) {
            if let Entry::Raw(email, _) = entry {
                let mut buffer = email.into_buffer();
                buffer.clear();
                out.spare.push(buffer);
            }
        }
        out.phones.clear();
        if self.emails.slots > 0 {
            self.collect_emails(profile, out);
        }
        if self.phones.slots > 0 {
            self.collect_phones(profile, &attrs, out);
        }

        let width = self.columns.len();
        out.pii.resize_with(width, String::new);
        out.pii.truncate(width);
        let mut has_contact = false;
        let mut filled = ColumnSet::default();
        let MappedMember {
            pii,
            rejections,
            emails,
            phones,
            ..
        } = out;
        for (column, cell) in self.columns.iter().zip(pii.iter_mut()) {
            cell.clear();
            match column {
                Column::Attribute(i) => {
                    let i = *i;
                    filled[i] = fill(cell, attrs.columns[i], &ATTRIBUTE_COLUMNS[i], rejections);
                }
                Column::Email(slot, hash) => {
                    if let Some(entry) = emails.get_mut(*slot) {
                        entry.write(*hash, cell);
                    }
                    has_contact |= !cell.is_empty();
                }
                Column::Phone(slot, hash) => {
                    if let Some(entry) = phones.get_mut(*slot) {
                        entry.write(*hash, cell);
                    }
                    has_contact |= !cell.is_empty();
                }
                Column::Custom(source) => {
                    if let Some(value) = custom_value(profile, source) {
                        cell.push_str(value.trim());
                    }
                }
            }
        }
        if has_contact || name_and_address(filled) {
            out.has_pii = true;
        } else {
            out.rejections.push(Rejection {
                code: "pii.no_matchable_identifier",
                field: "profile",
                column: None,
            });
        }
    }

    fn collect_emails(&self, profile: &Profile, out: &mut MappedMember) {
        let family = self.emails;
        for identity in &profile.user_identities {
            if identity.kind.eq_ignore_ascii_case("email") {
                let candidate = match &identity.encoding {
                    Encoding::Raw => Email::parse_with(&identity.value, out.spare_buffer())
                        .map(Candidate::Raw)
                        .map_err(NotTaken::from),
                    other => hashed_candidate(other, identity, family, "email"),
                };
                push_candidate(candidate, family, EMAIL_FIELD, "EMAIL", out);
            }
        }
        if self.config.emails_from_other_identities {
            for identity in &profile.user_identities {
                if identity.kind.eq_ignore_ascii_case("other") && identity.encoding == Encoding::Raw
                {
                    // Only values that are emails: anything else is some other identifier.
                    if let Ok(email) = Email::parse_with(&identity.value, out.spare_buffer()) {
                        push_candidate(
                            Ok(Candidate::Raw(email)),
                            family,
                            OTHER_FIELD,
                            "EMAIL",
                            out,
                        );
                    }
                }
            }
        }
    }

    fn collect_phones(&self, profile: &Profile, attrs: &Reserved<'_>, out: &mut MappedMember) {
        let family = self.phones;
        for (kind, field) in PHONE_IDENTITIES {
            for identity in &profile.user_identities {
                if identity.kind.eq_ignore_ascii_case(kind) {
                    let candidate = match &identity.encoding {
                        Encoding::Raw => Phone::parse(&identity.value)
                            .map(Candidate::Raw)
                            .map_err(NotTaken::from),
                        other => hashed_candidate(other, identity, family, "phone"),
                    };
                    push_candidate(candidate, family, field, "PHONE", out);
                }
            }
        }
        if let Some(value) = attrs.mobile.and_then(AttributeValue::as_text) {
            push_candidate(
                Phone::parse(value)
                    .map(Candidate::Raw)
                    .map_err(NotTaken::from),
                family,
                MOBILE_FIELD,
                "PHONE",
                out,
            );
        }
    }
}

impl TryFrom<MappingConfig> for Mapper {
    type Error = Error;

    fn try_from(config: MappingConfig) -> Result<Self, Self::Error> {
        Mapper::new(config)
    }
}

const EMAIL_FIELD: &str = "user_identities.email";
const OTHER_FIELD: &str = "user_identities.other";
/// The reserved user attribute that is a phone source (after the phone identities).
const MOBILE_ATTRIBUTE: &str = "$Mobile";
const MOBILE_FIELD: &str = "user_attributes.$Mobile";
const PHONE_IDENTITIES: [(&str, &str); 3] = [
    ("mobile_number", "user_identities.mobile_number"),
    ("phone_number_2", "user_identities.phone_number_2"),
    ("phone_number_3", "user_identities.phone_number_3"),
];

/// Normalises one built-in attribute into the (empty) `cell` with its column's cleaner;
/// counts a failure. Returns whether the value was taken.
fn fill(
    cell: &mut String,
    value: Option<&AttributeValue>,
    column: &AttributeColumn,
    rejections: &mut Vec<Rejection>,
) -> bool {
    // Null means absent: nothing to send, nothing rejected.
    let Some(text) = value.and_then(AttributeValue::as_text) else {
        return false;
    };
    match column.clean.clean(text, cell) {
        Ok(()) => true,
        Err(code) => {
            rejections.push(Rejection {
                code,
                field: column.field,
                column: Some(column.header),
            });
            false
        }
    }
}

/// The reserved user attributes, found in one pass (the last of a repeated name wins).
struct Reserved<'a> {
    /// The attribute of each row of [`ATTRIBUTE_COLUMNS`], by index.
    columns: [Option<&'a AttributeValue>; ATTRIBUTE_COLUMNS.len()],
    /// [`MOBILE_ATTRIBUTE`].
    mobile: Option<&'a AttributeValue>,
}

impl<'a> Reserved<'a> {
    fn scan(profile: &'a Profile) -> Reserved<'a> {
        let mut r = Reserved {
            columns: [None; ATTRIBUTE_COLUMNS.len()],
            mobile: None,
        };
        for (name, value) in profile.user_attributes.iter() {
            if !name.starts_with('$') {
                continue;
            }
            let slot = if name == MOBILE_ATTRIBUTE {
                &mut r.mobile
            } else if let Some(i) = ATTRIBUTE_COLUMNS.iter().position(|c| c.attribute == name) {
                &mut r.columns[i]
            } else {
                continue;
            };
            *slot = Some(value);
        }
        r
    }
}

fn custom_value<'p>(profile: &'p Profile, source: &ColumnSource) -> Option<&'p str> {
    match source {
        ColumnSource::Identity(kind) => profile
            .user_identities
            .iter()
            .chain(&profile.device_identities)
            .filter(|i| i.kind == *kind)
            .map(|i| i.value.as_str())
            .find(|v| !v.trim().is_empty()),
        ColumnSource::UserAttribute(name) => profile
            .user_attributes
            .get(name)
            .and_then(AttributeValue::as_text),
        ColumnSource::CalculatedAttribute(name) => profile
            .calculated_attributes
            .get(name)
            .and_then(AttributeValue::as_text),
    }
}

/// A normalised email or phone, or a hash the sender made.
enum Candidate<T> {
    Raw(T),
    Hashed(HashAlgorithm, String),
}

/// Why a candidate was not taken, as a code.
struct NotTaken(&'static str);

impl From<Rejected> for NotTaken {
    fn from(r: Rejected) -> Self {
        NotTaken(r.code())
    }
}

fn hashed_candidate<T>(
    encoding: &Encoding,
    identity: &Identity,
    family: Family,
    kind: &'static str,
) -> Result<Candidate<T>, NotTaken> {
    let codes = if kind == "email" {
        [
            "email.unknown_encoding",
            "email.bad_hash",
            "email.hash_column_not_selected",
        ]
    } else {
        [
            "phone.unknown_encoding",
            "phone.bad_hash",
            "phone.hash_column_not_selected",
        ]
    };
    let algorithm = match encoding {
        Encoding::Md5 => HashAlgorithm::Md5,
        Encoding::Sha1 => HashAlgorithm::Sha1,
        Encoding::Sha256 => HashAlgorithm::Sha256,
        Encoding::Raw | Encoding::Other(_) => return Err(NotTaken(codes[0])),
    };
    let value = identity.value.trim();
    if !looks_hashed(value, algorithm) {
        return Err(NotTaken(codes[1]));
    }
    if !family.wants(algorithm) {
        return Err(NotTaken(codes[2]));
    }
    Ok(Candidate::Hashed(algorithm, value.to_ascii_lowercase()))
}

/// One email or phone slot of the row, with the digests computed so far (each at most once).
#[derive(Debug)]
enum Entry<T> {
    Raw(T, [Option<HexDigest>; 3]),
    Hashed(HashAlgorithm, String),
}

impl<T: AsRef<str>> Entry<T> {
    fn digest(&mut self, algorithm: HashAlgorithm) -> Option<&HexDigest> {
        match self {
            Entry::Raw(value, cache) => {
                let slot = &mut cache[alg_index(algorithm)];
                Some(slot.get_or_insert_with(|| digest(algorithm, value.as_ref())))
            }
            Entry::Hashed(..) => None,
        }
    }

    fn write(&mut self, hash: Option<HashAlgorithm>, cell: &mut String) {
        match (hash, &*self) {
            (None, Entry::Raw(value, _)) => cell.push_str(value.as_ref()),
            (Some(algorithm), Entry::Raw(..)) => {
                if let Some(d) = self.digest(algorithm) {
                    cell.push_str(d.as_str());
                }
            }
            (Some(algorithm), Entry::Hashed(own, hex)) if *own == algorithm => cell.push_str(hex),
            _ => {}
        }
    }
}

/// Access to one family's slots inside a [`MappedMember`].
trait Slots {
    type Value: AsRef<str> + PartialEq;
    fn slots(out: &mut MappedMember) -> (&mut Vec<Entry<Self::Value>>, &mut Vec<Rejection>);
}

impl Slots for Email {
    type Value = Email;
    fn slots(out: &mut MappedMember) -> (&mut Vec<Entry<Email>>, &mut Vec<Rejection>) {
        (&mut out.emails, &mut out.rejections)
    }
}

impl Slots for Phone {
    type Value = Phone;
    fn slots(out: &mut MappedMember) -> (&mut Vec<Entry<Phone>>, &mut Vec<Rejection>) {
        (&mut out.phones, &mut out.rejections)
    }
}

/// Adds a candidate to its family's slots: de-duplicated (also a sender's hash of a value that
/// is already there raw), at most `family.slots`; anything not taken is a rejection.
fn push_candidate<T: Slots<Value = T> + AsRef<str> + PartialEq>(
    candidate: Result<Candidate<T>, NotTaken>,
    family: Family,
    field: &'static str,
    column: &'static str,
    out: &mut MappedMember,
) {
    let (entries, rejections) = T::slots(out);
    let reject = |code| Rejection {
        code,
        field,
        column: Some(column),
    };
    let over_limit = if column == "EMAIL" {
        "email.over_column_limit"
    } else {
        "phone.over_column_limit"
    };
    match candidate {
        Err(NotTaken(code)) => rejections.push(reject(code)),
        Ok(Candidate::Raw(value)) => {
            if entries
                .iter()
                .any(|e| matches!(e, Entry::Raw(v, _) if *v == value))
            {
                return;
            }
            // A hash the sender made of this very value: upgrade that slot to the raw value.
            let mut new = Entry::Raw(value, [None; 3]);
            for entry in entries.iter_mut() {
                if let Entry::Hashed(algorithm, hex) = entry {
                    let algorithm = *algorithm;
                    if new.digest(algorithm).is_some_and(|d| d.as_str() == hex) {
                        *entry = new;
                        return;
                    }
                }
            }
            if entries.len() < family.slots {
                entries.push(new);
            } else {
                rejections.push(reject(over_limit));
            }
        }
        Ok(Candidate::Hashed(algorithm, hex)) => {
            for entry in entries.iter_mut() {
                let same = match entry {
                    Entry::Hashed(a, h) => *a == algorithm && *h == hex,
                    Entry::Raw(..) => entry.digest(algorithm).is_some_and(|d| d.as_str() == hex),
                };
                if same {
                    return;
                }
            }
            if entries.len() < family.slots {
                entries.push(Entry::Hashed(algorithm, hex));
            } else {
                rejections.push(reject(over_limit));
            }
        }
    }
}

/// A normalised mobile advertising ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DeviceId {
    Idfa(Idfa),
    Aaid(Aaid),
}

/// One row of the device file: the normalised ID and its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceRow {
    id: DeviceId,
}

impl DeviceRow {
    /// The normalised ID: an IDFA upper case, an AAID lower case, both with hyphens.
    pub fn device_id(&self) -> &str {
        match &self.id {
            DeviceId::Idfa(id) => id.as_str(),
            DeviceId::Aaid(id) => id.as_str(),
        }
    }

    /// The ID's type (the `ID_TYPE` column).
    pub fn id_type(&self) -> DeviceIdType {
        match self.id {
            DeviceId::Idfa(_) => DeviceIdType::Idfa,
            DeviceId::Aaid(_) => DeviceIdType::Aaid,
        }
    }

    /// The row's fields, in the order of [`Mapper::device_headers`].
    pub fn fields(&self) -> [&str; 2] {
        [self.device_id(), self.id_type().as_str()]
    }
}

/// What the mapping made of one member: its device rows, its PII row (or none) and the
/// values it rejected. Reuse one across members with [`Mapper::map_into`].
#[derive(Debug, Default)]
pub struct MappedMember {
    device_rows: Vec<DeviceRow>,
    pii: Vec<String>,
    has_pii: bool,
    rejections: Vec<Rejection>,
    emails: Vec<Entry<Email>>,
    phones: Vec<Entry<Phone>>,
    /// Email buffers from earlier members, reused by the next ones.
    spare: Vec<String>,
}

impl MappedMember {
    /// An empty result, ready for [`Mapper::map_into`].
    pub fn new() -> MappedMember {
        MappedMember::default()
    }

    /// A buffer for the next email (reused from an earlier member when there is one).
    fn spare_buffer(&mut self) -> String {
        self.spare.pop().unwrap_or_default()
    }

    /// The device rows: one per distinct valid device ID of the selected types, in profile
    /// order.
    pub fn device_rows(&self) -> &[DeviceRow] {
        &self.device_rows
    }

    /// The PII row, one field per [`Mapper::pii_headers`] entry (empty fields are empty
    /// strings); `None` when PII is not sent or the member has nothing LiveRamp can match on.
    pub fn pii_row(&self) -> Option<&[String]> {
        self.has_pii.then_some(self.pii.as_slice())
    }

    /// The values the mapping did not send, and why, in the order found.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }
}

/// Checks a header: non-empty, at most 128 characters of `A-Z`, `0-9`, `_`, `-`.
fn validate_header(header: &str) -> Result<(), Error> {
    let reason = if header.is_empty() {
        Some("it is empty")
    } else if header.len() > MAX_HEADER_LEN {
        Some("it is longer than 128 characters")
    } else if !header
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Some("it contains a character other than A-Z, 0-9, `_` and `-`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidHeader {
            header: header.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Expands the config's tokens into columns and their headers, checking the headers.
fn expand_columns(config: &MappingConfig) -> Result<(Vec<Column>, Vec<String>), Error> {
    let mut columns = Vec::new();
    let mut headers: Vec<String> = Vec::new();
    let mut push = |column: Column, header: String| -> Result<(), Error> {
        validate_header(&header)?;
        if headers.contains(&header) {
            return Err(Error::DuplicateHeader {
                header,
                file: "PII",
            });
        }
        columns.push(column);
        headers.push(header);
        Ok(())
    };
    let family = |hashing_on: bool, hashes: &[HashAlgorithm], hash: Option<HashAlgorithm>| match (
        hash, hashing_on,
    ) {
        (None, true) => hashes.iter().copied().map(Some).collect::<Vec<_>>(),
        (hash, _) => vec![hash],
    };
    let mut placed = vec![false; config.custom_columns.len()];
    for token in &config.send_pii {
        if let Some(i) = config
            .custom_columns
            .iter()
            .position(|c| c.header == *token)
        {
            if builtin_token(token).is_some() {
                return Err(Error::InvalidHeader {
                    header: token.clone(),
                    reason: "a custom column may not take the name of a built-in column token",
                });
            }
            placed[i] = true;
            push(
                Column::Custom(config.custom_columns[i].source.clone()),
                token.clone(),
            )?;
            continue;
        }
        match builtin_token(token) {
            None => {
                return Err(Error::UnknownColumn {
                    token: token.clone(),
                });
            }
            Some(Token::Attribute(i)) => {
                push(Column::Attribute(i), ATTRIBUTE_COLUMNS[i].header.to_owned())?;
            }
            Some(Token::Family(FamilyKind::Email, hash)) => {
                let hashes = family(config.hash_emails_and_phones, &config.email_hashes, hash);
                if hashes.is_empty() {
                    return Err(empty_hashes("email_hashes", "EMAIL"));
                }
                for hash in hashes {
                    for slot in 0..config.email_columns {
                        push(Column::Email(slot, hash), slot_header("EMAIL", slot, hash))?;
                    }
                }
            }
            Some(Token::Family(FamilyKind::Phone, hash)) => {
                let hashes = family(config.hash_emails_and_phones, &config.phone_hashes, hash);
                if hashes.is_empty() {
                    return Err(empty_hashes("phone_hashes", "PHONE"));
                }
                for hash in hashes {
                    for slot in 0..config.phone_columns {
                        push(Column::Phone(slot, hash), slot_header("PHONE", slot, hash))?;
                    }
                }
            }
        }
    }
    for (custom, placed) in config.custom_columns.iter().zip(placed) {
        if !placed {
            if builtin_token(&custom.header).is_some() {
                return Err(Error::InvalidHeader {
                    header: custom.header.clone(),
                    reason: "a custom column may not take the name of a built-in column token",
                });
            }
            push(Column::Custom(custom.source.clone()), custom.header.clone())?;
        }
    }
    Ok((columns, headers))
}

fn empty_hashes(setting: &'static str, token: &str) -> Error {
    Error::InvalidConfig {
        setting,
        problem: format!(
            "it is empty while hash_emails_and_phones is on, so {token} would have no column: \
             list at least one of md5, sha1, sha256, or turn hashing off"
        ),
    }
}

fn slot_header(family: &str, slot: usize, hash: Option<HashAlgorithm>) -> String {
    match hash {
        None => format!("{family}{}", slot + 1),
        Some(algorithm) => format!("{family}{}_{}", slot + 1, hash_suffix(algorithm)),
    }
}
