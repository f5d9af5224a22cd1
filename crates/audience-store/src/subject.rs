//! Data subject requests (GDPR / CCPA): what a request is, how its identities are matched
//! against stored members, and the salted tokens that prove an erasure without keeping the
//! identities.
//!
//! Matching works on *forms*: an identity of class `email` given raw as `Jane@X.com ` has the
//! forms `sha256:<hex of jane@x.com>`, `md5:<hex>` and `sha1:<hex>` (the normalised value
//! hashed); given as `sha256` it has the one form `sha256:<the hex in lower case>`. Two
//! identities of one class match when they share a form, so a raw email matches its own
//! SHA-256 and the other way round. The store keeps only salted SHA-256 hashes of forms
//! (tokens): the request's raw values are never written.

use std::collections::HashSet;

use liveramp_pii_normalize::{Email, HashAlgorithm, Phone, digest};
use sha2::{Digest, Sha256};

use crate::message::Identity;

/// What a data subject asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// `erasure`: remove the person from every audience and every table, and keep later,
    /// older changes from bringing them back.
    Erasure,
    /// `access`: record the request; [`AudienceStore::export_subject`] writes what is held.
    ///
    /// [`AudienceStore::export_subject`]: crate::AudienceStore::export_subject
    Access,
    /// `portability`: as `access`.
    Portability,
}

impl RequestKind {
    /// The keyword as mParticle writes it (`erasure`, `access`, `portability`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Erasure => "erasure",
            RequestKind::Access => "access",
            RequestKind::Portability => "portability",
        }
    }

    /// The kind named by `name` (as [`as_str`](RequestKind::as_str) writes it).
    pub fn parse(name: &str) -> Option<RequestKind> {
        match name {
            "erasure" => Some(RequestKind::Erasure),
            "access" => Some(RequestKind::Access),
            "portability" => Some(RequestKind::Portability),
            _ => None,
        }
    }
}

/// A data subject request as the store sees it: who (identities) and what (kind).
///
/// The identity types are mParticle's (`email`, `mobile_number`, `ios_advertising_id`,
/// `android_advertising_id`, `customer_id`, ...; `mpid` matches the member key), with
/// encodings `raw`, `md5`, `sha1` or `sha256`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectRequest {
    /// The request's id (mParticle's `subject_request_id`): a request is applied once.
    pub id: String,
    /// Erasure, access or portability.
    pub kind: RequestKind,
    /// `gdpr`, `ccpa`, ... when given.
    pub regulation: Option<String>,
    /// The request's time (the Firehose message's `timestamp_ms`): membership changes older
    /// than it do not bring an erased person back; newer ones do.
    pub timestamp_ms: i64,
    /// When the data subject submitted it, milliseconds since the epoch, when given.
    pub submitted_ms: Option<i64>,
    /// The identities of the data subject.
    pub identities: Vec<Identity>,
}

impl std::fmt::Debug for SubjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identities are the data subject's PII: only their types are shown.
        let types: Vec<&str> = self.identities.iter().map(|i| i.kind.as_str()).collect();
        f.debug_struct("SubjectRequest")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("regulation", &self.regulation)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("submitted_ms", &self.submitted_ms)
            .field("identity_types", &types)
            .finish()
    }
}

impl SubjectRequest {
    /// A request without identities (add them with [`identity`](SubjectRequest::identity)).
    pub fn new(id: impl Into<String>, kind: RequestKind, timestamp_ms: i64) -> SubjectRequest {
        SubjectRequest {
            id: id.into(),
            kind,
            regulation: None,
            timestamp_ms,
            submitted_ms: None,
            identities: Vec::new(),
        }
    }

    /// Adds an identity of the data subject, e.g. `.identity("email", "raw", "jane@x.com")`.
    #[must_use]
    pub fn identity(
        mut self,
        kind: impl Into<String>,
        encoding: impl Into<String>,
        value: impl Into<String>,
    ) -> SubjectRequest {
        self.identities.push(Identity::new(kind, encoding, value));
        self
    }

