//! The operators' status: gathered from the ledger, the saved delivery reports and the store
//! (`liveramp status`, and `liveramp serve`'s admin page), rendered by `liveramp-status`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use liveramp_connector::{Connector, FileStatus, REPORT_NIGHTS_KEPT, Report, saved_reports};
use liveramp_firehose_server::IngestHistory;
use liveramp_scheduler::DeliveryId;
use liveramp_status::{
    AudienceInput, FileInput, IngestMinute, NightInput, Outcome, StatusInput, StatusPage,
};

use crate::{Failure, classify, load};

/// Nights looked at per audience.
const NIGHTS: u64 = 30;

/// What a report's file came to.
fn outcome_of(status: FileStatus, error: Option<&str>) -> Outcome {
    match status {
        FileStatus::Delivered | FileStatus::AlreadyDelivered => Outcome::Delivered,
        FileStatus::BelowMinimumRows => Outcome::SmallFile,
        FileStatus::DryRun => Outcome::NotDelivered,
        _ if error.is_some_and(|e| e.contains("header differs from the one last delivered")) => {
            Outcome::HeaderChanged
        }
        _ => Outcome::Failed,
    }
}

/// One audience's nights: the saved report of a night where there is one, else what the
/// ledger recorded.
fn nights(
    connector: &Connector,
    audience: &str,
    latest: NaiveDate,
    reports: &BTreeMap<String, Report>,
) -> Vec<NightInput> {
    let config = connector.config();
    let ledger = connector.ledger();
    let mut out = Vec::new();
    for back in 0..NIGHTS {
        let Some(date) = latest.checked_sub_days(Days::new(back)) else {
            continue;
        };
        let mut night = NightInput::new(date);
        let report = reports.get(&date.to_string());
        if let Some(r) = report {
            night.members = Some(r.members);
            night.malformed_members = Some(r.malformed_members);
        }
        for data_type in config.data_types() {
            let key =
                DeliveryId::new(&config.configuration_name, audience, data_type.as_str()).on(date);
            let status = ledger.status(&key).unwrap_or_default();
            let from_report =
                report.and_then(|r| r.files.iter().find(|f| f.data_type == data_type.as_str()));
            let file = match from_report {
                Some(f) => {
                    let mut file = FileInput::new(
                        &f.data_type,
                        &f.name,
                        outcome_of(f.status, f.error.as_deref()),
                    );
                    file.rows = f.rows;
                    file.bytes = f.bytes;
                    file.sha256.clone_from(&f.sha256);
                    file.rejected.clone_from(&f.rejected);
                    file.error.clone_from(&f.error);
                    file.attempts = status.attempts.max(f.attempts);
                    file
                }
                None if status.delivered.is_some()
                    || status.last_error.is_some()
                    || status.in_progress =>
                {
                    let outcome = if status.delivered.is_some() {
                        Outcome::Delivered
                    } else if status.in_progress {
                        Outcome::InProgress
                    } else {
                        outcome_of(FileStatus::Failed, status.last_error.as_deref())
                    };
                    let delivered = status.delivered.as_ref().map(|d| &d.delivered.files);
                    let name = delivered
                        .and_then(|files| files.first())
                        .map_or_else(|| format!("{data_type} file"), |f| f.name.clone());
                    let mut file = FileInput::new(data_type.as_str(), &name, outcome);
                    if let Some(files) = delivered {
                        file.rows = files.iter().map(|f| f.rows).sum();
                        file.bytes = files.iter().map(|f| f.bytes).sum();
                        file.sha256 = files.first().map(|f| f.sha256.clone()).unwrap_or_default();
                    }
                    file.attempts = status.attempts;
                    file.error.clone_from(&status.last_error);
                    file
                }
                None => continue,
            };
            night.files.push(file);
        }
        if !night.files.is_empty() {
            out.push(night);
        }
    }
    out
}

