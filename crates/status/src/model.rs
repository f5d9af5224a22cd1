//! The page model: what the caller gathers ([`StatusInput`]) and what every rendering shows
//! ([`StatusModel`], also the JSON of `GET /api/status`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::CHART_NIGHTS;

/// What happened to a file (or, for an audience's night, to the worst of its files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Delivered (published at the destination and recorded).
    Delivered,
    /// Started and not finished: running now, or its process died.
    InProgress,
    /// Nothing was delivered for this night (yet).
    NotDelivered,
    /// Under LiveRamp's 25-row minimum, so not uploaded (`allow_small_files` is off).
    SmallFile,
    /// Its header differed from the one LiveRamp mapped, so it was not sent.
    HeaderChanged,
    /// The delivery failed (the error says why).
    Failed,
}

impl Outcome {
    /// The word the pages show.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::InProgress => "in progress",
            Outcome::NotDelivered => "not delivered",
            Outcome::SmallFile => "not sent: under 25 rows",
            Outcome::HeaderChanged => "not sent: header changed",
            Outcome::Failed => "FAILED",
        }
    }

    /// Whether an operator has something to fix.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Outcome::SmallFile | Outcome::HeaderChanged | Outcome::Failed
        )
    }

    /// How bad it is, for the audience's summary of a night (the worst file wins).
    fn severity(self) -> u8 {
        match self {
            Outcome::Delivered => 0,
            Outcome::InProgress => 1,
            Outcome::NotDelivered => 2,
            Outcome::SmallFile => 3,
            Outcome::HeaderChanged => 4,
            Outcome::Failed => 5,
        }
    }
}

/// One file of one night, as the ledger and the saved report tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileInput {
    /// `device` or `pii`.
    pub data_type: String,
    /// The file name (of its first part when split).
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Rows delivered (or built).
    pub rows: u64,
    /// Bytes published.
    pub bytes: u64,
    /// SHA-256 of the published bytes (of the first part).
    pub sha256: String,
    /// Attempts that night.
    pub attempts: u32,
    /// The error of the last attempt, if it failed.
    pub error: Option<String>,
    /// Values or members not sent, by reason code.
    pub rejected: BTreeMap<String, u64>,
}

impl FileInput {
    /// A file with nothing known but its type, name and outcome.
    pub fn new(data_type: &str, name: &str, outcome: Outcome) -> FileInput {
        FileInput {
            data_type: data_type.to_owned(),
            name: name.to_owned(),
            outcome,
            rows: 0,
            bytes: 0,
            sha256: String::new(),
            attempts: 0,
            error: None,
            rejected: BTreeMap::new(),
        }
    }
}

/// One night of one audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NightInput {
    /// The run date (the date in the file names).
    pub run_date: NaiveDate,
    /// Its files, device first.
    pub files: Vec<FileInput>,
    /// Members read for it, if a report says.
    pub members: Option<u64>,
    /// Malformed members skipped, if a report says.
    pub malformed_members: Option<u64>,
}

impl NightInput {
    /// A night with no file yet.
    pub fn new(run_date: NaiveDate) -> NightInput {
        NightInput {
            run_date,
            files: Vec::new(),
            members: None,
            malformed_members: None,
        }
    }
}

/// One audience, with its nights (any order; the newest [`CHART_NIGHTS`] are shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AudienceInput {
    /// The audience id (in the file names).
    pub id: String,
    /// Its external name (LiveRamp's segments are `{name}-D` and `{name}-PII`).
    pub external_name: String,
    /// Where its members come from: `store` or `file`.
    pub source: String,
    /// Whether it is connected in the store (`None` for a file-sourced audience).
    pub connected: Option<bool>,
    /// Members now (the store's count), if known.
    pub members: Option<u64>,
    /// The newest change the store received for it.
    pub newest_change: Option<DateTime<Utc>>,
    /// Its nights.
    pub nights: Vec<NightInput>,
}

impl AudienceInput {
    /// A store audience with nothing known yet.
    pub fn new(id: &str, external_name: &str) -> AudienceInput {
        AudienceInput {
            id: id.to_owned(),
            external_name: external_name.to_owned(),
            source: "store".to_owned(),
            connected: None,
            members: None,
            newest_change: None,
            nights: Vec::new(),
        }
    }
}

/// Changes received in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IngestMinute {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// Membership changes applied in it.
    pub changes: u64,
}