    /// Sets the regulation (`gdpr`, `ccpa`).
    #[must_use]
    pub fn regulation(mut self, regulation: impl Into<String>) -> SubjectRequest {
        self.regulation = Some(regulation.into());
        self
    }

    /// Sets when the data subject submitted the request.
    #[must_use]
    pub fn submitted_ms(mut self, submitted_ms: i64) -> SubjectRequest {
        self.submitted_ms = Some(submitted_ms);
        self
    }
}

/// What the store keeps of a request: the audit record. It holds no identity values, only
/// their types.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectRecord {
    /// The request's id.
    pub id: String,
    /// Erasure, access or portability.
    pub kind: RequestKind,
    /// The regulation, when given.
    pub regulation: Option<String>,
    /// The request's time (see [`SubjectRequest::timestamp_ms`]).
    pub timestamp_ms: i64,
    /// When the data subject submitted it, when given.
    pub submitted_ms: Option<i64>,
    /// When this store recorded (and, for an erasure, carried out) the request: wall clock.
    pub recorded_ms: i64,
    /// The types of the identities given, sorted, e.g. `["email", "ios_advertising_id"]`.
    pub identity_types: Vec<String>,
    /// Members whose identities matched when the request was recorded.
    pub members_matched: u64,
    /// Members removed (an erasure: every matched member).
    pub members_removed: u64,
    /// (audience, member) rows removed with them.
    pub memberships_removed: u64,
    /// Audiences the removed members were present in at the time.
    pub audiences_affected: u64,
}

impl SubjectRecord {
    /// `erased` for an erasure (carried out when recorded), `recorded` for the others.
    pub fn status(&self) -> &'static str {
        match self.kind {
            RequestKind::Erasure => "erased",
            _ => "recorded",
        }
    }
}

/// What [`AudienceStore::record_subject_request`](crate::AudienceStore::record_subject_request)
/// did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectOutcome {
    /// The request's audit record (as stored before, for a repeated request).
    pub record: SubjectRecord,
    /// Whether the request's id had been recorded before: nothing was done again.
    pub duplicate: bool,
}

/// The class an identity type belongs to: identities match only within a class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    Email,
    Phone,
    Idfa,
    Aaid,
    CustomerId,
    Key,
    Other(String),
}

impl Class {
    pub(crate) fn of(kind: &str) -> Class {
        match kind {
            "email" => Class::Email,
            "mobile_number" | "phone_number_2" | "phone_number_3" | "phone" => Class::Phone,
            "ios_advertising_id" | "idfa" => Class::Idfa,
            "android_advertising_id" | "google_advertising_id" | "aaid" => Class::Aaid,
            "customer_id" | "customer" => Class::CustomerId,
            "mpid" => Class::Key,
            other => Class::Other(other.to_owned()),
        }
    }

    fn tag(&self) -> &str {
        match self {
            Class::Email => "email",
            Class::Phone => "phone",
            Class::Idfa => "idfa",
            Class::Aaid => "aaid",
            Class::CustomerId => "customer_id",
            Class::Key => "key",
            Class::Other(kind) => kind,
        }
    }

    /// The value as compared: emails and phones normalised as `LiveRamp` wants them (or, when
    /// they do not parse, trimmed and lower-cased / reduced to digits), device ids in lower
    /// case, the rest trimmed.
    fn normalise(&self, raw: &str) -> String {
        match self {
            Class::Email => Email::parse(raw)
                .map_or_else(|_| raw.trim().to_lowercase(), |e| e.as_str().to_owned()),
            Class::Phone => Phone::parse(raw).map_or_else(
                |_| raw.chars().filter(char::is_ascii_digit).collect(),
                |p| p.as_str().to_owned(),
            ),
            Class::Idfa | Class::Aaid => raw.trim().to_ascii_lowercase(),
            Class::CustomerId | Class::Key | Class::Other(_) => raw.trim().to_owned(),
        }
    }
}

