//! What a delivery did: the [`Report`], serialised as JSON for operators and monitoring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most malformed member lines listed one by one in a report (all are counted).
pub const MAX_LISTED_MALFORMED: usize = 1000;

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FileStatus {
    /// Uploaded and recorded in the ledger.
    Delivered,
    /// Already delivered for this run date (ledger): nothing done (use `--force` to resend).
    AlreadyDelivered,
    /// Built into a local folder only (`--dry-run`); nothing uploaded or recorded.
    DryRun,
    /// Not uploaded: fewer rows than LiveRamp's 25-row minimum and `allow_small_files` is off.
    BelowMinimumRows,
    /// Not delivered: see `error`.
    Failed,
}

/// One part of a file as uploaded (a file has one part unless it had to be split).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PartReport {
    /// The file name as uploaded, e.g. `3242_17095-D_2026-11-28.csv.gpg`.
    pub name: String,
    /// Where it went: the remote path, or the local path (directory / dry run).
    pub location: String,
    /// Data rows (header not counted).
    pub rows: u64,
    /// Bytes of the file as uploaded (after gzip and encryption).
    pub bytes: u64,
    /// SHA-256 of the file as uploaded, lowercase hex (`sha256sum` of the delivered file).
    pub sha256: String,
    /// Bytes of the CSV before compression and encryption.
    pub csv_bytes: u64,
    /// Upload attempts (1 when the first succeeded; 0 when not uploaded).
    pub attempts: u32,
    /// Upload time in milliseconds.
    pub upload_ms: u64,
    /// Whether a file of the same name was replaced.
    pub replaced: bool,
}

/// One data type's file of one audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileReport {
    /// `device` or `pii`.
    pub data_type: String,
    /// The segment LiveRamp shows: `{external_name}-D` or `{external_name}-PII`.
    pub segment_name: String,
    /// The file's name (of its only part, or the unsplit name when split).
    pub name: String,
    /// What became of it.
    pub status: FileStatus,
    /// Why it failed or was held back, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Data rows written (over all parts).
    pub rows: u64,
    /// Bytes uploaded (over all parts).
    pub bytes: u64,
    /// SHA-256 of the file as uploaded (of its first part when split; see `parts`).
    pub sha256: String,
    /// Values or members not sent, counted by reason code (e.g. `idfa.limited_ad_tracking`,
    /// `pii.no_matchable_identifier`, `file.line_too_long`).
    pub rejected: BTreeMap<String, u64>,
    /// The fingerprint of the header row (SHA-256 of the header line).
    pub header_fingerprint: String,
    /// Upload attempts (the most any part took).
    pub attempts: u32,
    /// Time to build (map, write, compress, encrypt) the file, milliseconds.
    pub build_ms: u64,
    /// Time to upload it, milliseconds.
    pub upload_ms: u64,
    /// Every part.
    pub parts: Vec<PartReport>,
    /// Dry run only: the header and first rows of the (plain) CSV.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<String>,
}

/// A member line (or item) that was not a valid profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MalformedMember {
    /// The 1-based position of the item in the member source: the line number for NDJSON files.
    pub line: u64,
    /// Why it could not be read.
    pub error: String,
}

/// What one delivery of one audience did. Serialise it with `serde_json` for the JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[must_use = "a report says whether the delivery succeeded: check Report::succeeded"]
pub struct Report {
    /// The configuration's name.
    pub configuration_name: String,
    /// The org ID.
    pub org_id: String,
    /// The audience ID.
    pub audience_id: String,
    /// The audience's external name.
    pub external_name: String,
    /// The run date (the date in the file names), `YYYY-MM-DD`.
    pub run_date: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether `--force` re-delivered over the ledger.
    pub forced: bool,
    /// Members read from the source (valid profiles).
    pub members: u64,
    /// Malformed member items (not valid profiles), all counted.
    pub malformed_members: u64,
    /// The first [`MAX_LISTED_MALFORMED`] malformed items with their line numbers.
    pub malformed: Vec<MalformedMember>,
    /// One entry per data type.
    pub files: Vec<FileReport>,
    /// Things to look at: phone hashes other than SHA-1, key expiring soon, header changed,
    /// files below LiveRamp's 25-row minimum, an insecure host-key setting.
    pub warnings: Vec<String>,
    /// Total time, milliseconds.
    pub duration_ms: u64,
    /// What the member source said about itself (a store snapshot's size and the newest
    /// change it holds); absent for member files and iterators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::source::SourceSummary>,
}

impl Report {
    /// Every file was delivered, already delivered, or built (dry run).
    pub fn succeeded(&self) -> bool {
        self.files.iter().all(|f| {
            matches!(
                f.status,
                FileStatus::Delivered | FileStatus::AlreadyDelivered | FileStatus::DryRun
            )
        })
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
