//! mParticle's Firehose messages into the membership store: the one place the Firehose
//! envelope meets the store's plain values, used by `liveramp ingest` (a file of messages) and
//! by the HTTP endpoint (one message per request).

use std::fmt;
use std::io::{BufRead, Read};

use liveramp_audience_store as store;
use liveramp_audience_store::{ApplySummary, AudienceStore};
use liveramp_firehose as firehose;

use crate::error::Error;

/// Messages (or profiles, whichever comes first) applied to the store at a time by
/// [`ingest`]: large batches make few commits.
pub const INGEST_BATCH_MESSAGES: usize = 2_000;
/// Profiles per batch of [`ingest`].
pub const INGEST_BATCH_PROFILES: usize = 20_000;
/// A line of [`ingest`]'s input longer than this is malformed (mParticle's bodies are far
/// smaller).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// A Firehose message the store cannot take as it is (its values are never quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The JSON path of what is wrong, e.g. `user_profiles[0].audiences[1].audience_id`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for Unusable {}

fn audience_id(id: u64, path: impl FnOnce() -> String) -> Result<i64, Unusable> {
    i64::try_from(id).map_err(|_| Unusable {
        path: path(),
        reason: format!(
            "{id} is larger than the largest audience id the store keeps ({})",
            i64::MAX
        ),
    })
}

/// A `dsr_processing_request` as the store's [`SubjectRequest`](store::SubjectRequest): its
/// `subject_request_id` (the same on every retry), type, regulation, the message's
/// `timestamp_ms`, `submitted_time` in milliseconds, and the subject identities (type,
/// encoding, value).
///
/// ```
/// use liveramp_firehose::Message;
/// let json = br#"{"type":"dsr_processing_request","id":"m-1","timestamp_ms":1700000000000,
///   "subject_request_id":"0b7d5a0e","subject_request_type":"erasure","regulation":"gdpr",
///   "submitted_time":1699999999.5,
///   "subject_identities":{"email":{"encoding":"raw","value":"jane@x.com"}}}"#;
/// let Message::DsrProcessing(dsr) = Message::from_json(json)? else { unreachable!() };
/// let request = liveramp_connector::ingest::subject_request(&dsr);
/// assert_eq!((request.id.as_str(), request.timestamp_ms), ("0b7d5a0e", 1_700_000_000_000));
/// assert_eq!(request.submitted_ms, Some(1_699_999_999_500));
/// assert_eq!(request.identities[0].kind, "email");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn subject_request(dsr: &firehose::DsrProcessingRequest) -> store::SubjectRequest {
    let kind = match dsr.subject_request_type {
        firehose::SubjectRequestType::Erasure => store::RequestKind::Erasure,
        firehose::SubjectRequestType::Portability => store::RequestKind::Portability,
        // Access, and any type a later mParticle version adds: recorded, nothing removed.
        _ => store::RequestKind::Access,
    };
    let mut request = store::SubjectRequest::new(
        dsr.subject_request_id.clone(),
        kind,
        dsr.envelope.timestamp_ms,
    );
    if let Some(regulation) = dsr.regulation {
        request = request.regulation(regulation.as_str());
    }
    if let Some(seconds) = dsr.submitted_time.filter(|s| s.is_finite() && *s >= 0.0) {
        // Whole milliseconds; a value past i64's range saturates.
        #[allow(clippy::cast_possible_truncation)]
        let ms = (seconds * 1000.0).round() as i64;
        request = request.submitted_ms(ms);
    }
    for (kind, identity) in &dsr.subject_identities {
        request = request.identity(
            kind.clone(),
            identity.encoding.as_str(),
            identity.value.clone(),
        );
    }
    request
}

/// What a Firehose message means to the store: `Some` for a subscription and a membership
/// change with profiles, `None` for what changes no membership (a registration, a data subject
/// request, a verification ping: a membership change without profiles).
pub fn store_message(message: &firehose::Message) -> Result<Option<store::Message>, Unusable> {
    match message {
        firehose::Message::AudienceSubscription(s) => {
            let id = audience_id(s.audience_id, || "audience_id".to_owned())?;
            let action = match s.action {
                firehose::SubscriptionAction::Remove => store::SubscriptionAction::Disconnect,
                _ => store::SubscriptionAction::Connect,
            };
            Ok(Some(store::Message::subscription(
                s.envelope.id.clone(),
                s.envelope.timestamp_ms,
                id,
                s.audience_name.clone().unwrap_or_default(),
                action,
            )))
        }
        firehose::Message::AudienceMembershipChange(m) if !m.is_ping() => {
            let mut members = Vec::with_capacity(m.user_profiles.len());
            for (i, profile) in m.user_profiles.iter().enumerate() {
                members.push(member_change(i, profile)?);
            }
            Ok(Some(store::Message::membership(
                m.envelope.id.clone(),
                m.envelope.timestamp_ms,
                members,
            )))
        }
        _ => Ok(None),
    }
}