/// Which hash forms a raw value is compared in (always SHA-256; MD5 and SHA-1 when the
/// request holds a value hashed that way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Algorithms(pub(crate) u8);

impl Algorithms {
    pub(crate) const ALL: Algorithms = Algorithms(0b111);
    const MD5: u8 = 0b010;
    const SHA1: u8 = 0b100;

    fn list(self) -> impl Iterator<Item = HashAlgorithm> {
        [
            (true, HashAlgorithm::Sha256),
            (self.0 & Algorithms::MD5 != 0, HashAlgorithm::Md5),
            (self.0 & Algorithms::SHA1 != 0, HashAlgorithm::Sha1),
        ]
        .into_iter()
        .filter_map(|(on, a)| on.then_some(a))
    }
}

fn algorithm_name(a: HashAlgorithm) -> &'static str {
    match a {
        HashAlgorithm::Md5 => "md5",
        HashAlgorithm::Sha1 => "sha1",
        HashAlgorithm::Sha256 => "sha256",
    }
}

fn hashed_encoding(encoding: &str) -> Option<HashAlgorithm> {
    match encoding.to_ascii_lowercase().as_str() {
        "md5" => Some(HashAlgorithm::Md5),
        "sha1" => Some(HashAlgorithm::Sha1),
        "sha256" => Some(HashAlgorithm::Sha256),
        _ => None,
    }
}

/// A salted token: SHA-256 of the salt, the class and one form.
pub(crate) type Token = [u8; 32];

/// Computes the tokens of identities with one store's salt.
#[derive(Clone)]
pub(crate) struct Tokens {
    salt: Vec<u8>,
}

impl Tokens {
    pub(crate) fn new(salt: Vec<u8>) -> Tokens {
        Tokens { salt }
    }

    fn token(&self, class: &Class, form: &str) -> Token {
        let mut h = Sha256::new();
        h.update(&self.salt);
        h.update(class.tag().as_bytes());
        h.update([0]);
        h.update(form.as_bytes());
        h.finalize().into()
    }

    /// The tokens of one identity, in the forms `algorithms` asks for (a hashed value has
    /// its one form whatever `algorithms` says).
    fn identity(
        &self,
        kind: &str,
        encoding: &str,
        value: &str,
        algorithms: Algorithms,
    ) -> Vec<Token> {
        let class = Class::of(kind);
        if value.trim().is_empty() {
            return Vec::new();
        }
        if class == Class::Key {
            return vec![self.token(&class, value.trim())];
        }
        let enc = encoding.trim();
        if enc.is_empty() || enc.eq_ignore_ascii_case("raw") {
            let normalised = class.normalise(value);
            algorithms
                .list()
                .map(|a| {
                    let form = format!("{}:{}", algorithm_name(a), digest(a, &normalised));
                    self.token(&class, &form)
                })
                .collect()
        } else if let Some(a) = hashed_encoding(enc) {
            let form = format!(
                "{}:{}",
                algorithm_name(a),
                value.trim().to_ascii_lowercase()
            );
            vec![self.token(&class, &form)]
        } else {
            let form = format!("{}:{}", enc.to_ascii_lowercase(), value.trim());
            vec![self.token(&class, &form)]
        }
    }

    /// The request's tokens (raw values in every form) and the forms stored raw values must
    /// be compared in to meet them.
    pub(crate) fn request(&self, request: &SubjectRequest) -> (Vec<Token>, Algorithms) {
        let mut algorithms = Algorithms(1);
        let mut tokens = Vec::new();
        for i in &request.identities {
            match hashed_encoding(i.encoding.trim()) {
                Some(HashAlgorithm::Md5) => algorithms.0 |= Algorithms::MD5,
                Some(HashAlgorithm::Sha1) => algorithms.0 |= Algorithms::SHA1,
                _ => {}
            }
            tokens.extend(self.identity(&i.kind, &i.encoding, &i.value, Algorithms::ALL));
        }
        tokens.sort_unstable();
        tokens.dedup();
        (tokens, algorithms)
    }