/// Everything the status page shows, gathered now.
pub(crate) fn gather(
    connector: &Connector,
    now: DateTime<Utc>,
    ingest: Option<Vec<IngestMinute>>,
) -> Result<StatusInput, Failure> {
    let config = connector.config();
    let schedule = config.schedule.schedule;
    let mut input = StatusInput::new(&config.configuration_name, now);
    input.next_run = Some(schedule.next_run_after(now));
    input.retention.report_nights = u32::try_from(REPORT_NIGHTS_KEPT).unwrap_or(31);
    input.retention.store_days = config.store.as_ref().map(|s| s.retention_days);
    input.ingest_measured = ingest.is_some();
    input.ingest = ingest.unwrap_or_default();
    let latest = schedule
        .latest_run(now)
        .map_or_else(|| schedule.run_date(now), |r| r.date);
    input.latest_night = Some(latest);
    let mut listed = connector.audiences().map_err(classify)?;
    // Store audiences that are not connected are shown too (no longer delivered).
    for info in connector.store_audiences().map_err(classify)? {
        let id = info.id.to_string();
        if !listed.iter().any(|a| a.id == id) {
            let mut audience = liveramp_connector::Audience::new(id, info.name.clone());
            audience.store = Some(info);
            listed.push(audience);
        }
    }
    for audience in listed {
        let reports: BTreeMap<String, Report> = saved_reports(&config.state_dir, &audience.id)
            .into_iter()
            .map(|r| (r.run_date.clone(), r))
            .collect();
        let mut a = AudienceInput::new(&audience.id, &audience.external_name);
        match &audience.store {
            Some(store) => {
                a.connected = Some(store.connected);
                a.members = Some(store.members);
                a.newest_change = store
                    .newest_change_ms
                    .and_then(DateTime::<Utc>::from_timestamp_millis);
                input.last_change = input.last_change.max(a.newest_change);
            }
            None => "file".clone_into(&mut a.source),
        }
        a.nights = nights(connector, &audience.id, latest, &reports);
        input.audiences.push(a);
    }
    Ok(input)
}

/// The pages of `liveramp serve`'s admin listener: gathered anew for each request, with the
/// Firehose endpoint's ingest history.
pub(crate) struct AdminPages {
    connector: Arc<Connector>,
    ingest: IngestHistory,
}

impl AdminPages {
    pub(crate) fn new(connector: Arc<Connector>, ingest: IngestHistory) -> AdminPages {
        AdminPages { connector, ingest }
    }

    fn page(&self) -> Result<StatusPage, String> {
        let minutes = self
            .ingest
            .last_hour()
            .into_iter()
            .map(|m| IngestMinute::new(DateTime::<Utc>::from(m.start), m.changes))
            .collect();
        gather(&self.connector, Utc::now(), Some(minutes))
            .map(StatusPage::new)
            .map_err(|f| format!("{:#}", f.error))
    }
}

impl liveramp_firehose_server::admin::AdminPages for AdminPages {
    fn overview(&self) -> Result<String, String> {
        Ok(self.page()?.html())
    }

    fn audience(&self, id: &str) -> Result<Option<String>, String> {
        Ok(self.page()?.audience_html(id).ok())
    }

    fn status_json(&self) -> Result<String, String> {
        Ok(self.page()?.json())
    }
}

/// `liveramp status --config FILE [--json]`.
pub(crate) fn status_command(config_path: &Path, as_json: bool) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let connector = Connector::new(config).map_err(classify)?;
    let page = StatusPage::new(gather(&connector, Utc::now(), None)?);
    if as_json {
        out!("{}", page.json());
    } else {
        out_raw!("{}", page.text());
    }
    // Exit 1 when an audience needs attention, so a cron job can alert on it.
    Ok(u8::from(page.model().needing_attention > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_statuses_map_to_outcomes() {
        assert_eq!(outcome_of(FileStatus::Delivered, None), Outcome::Delivered);
        assert_eq!(
            outcome_of(FileStatus::BelowMinimumRows, Some("x has 3 rows")),
            Outcome::SmallFile
        );
        assert_eq!(
            outcome_of(
                FileStatus::Failed,
                Some("the pii header differs from the one last delivered for audience 1: …")
            ),
            Outcome::HeaderChanged
        );
        assert_eq!(
            outcome_of(FileStatus::Failed, Some("uploading x failed")),
            Outcome::Failed
        );
    }
}
