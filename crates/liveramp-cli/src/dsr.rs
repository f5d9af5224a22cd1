//! `liveramp dsr`: data subject requests against the membership store. `list` prints the
//! audit records (never an identity), `erase` records an erasure that reached the operator
//! outside mParticle, `export` writes what the store holds for the subject of a request.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use liveramp_connector::audience_store::{
    RequestKind, SubjectOutcome, SubjectRecord, SubjectRequest,
};
use liveramp_connector::open_store;
use serde_json::json;

use crate::{Failure, classify, load};

/// The identities `liveramp dsr erase` was given, by mParticle identity type.
#[derive(Debug, Default)]
pub(crate) struct Identities {
    pub(crate) emails: Vec<String>,
    pub(crate) phones: Vec<String>,
    pub(crate) idfas: Vec<String>,
    pub(crate) aaids: Vec<String>,
    pub(crate) mpids: Vec<String>,
}

impl Identities {
    /// `(mParticle identity type, encoding, value)` of each: a value written `sha256:HEX`
    /// (or `md5:`, `sha1:`) is that hash of the normalised value, anything else is raw.
    /// Each with the flag it was given by.
    fn each(&self) -> Vec<(&'static str, &'static str, &'static str, String)> {
        let mut all = Vec::new();
        for (flag, kind, values) in [
            ("--email", "email", &self.emails),
            ("--phone", "mobile_number", &self.phones),
            ("--idfa", "ios_advertising_id", &self.idfas),
            ("--aaid", "android_advertising_id", &self.aaids),
            ("--mpid", "mpid", &self.mpids),
        ] {
            for value in values {
                let (encoding, value) = encoded(value);
                all.push((flag, kind, encoding, value.to_owned()));
            }
        }
        all
    }
}

/// `sha256:HEX` -> (`sha256`, `HEX`); anything else -> (`raw`, value).
fn encoded(value: &str) -> (&'static str, &str) {
    for (prefix, encoding, len) in [
        ("sha256:", "sha256", 64),
        ("sha1:", "sha1", 40),
        ("md5:", "md5", 32),
    ] {
        if let Some(hex) = value.trim().strip_prefix(prefix)
            && hex.len() == len
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return (encoding, hex);
        }
    }
    ("raw", value)
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

fn record_json(r: &SubjectRecord) -> serde_json::Value {
    json!({
        "id": r.id,
        "type": r.kind.as_str(),
        "regulation": r.regulation,
        "status": r.status(),
        "timestamp_ms": r.timestamp_ms,
        "submitted_ms": r.submitted_ms,
        "recorded_ms": r.recorded_ms,
        "recorded": rfc3339(r.recorded_ms),
        "identity_types": r.identity_types,
        "members_matched": r.members_matched,
        "members_removed": r.members_removed,
        "memberships_removed": r.memberships_removed,
        "audiences_affected": r.audiences_affected,
    })
}

/// `liveramp dsr list --config FILE [--json]`.
pub(crate) fn list(config_path: &Path, as_json: bool) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let store = open_store(&config).map_err(classify)?;
    let records = store
        .subject_requests()
        .context("could not read the data subject requests of the membership store")
        .map_err(Failure::delivery)?;
    let mut out = io::stdout().lock();
    if as_json {
        let rows: Vec<serde_json::Value> = records.iter().map(record_json).collect();
        let text = serde_json::to_string_pretty(&rows)
            .context("could not serialise the requests")
            .map_err(Failure::delivery)?;
        let _ = writeln!(out, "{text}");
        return Ok(0);
    }
    if records.is_empty() {
        let _ = writeln!(
            out,
            "the membership store holds no data subject request (records are kept {} days)",
            config
                .store
                .as_ref()
                .map_or(liveramp_connector::DEFAULT_DSR_RETENTION_DAYS, |s| s
                    .dsr_retention_days)
        );
        return Ok(0);
    }
    let _ = writeln!(
        out,
        "{:<36}  {:<11}  {:<10}  {:<8}  {:<24}  {:>7}  {:>11}  {:>9}  IDENTITY TYPES",
        "REQUEST",
        "TYPE",
        "REGULATION",
        "STATUS",
        "RECORDED",
        "MEMBERS",
        "MEMBERSHIPS",
        "AUDIENCES"
    );
    for r in &records {
        let _ = writeln!(
            out,
            "{:<36}  {:<11}  {:<10}  {:<8}  {:<24}  {:>7}  {:>11}  {:>9}  {}",
            r.id,
            r.kind.as_str(),
            r.regulation.as_deref().unwrap_or("-"),
            r.status(),
            rfc3339(r.recorded_ms),
            r.members_removed.max(r.members_matched),
            r.memberships_removed,
            r.audiences_affected,
            r.identity_types.join(",")
        );
    }
    Ok(0)
}