    /// A stored member's tokens: its key and every identity, raw ones in the forms
    /// `algorithms` asks for. `None` when the stored identities are not readable.
    pub(crate) fn member(
        &self,
        key: &str,
        fragment: &str,
        algorithms: Algorithms,
    ) -> Option<Vec<Token>> {
        let stored = parse_fragment(fragment)?;
        let mut tokens = vec![self.token(&Class::Key, key)];
        for i in stored
            .user_identities
            .iter()
            .chain(&stored.device_identities)
        {
            tokens.extend(self.identity(&i.kind, &i.encoding, &i.value, algorithms));
        }
        Some(tokens)
    }
}

/// Whether a stored member matches a request's token set.
pub(crate) fn matches(member: &[Token], request: &HashSet<Token>) -> bool {
    member.iter().any(|t| request.contains(t))
}

#[derive(serde::Deserialize)]
struct StoredIdentity {
    #[serde(rename = "type")]
    kind: String,
    encoding: String,
    value: String,
}

#[derive(serde::Deserialize)]
struct Stored {
    user_identities: Vec<StoredIdentity>,
    device_identities: Vec<StoredIdentity>,
}

/// Reads a stored identity fragment (`"mpid":…,"user_identities":[…],"device_identities":[…]`).
fn parse_fragment(fragment: &str) -> Option<Stored> {
    let mut object = String::with_capacity(fragment.len() + 2);
    object.push('{');
    object.push_str(fragment);
    object.push('}');
    serde_json::from_str(&object).ok()
}

/// One audience row of an exported member: id, name, present, the stored attributes.
pub(crate) type ExportAudience = (i64, Option<String>, bool, Option<Vec<u8>>);