impl IngestMinute {
    /// `changes` in the minute starting at `minute`.
    pub fn new(minute: DateTime<Utc>, changes: u64) -> IngestMinute {
        IngestMinute { minute, changes }
    }
}

/// How long the data behind the page is kept (the page says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Retention {
    /// Nights of delivery reports kept (rows, rejections by reason).
    pub report_nights: u32,
    /// Days the store keeps message ids, tombstones and disconnected audiences, if there is
    /// a store.
    pub store_days: Option<u32>,
    /// Whether the ledger keeps every night (the file ledger does).
    pub ledger_forever: bool,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            report_nights: 31,
            store_days: None,
            ledger_forever: true,
        }
    }
}

/// Everything the caller gathers for one rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusInput {
    /// The configuration's name.
    pub configuration_name: String,
    /// Now.
    pub generated_at: DateTime<Utc>,
    /// The next nightly run.
    pub next_run: Option<DateTime<Utc>>,
    /// The run date of the latest scheduled night ("last night"): an audience without a record
    /// for it shows "not delivered" for it. `None`: the newest night with a record.
    pub latest_night: Option<NaiveDate>,
    /// The audiences.
    pub audiences: Vec<AudienceInput>,
    /// Changes applied per minute over the last hour (empty when nothing is ingested here).
    pub ingest: Vec<IngestMinute>,
    /// Whether the caller counts ingest (the running server does; `liveramp status`, reading
    /// the files, cannot): without it the rate is unknown, not zero.
    pub ingest_measured: bool,
    /// The newest change the store received, any audience.
    pub last_change: Option<DateTime<Utc>>,
    /// How long data is kept.
    pub retention: Retention,
}

impl StatusInput {
    /// Nothing known yet.
    pub fn new(configuration_name: &str, generated_at: DateTime<Utc>) -> StatusInput {
        StatusInput {
            configuration_name: configuration_name.to_owned(),
            generated_at,
            next_run: None,
            latest_night: None,
            audiences: Vec::new(),
            ingest: Vec::new(),
            ingest_measured: false,
            last_change: None,
            retention: Retention::default(),
        }
    }
}

/// One night of an audience, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NightStatus {
    /// The run date.
    pub run_date: NaiveDate,
    /// The worst outcome of its files.
    pub outcome: Outcome,
    /// Rows delivered, all files.
    pub delivered_rows: u64,
    /// Values or members rejected, all files.
    pub rejected_total: u64,
    /// Members read, if known.
    pub members: Option<u64>,
    /// Malformed members, if known.
    pub malformed_members: Option<u64>,
    /// Its files.
    pub files: Vec<FileInput>,
}

/// The last night of an audience, for its row of the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LastNight {
    /// The run date.
    pub run_date: NaiveDate,
    /// The worst outcome of its files.
    pub outcome: Outcome,
    /// `(data type, rows, outcome)` of each file.
    pub files: Vec<(String, u64, Outcome)>,
    /// Rejections by reason, all files.
    pub rejected: BTreeMap<String, u64>,
    /// The first error, if one failed.
    pub error: Option<String>,
}

/// One audience, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AudienceStatus {
    /// The audience id.
    pub id: String,
    /// Its external name.
    pub external_name: String,
    /// `store` or `file`.
    pub source: String,
    /// Connected in the store (`None` for a file-sourced audience).
    pub connected: Option<bool>,
    /// Members now, if known.
    pub members: Option<u64>,
    /// The newest change received (RFC 3339), if known.
    pub newest_change: Option<String>,
    /// Last night (the latest scheduled night, or the newest with a record): what happened,
    /// or "not delivered" when nothing did; `None` when the audience has no record at all.
    pub last_night: Option<LastNight>,
    /// The newest night all its files were delivered.
    pub last_delivered: Option<NaiveDate>,
    /// The last [`CHART_NIGHTS`] nights, newest first.
    pub nights: Vec<NightStatus>,
}