/// A new random request id (UUID v4 form).
fn new_request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = b.iter().fold(String::with_capacity(32), |mut hex, x| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{x:02x}");
        hex
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `liveramp dsr erase --config FILE --email … [--regulation R] [--request-id ID]`.
pub(crate) fn erase(
    config_path: &Path,
    identities: &Identities,
    regulation: Option<&str>,
    request_id: Option<&str>,
) -> Result<u8, Failure> {
    let each = identities.each();
    if each.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "no identity given: name the person with --email, --phone, --idfa, --aaid or --mpid \
             (each repeatable)"
        )));
    }
    if let Some((flag, ..)) = each.iter().find(|(.., v)| v.trim().is_empty()) {
        return Err(Failure::usage(anyhow::anyhow!(
            "{flag} was given an empty value; each identity needs one"
        )));
    }
    if let Some(r) = regulation
        && !matches!(r, "gdpr" | "ccpa")
    {
        return Err(Failure::usage(anyhow::anyhow!(
            "--regulation {r:?}: use gdpr or ccpa"
        )));
    }
    let config = load(config_path)?;
    let store = open_store(&config).map_err(classify)?;
    let id = request_id.map_or_else(new_request_id, str::to_owned);
    let now = now_ms();
    let mut request = SubjectRequest::new(id, RequestKind::Erasure, now).submitted_ms(now);
    if let Some(r) = regulation {
        request = request.regulation(r);
    }
    for (_, kind, encoding, value) in each {
        request = request.identity(kind, encoding, value);
    }
    let outcome = store
        .record_subject_request(&request)
        .context("the membership store could not record the erasure; nothing was removed")
        .map_err(Failure::delivery)?;
    print_erasure(&outcome);
    Ok(0)
}

fn print_erasure(outcome: &SubjectOutcome) {
    let r = &outcome.record;
    let mut out = io::stdout().lock();
    if outcome.duplicate {
        let _ = writeln!(
            out,
            "erasure {} was already recorded on {}: nothing changed",
            r.id,
            rfc3339(r.recorded_ms)
        );
    }
    let _ = writeln!(
        out,
        "erasure {}: {} member(s) removed, {} membership(s) in {} audience(s); identity types: {}",
        r.id,
        r.members_removed,
        r.memberships_removed,
        r.audiences_affected,
        r.identity_types.join(",")
    );
    if !outcome.duplicate {
        let _ = writeln!(
            out,
            "  changes for this person older than {} will be ignored; files already delivered \
             to LiveRamp are replaced by the next night's full file",
            rfc3339(r.timestamp_ms)
        );
    }
}

/// `liveramp dsr export --config FILE --request ID [--output FILE]`.
pub(crate) fn export(
    config_path: &Path,
    request_id: &str,
    output: Option<&Path>,
) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let store = open_store(&config).map_err(classify)?;
    let Some(document) = store
        .export_subject(request_id)
        .context("could not read the subject's data from the membership store")
        .map_err(Failure::delivery)?
    else {
        return Err(Failure::usage(anyhow::anyhow!(
            "no data subject request {request_id:?} in the membership store; `liveramp dsr list \
             --config {}` shows the recorded ones",
            config_path.display()
        )));
    };
    let members = serde_json::from_str::<serde_json::Value>(&document)
        .ok()
        .and_then(|v| v["members"].as_array().map(Vec::len))
        .unwrap_or(0);
    match output {
        None => {
            let mut out = io::stdout().lock();
            out.write_all(document.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush())
                .context("could not write to stdout")
                .map_err(Failure::delivery)?;
        }
        Some(path) => {
            write_private(path, document.as_bytes())
                .with_context(|| format!("could not write {}", path.display()))
                .map_err(Failure::delivery)?;
            eprintln!(
                "wrote what the store holds for request {request_id} ({members} member(s)) to {}",
                path.display()
            );
        }
    }
    Ok(0)
}

/// Writes `bytes` (and a newline) to `path` readable by its owner only: the export is the
/// person's PII. Written next to it and renamed, so a half-written file is never left under
/// the name.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_values_are_recognised_by_their_prefix_and_length() {
        let h = "a".repeat(64);
        assert_eq!(encoded(&format!("sha256:{h}")), ("sha256", h.as_str()));
        assert_eq!(encoded("sha256:abc"), ("raw", "sha256:abc"));
        assert_eq!(encoded(&format!("md5:{}", "0".repeat(32))).0, "md5");
        assert_eq!(encoded("ana@example.org"), ("raw", "ana@example.org"));
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
    }
}