/// Appends one exported member: `{"key":…,<fragment>,"audiences":[…]}` where each audience is
/// `{"audience_id":…,"name":…,"member":true,"user_attributes":{…}}`.
pub(crate) fn push_export_member(
    out: &mut Vec<u8>,
    key: &str,
    fragment: &str,
    audiences: &[ExportAudience],
) -> Result<(), crate::pair::Corrupt> {
    out.extend_from_slice(b"{\"key\":");
    crate::key::push_json_str(out, key);
    out.push(b',');
    out.extend_from_slice(fragment.as_bytes());
    out.extend_from_slice(b",\"audiences\":[");
    for (i, (id, name, present, attrs)) in audiences.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("{{\"audience_id\":{id},\"name\":").as_bytes());
        match name {
            Some(n) => crate::key::push_json_str(out, n),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(format!(",\"member\":{present},\"user_attributes\":{{").as_bytes());
        crate::pair::render_attrs(attrs.as_deref(), out)?;
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// The head of an export: `{"request":{…},"members":[`.
pub(crate) fn push_export_head(out: &mut Vec<u8>, record: &SubjectRecord) {
    out.extend_from_slice(b"{\"request\":{\"id\":");
    crate::key::push_json_str(out, &record.id);
    out.extend_from_slice(b",\"type\":");
    crate::key::push_json_str(out, record.kind.as_str());
    out.extend_from_slice(b",\"regulation\":");
    match &record.regulation {
        Some(r) => crate::key::push_json_str(out, r),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(
        format!(
            ",\"timestamp_ms\":{},\"recorded_ms\":{}}},\"members\":[",
            record.timestamp_ms, record.recorded_ms
        )
        .as_bytes(),
    );
}

/// A new audit record for `request`, before anything is removed, and its identity types
/// joined by commas (as stored).
pub(crate) fn new_record(request: &SubjectRequest, matched: usize) -> (SubjectRecord, String) {
    let mut types: Vec<&str> = request.identities.iter().map(|i| i.kind.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let record = SubjectRecord {
        id: request.id.clone(),
        kind: request.kind,
        regulation: request.regulation.clone(),
        timestamp_ms: request.timestamp_ms,
        submitted_ms: request.submitted_ms,
        recorded_ms: now_ms(),
        identity_types: types.iter().map(|t| (*t).to_owned()).collect(),
        members_matched: u64::try_from(matched).unwrap_or(u64::MAX),
        members_removed: 0,
        memberships_removed: 0,
        audiences_affected: 0,
    };
    (record, types.join(","))
}

/// The identity types as stored (comma-separated) back as a list.
pub(crate) fn split_types(types: &str) -> Vec<String> {
    types
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Per profile of `batch` (by key index): whether an erasure newer than its message covers
/// it, by `tombstoned(token, message ts)`. Only messages older than `newest_erasure_ms` (the
/// newest erasure's time) are looked at, so without recent erasures this costs nothing.
pub(crate) fn erased_profiles<E>(
    tokens: &Tokens,
    batch: &crate::prepare::Prepared,
    skip: &[bool],
    newest_erasure_ms: i64,
    mut tombstoned: impl FnMut(&Token, i64) -> Result<bool, E>,
) -> Result<Vec<bool>, E> {
    let mut erased = vec![false; batch.keys.len()];
    for id in &batch.idents {
        let ts = batch.messages[id.msg].ts;
        if skip[id.msg] || ts >= newest_erasure_ms || erased[id.key] {
            continue;
        }
        let Some(member) = tokens.member(&batch.keys[id.key], &id.fragment, Algorithms::ALL) else {
            continue;
        };
        for t in &member {
            if tombstoned(t, ts)? {
                erased[id.key] = true;
                break;
            }
        }
    }
    Ok(erased)
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(t: Vec<Token>) -> HashSet<Token> {
        t.into_iter().collect()
    }

    #[test]
    fn raw_matches_hashed_and_back() {
        let t = Tokens::new(b"salt".to_vec());
        let sha = liveramp_pii_normalize::hex_digest(HashAlgorithm::Sha256, "jane@x.com");
        let md5 = liveramp_pii_normalize::hex_digest(HashAlgorithm::Md5, "jane@x.com");
        let raw = SubjectRequest::new("r", RequestKind::Erasure, 1).identity(
            "email",
            "raw",
            " Jane@X.com",
        );
        let (tokens, algorithms) = t.request(&raw);
        let stored_hashed = format!(
            r#""user_identities":[{{"type":"email","encoding":"sha256","value":"{}"}}],"device_identities":[]"#,
            sha.to_uppercase()
        );
        let member = t.member("1", &stored_hashed, algorithms).unwrap();
        assert!(matches(&member, &set(tokens)));

        let hashed =
            SubjectRequest::new("r", RequestKind::Erasure, 1).identity("email", "md5", &md5);
        let (tokens, algorithms) = t.request(&hashed);
        assert_eq!(algorithms, Algorithms(0b011));
        let stored_raw = r#""user_identities":[{"type":"email","encoding":"raw","value":"JANE@x.com"}],"device_identities":[]"#;
        assert!(matches(
            &t.member("1", stored_raw, algorithms).unwrap(),
            &set(tokens.clone())
        ));
        // Another class with the same value does not match.
        let other = r#""user_identities":[{"type":"other","encoding":"raw","value":"jane@x.com"}],"device_identities":[]"#;
        assert!(!matches(
            &t.member("1", other, algorithms).unwrap(),
            &set(tokens)
        ));
    }

    #[test]
    fn salt_changes_tokens() {
        let r = SubjectRequest::new("r", RequestKind::Access, 1).identity("mpid", "raw", "42");
        assert_ne!(
            Tokens::new(vec![1]).request(&r).0,
            Tokens::new(vec![2]).request(&r).0
        );
    }

    #[test]
    fn debug_shows_no_values() {
        let r = SubjectRequest::new("r", RequestKind::Erasure, 1).identity(
            "email",
            "raw",
            "jane@x.com",
        );
        let shown = format!("{r:?}");
        assert!(!shown.contains("jane"), "{shown}");
        assert!(shown.contains("\"email\""), "{shown}");
    }
}
