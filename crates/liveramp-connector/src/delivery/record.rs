//! Recording: outcomes into the ledger, and the report.

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use liveramp_file_format::FileSummary;
use liveramp_scheduler::{Claim, Delivered, DeliveredFile, Ledger, Outcome};

use super::plan::PlannedFile;
use crate::config::Audience;
use crate::connector::Connector;
use crate::error::Error;
use crate::options::DeliverOptions;
use crate::report::{FileReport, FileStatus, Report};
use crate::spool::Spooled;

/// The report of a delivery before anything happened.
pub(crate) fn new_report(
    connector: &Connector,
    audience: &Audience,
    run_date: NaiveDate,
    options: &DeliverOptions,
) -> Report {
    let config = &connector.config;
    Report {
        configuration_name: config.configuration_name.clone(),
        org_id: config.org_id.clone(),
        audience_id: audience.id.clone(),
        external_name: audience.external_name.clone(),
        run_date: run_date.to_string(),
        dry_run: options.dry_run,
        forced: options.force,
        members: 0,
        malformed_members: 0,
        malformed: Vec::new(),
        files: Vec::new(),
        warnings: connector.warnings.clone(),
        duration_ms: 0,
        source: None,
    }
}

/// Records the outcome of a claimed run (nothing when there is no claim).
pub(crate) fn finish(
    connector: &Connector,
    claim: Option<Claim>,
    outcome: Outcome,
) -> Result<(), Error> {
    match claim {
        Some(claim) => match connector.ledger.finish(claim, Utc::now(), outcome) {
            // Another node took the delivery over: its outcome is the one that counts, and the
            // other files of this night go on.
            Err(e @ liveramp_scheduler::Error::LeaseLost { .. }) => {
                tracing::warn!("{e}");
                Ok(())
            }
            other => other.map_err(|source| connector.ledger_error(source)),
        },
        None => Ok(()),
    }
}

/// Marks the file failed with `message`, in its report and in the ledger.
pub(crate) fn fail(
    connector: &Connector,
    file: &mut PlannedFile,
    message: String,
) -> Result<(), Error> {
    file.report.status = FileStatus::Failed;
    finish(
        connector,
        file.claim.take(),
        Outcome::Failed(message.clone()),
    )?;
    file.report.error = Some(message);
    Ok(())
}

/// What the ledger keeps of a delivered file: its parts and header fingerprint.
pub(crate) fn delivered(report: &FileReport, summary: &FileSummary<Spooled>) -> Delivered {
    Delivered {
        files: report
            .parts
            .iter()
            .map(|p| DeliveredFile {
                name: p.name.clone(),
                rows: p.rows,
                bytes: p.bytes,
                sha256: p.sha256.clone(),
            })
            .collect(),
        header_fingerprint: summary.header_fingerprint.to_hex(),
    }
}

/// Milliseconds since `since`.
pub(crate) fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Nights of delivery reports kept in `state_dir/reports/` (for the status page and for
/// operators); older nights are removed when a newer report is saved.
pub const REPORT_NIGHTS_KEPT: usize = 31;

/// Saves the report of a delivery that did something (not a dry run, not a night that was
/// already delivered) as `state_dir/reports/{run_date}/{audience}.json`, replacing an earlier
/// attempt's, and removes the nights beyond [`REPORT_NIGHTS_KEPT`]. A report holds counts,
/// names and digests only, never member data. Failing to save is logged, not fatal: the ledger
/// is the record that matters.
pub(crate) fn save(connector: &Connector, report: &Report) {
    if report.dry_run
        || report
            .files
            .iter()
            .all(|f| f.status == FileStatus::AlreadyDelivered)
    {
        return;
    }
    let root = connector.config.state_dir.join("reports");
    let night = root.join(&report.run_date);
    let path = night.join(format!("{}.json", report.audience_id));
    let tmp = night.join(format!(".{}.json.tmp", report.audience_id));
    let written = std::fs::create_dir_all(&night)
        .and_then(|()| write_private(&tmp, (report.to_json() + "\n").as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!("could not save the report to {}: {e}", path.display());
        return;
    }
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let mut nights: Vec<std::path::PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_type().is_ok_and(|t| t.is_dir())
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<NaiveDate>().is_ok())
        })
        .map(|e| e.path())
        .collect();
    nights.sort();
    let excess = nights.len().saturating_sub(REPORT_NIGHTS_KEPT);
    for old in &nights[..excess] {
        let _ = std::fs::remove_dir_all(old);
    }
}

/// Writes `bytes` to a new file readable by its owner only (mode 0600 on Unix): like every
/// file a delivery writes under the state folder.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The saved reports of an audience, newest night first (at most [`REPORT_NIGHTS_KEPT`]).
pub fn saved_reports(state_dir: &std::path::Path, audience: &str) -> Vec<Report> {
    let root = state_dir.join("reports");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut nights: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.parse::<NaiveDate>().is_ok())
        .collect();
    nights.sort_unstable_by(|a, b| b.cmp(a));
    nights
        .iter()
        .filter_map(|night| {
            let text =
                std::fs::read_to_string(root.join(night).join(format!("{audience}.json"))).ok()?;
            serde_json::from_str(&text).ok()
        })
        .collect()
}