/// The page model: also the JSON of `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusModel {
    /// The configuration's name.
    pub configuration_name: String,
    /// When this was gathered (RFC 3339).
    pub generated_at: String,
    /// The next nightly run (RFC 3339), if known.
    pub next_run: Option<String>,
    /// Audiences whose last night was delivered.
    pub delivered_last_night: usize,
    /// Audiences whose last night needs attention (failed, small file, header changed).
    pub needing_attention: usize,
    /// Audiences never delivered.
    pub never_delivered: usize,
    /// Changes applied in the last hour (`None` when not counted here: nothing is ingested
    /// here, or the caller is not the server).
    pub ingest_last_hour: Option<u64>,
    /// Changes per minute over the last hour, oldest first.
    pub ingest_per_minute: Vec<IngestMinute>,
    /// The newest change received (RFC 3339), any audience.
    pub last_change: Option<String>,
    /// How long the data is kept.
    pub retention: Retention,
    /// The audiences.
    pub audiences: Vec<AudienceStatus>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn night_status(night: NightInput) -> NightStatus {
    let outcome = night
        .files
        .iter()
        .map(|f| f.outcome)
        .max_by_key(|o| o.severity())
        .unwrap_or(Outcome::NotDelivered);
    NightStatus {
        run_date: night.run_date,
        outcome,
        delivered_rows: night
            .files
            .iter()
            .filter(|f| f.outcome == Outcome::Delivered)
            .map(|f| f.rows)
            .sum(),
        rejected_total: night.files.iter().flat_map(|f| f.rejected.values()).sum(),
        members: night.members,
        malformed_members: night.malformed_members,
        files: night.files,
    }
}

fn last_night(night: &NightStatus) -> LastNight {
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    for file in &night.files {
        for (code, n) in &file.rejected {
            *rejected.entry(code.clone()).or_default() += n;
        }
    }
    LastNight {
        run_date: night.run_date,
        outcome: night.outcome,
        files: night
            .files
            .iter()
            .map(|f| (f.data_type.clone(), f.rows, f.outcome))
            .collect(),
        rejected,
        error: night.files.iter().find_map(|f| f.error.clone()),
    }
}

impl StatusModel {
    /// Summarises `input`.
    pub fn from_input(input: StatusInput) -> StatusModel {
        let mut audiences = Vec::with_capacity(input.audiences.len());
        for a in input.audiences {
            let mut nights: Vec<NightStatus> = a.nights.into_iter().map(night_status).collect();
            nights.sort_by_key(|n| std::cmp::Reverse(n.run_date));
            nights.truncate(CHART_NIGHTS);
            let newest = nights.iter().find(|n| !n.files.is_empty());
            let last = match (input.latest_night, newest) {
                (_, None) => None,
                (None, Some(n)) => Some(last_night(n)),
                (Some(date), Some(_)) => {
                    Some(nights.iter().find(|n| n.run_date == date).map_or_else(
                        || LastNight {
                            run_date: date,
                            outcome: Outcome::NotDelivered,
                            files: Vec::new(),
                            rejected: BTreeMap::new(),
                            error: None,
                        },
                        last_night,
                    ))
                }
            };
            let last_delivered = nights
                .iter()
                .find(|n| n.outcome == Outcome::Delivered)
                .map(|n| n.run_date);
            audiences.push(AudienceStatus {
                id: a.id,
                external_name: a.external_name,
                source: a.source,
                connected: a.connected,
                members: a.members,
                newest_change: a.newest_change.map(rfc3339),
                last_night: last,
                last_delivered,
                nights,
            });
        }
        let count = |f: &dyn Fn(&AudienceStatus) -> bool| audiences.iter().filter(|a| f(a)).count();
        let delivered_last_night = count(&|a| {
            a.last_night
                .as_ref()
                .is_some_and(|n| n.outcome == Outcome::Delivered)
        });
        let needing_attention = count(&|a| {
            a.last_night
                .as_ref()
                .is_some_and(|n| n.outcome.needs_attention())
        });
        let never_delivered = count(&|a| a.last_delivered.is_none());
        let mut ingest = input.ingest;
        ingest.sort_by_key(|m| m.minute);
        let hour_ago = input.generated_at - chrono::TimeDelta::hours(1);
        ingest.retain(|m| m.minute > hour_ago);
        StatusModel {
            configuration_name: input.configuration_name,
            generated_at: rfc3339(input.generated_at),
            next_run: input.next_run.map(rfc3339),
            delivered_last_night,
            needing_attention,
            never_delivered,
            ingest_last_hour: (input.ingest_measured || !ingest.is_empty())
                .then(|| ingest.iter().map(|m| m.changes).sum()),
            ingest_per_minute: ingest,
            last_change: input.last_change.map(rfc3339),
            retention: input.retention,
            audiences,
        }
    }
}