fn member_change(
    i: usize,
    profile: &firehose::UserProfile,
) -> Result<store::MemberChange, Unusable> {
    let identity =
        |id: &firehose::Identity| store::Identity::new(&id.kind, id.encoding.as_str(), &id.value);
    let mut change = store::MemberChange::new();
    change.mpid.clone_from(&profile.mpid);
    change.user_identities = profile.user_identities.iter().map(identity).collect();
    change.device_identities = profile.device_identities.iter().map(identity).collect();
    for (j, audience) in profile.audiences.iter().enumerate() {
        let id = audience_id(audience.audience_id, || {
            format!("user_profiles[{i}].audiences[{j}].audience_id")
        })?;
        let action = match audience.action {
            firehose::MembershipAction::Add => store::MembershipAction::Add,
            firehose::MembershipAction::Delete => store::MembershipAction::Delete,
            _ => store::MembershipAction::AttributeUpdate,
        };
        let mut entry = store::AudienceChange::new(id, action);
        entry.audience_name.clone_from(&audience.audience_name);
        for attribute in &audience.user_attributes {
            entry.attributes.push(match attribute.action {
                firehose::AttributeAction::Delete => store::AttributeChange::Delete {
                    key: attribute.key.clone(),
                },
                _ => store::AttributeChange::Upsert {
                    key: attribute.key.clone(),
                    value: match (&attribute.list_value, &attribute.value) {
                        (Some(list), _) => store::AttributeValue::List(list.clone()),
                        (None, value) => {
                            store::AttributeValue::Text(value.clone().unwrap_or_default())
                        }
                    },
                },
            });
        }
        change.audiences.push(entry);
    }
    Ok(change)
}

/// What [`ingest`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Lines read (empty lines included).
    pub lines: u64,
    /// Well-formed messages read.
    pub messages: u64,
    /// What the store applied (messages, profiles, adds, deletes, attribute updates,
    /// subscriptions, duplicates skipped, ...).
    pub applied: ApplySummary,
    /// Verification pings (membership changes without profiles): nothing to apply.
    pub pings: u64,
    /// Registrations: nothing to apply.
    pub registrations: u64,
    /// Data subject requests recorded (each in order with the messages around it: the
    /// batch before it is applied first). Repeated ones are counted too.
    pub data_subject_requests: u64,
    /// Members the erasures among them removed.
    pub members_erased: u64,
    /// Lines that are not a usable Firehose message (each reported to the caller).
    pub malformed: u64,
}

/// Applies Firehose messages, one JSON message per line, to `store` in large batches (each
/// durable when the next is read). A line that is not a usable message is passed to
/// `malformed` with its 1-based number and the reason (which names the JSON path and never
/// quotes a value), and counted; the rest is applied. Empty lines are skipped.
///
/// Returns [`Error::Store`] when the store cannot apply a batch (the batches before it are
/// durable; running again applies the rest, since each message id is applied once), and
/// [`Error::Io`] when the input cannot be read.
pub fn ingest<R: BufRead>(
    store: &dyn AudienceStore,
    mut input: R,
    source_name: &str,
    malformed: &mut dyn FnMut(u64, &str),
) -> Result<IngestReport, Error> {
    let mut report = IngestReport::default();
    let mut batch: Vec<store::Message> = Vec::new();
    let mut profiles = 0usize;
    let mut line = Vec::with_capacity(64 << 10);
    loop {
        line.clear();
        let read = Read::take(&mut input, MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Io {
                action: "read the Firehose messages from",
                path: source_name.into(),
                source: e,
            })?;
        if read == 0 {
            break;
        }
        report.lines += 1;
        let number = report.lines;
        if line.len() > MAX_MESSAGE_BYTES {
            // Skip the rest of the over-long line without holding it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let n = Read::take(&mut input, 1 << 20)
                    .read_until(b'\n', &mut rest)
                    .map_err(|e| Error::Io {
                        action: "read the Firehose messages from",
                        path: source_name.into(),
                        source: e,
                    })?;
                if n == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            report.malformed += 1;
            malformed(
                number,
                &format!("the line is longer than {MAX_MESSAGE_BYTES} bytes: skipped"),
            );
            continue;
        }
        let text = trim_line(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message = match firehose::Message::from_json(text) {
            Ok(message) => message,
            Err(e) => {
                report.malformed += 1;
                malformed(number, &e.to_string());
                continue;
            }
        };
        match store_message(&message) {
            Ok(Some(converted)) => {
                report.messages += 1;
                if let store::Change::Membership(members) = &converted.change {
                    profiles += members.len();
                }
                batch.push(converted);
            }
            Ok(None) => {
                report.messages += 1;
                match &message {
                    firehose::Message::ModuleRegistration(_) => report.registrations += 1,
                    firehose::Message::DsrProcessing(dsr) => {
                        // In order: what came before is applied before the request.
                        if !batch.is_empty() {
                            report.applied += apply(store, &batch)?;
                            batch.clear();
                            profiles = 0;
                        }
                        let outcome = store
                            .record_subject_request(&subject_request(dsr))
                            .map_err(|source| Error::Store {
                                action: "record a data subject request in",
                                source,
                            })?;
                        report.data_subject_requests += 1;
                        if !outcome.duplicate {
                            report.members_erased += outcome.record.members_removed;
                        }
                    }
                    _ => report.pings += 1,
                }
            }
            Err(unusable) => {
                report.malformed += 1;
                malformed(number, &unusable.to_string());
            }
        }
        if batch.len() >= INGEST_BATCH_MESSAGES || profiles >= INGEST_BATCH_PROFILES {
            report.applied += apply(store, &batch)?;
            batch.clear();
            profiles = 0;
        }
    }
    if !batch.is_empty() {
        report.applied += apply(store, &batch)?;
    }
    Ok(report)
}

fn apply(store: &dyn AudienceStore, batch: &[store::Message]) -> Result<ApplySummary, Error> {
    store.apply(batch).map_err(|source| Error::Store {
        action: "apply the messages to",
        source,
    })
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}
