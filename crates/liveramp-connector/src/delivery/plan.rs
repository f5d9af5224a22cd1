//! Planning: for each data type, the file's name and header, the ledger claim, and the header
//! check against what LiveRamp last mapped.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use liveramp_file_format::{DataType, FileName, HeaderCheck, HeaderFingerprint};
use liveramp_scheduler::{Claim, DeliveryId, Ledger};
use tracing::{info, info_span};

use super::publish::{Claimed, Publisher};
use crate::config::Audience;
use crate::connector::Connector;
use crate::error::Error;
use crate::options::DeliverOptions;
use crate::report::{FileReport, FileStatus, Report};

/// A file to build: its data type, name, claim (when the publisher claims runs) and report.
pub(crate) struct PlannedFile {
    pub(crate) data_type: DataType,
    pub(crate) name: FileName,
    pub(crate) claim: Option<Claim>,
    pub(crate) report: FileReport,
}

/// Plans the files of `types`; files that are not built (already delivered, busy, header
/// refused) go straight into `report`.
pub(crate) fn plan(
    connector: &Connector,
    publisher: &dyn Publisher,
    audience: &Audience,
    run_date: NaiveDate,
    types: &[DataType],
    options: &DeliverOptions,
    report: &mut Report,
) -> Result<Vec<PlannedFile>, Error> {
    let config = &connector.config;
    let mut planned = Vec::new();
    for &data_type in types {
        let file_span = info_span!("file", data_type = data_type.as_str());
        let _f = file_span.enter();
        let headers = connector.headers(data_type);
        let mut file = empty_report(data_type, &audience.external_name);
        let name = FileName::new(&config.org_id, &audience.id, data_type, run_date)
            .and_then(|n| publisher.file_name(n))
            .map_err(|source| Error::FileName { source })?;
        file.name = name.to_string();
        let fingerprint =
            HeaderFingerprint::of(headers).map_err(|source| Error::FileName { source })?;
        file.header_fingerprint = fingerprint.to_hex();
        let delivery =
            DeliveryId::new(&config.configuration_name, &audience.id, data_type.as_str());

        // The ledger: skip what was delivered, claim the rest.
        let claim = match publisher.claim(&delivery.on(run_date), options.force)? {
            Claimed::Claim(claim) => {
                crate::spool::remove_stale(publisher.workspace(), &file.name, run_date);
                Some(claim)
            }
            Claimed::Unrecorded => None,
            Claimed::AlreadyDelivered(record) => {
                info!(file = %file.name, "already delivered for this run date: skipped");
                file.status = FileStatus::AlreadyDelivered;
                for f in &record.delivered.files {
                    file.rows += f.rows;
                    file.bytes += f.bytes;
                }
                if let Some(first) = record.delivered.files.first() {
                    file.name.clone_from(&first.name);
                    file.sha256.clone_from(&first.sha256);
                }
                report.files.push(file);
                continue;
            }
            Claimed::Busy => {
                file.error = Some(format!(
                    "another process is delivering the {} file of audience {} for {run_date} \
                     right now; try again when it has finished",
                    data_type.as_str(),
                    audience.id
                ));
                report.files.push(file);
                continue;
            }
        };
        let mut planned_file = PlannedFile {
            data_type,
            name,
            claim,
            report: file,
        };

        // The header LiveRamp mapped must not change.
        let previous = connector
            .ledger
            .last_delivered(&delivery)
            .map_err(|source| connector.ledger_error(source))?
            .and_then(|r| HeaderFingerprint::from_hex(&r.delivered.header_fingerprint).ok());
        match fingerprint.check_unchanged(previous.as_ref(), config.accept_header_change) {
            Ok(HeaderCheck::ChangeAccepted) => report.warnings.push(format!(
                "{}: the header differs from the one last delivered; accepted \
                 (accept_header_change = true): LiveRamp will pause this file until its \
                 mapping is updated",
                planned_file.report.name
            )),
            Ok(_) => {}
            Err(_) => {
                if !publisher.header_changed(&mut planned_file, &audience.id, report)? {
                    report.files.push(planned_file.report);
                    continue;
                }
            }
        }
        planned.push(planned_file);
    }
    Ok(planned)
}

/// The report of a file before anything is known about it.
fn empty_report(data_type: DataType, external_name: &str) -> FileReport {
    FileReport {
        data_type: data_type.as_str().to_owned(),
        segment_name: data_type.segment_name(external_name),
        name: String::new(),
        status: FileStatus::Failed,
        error: None,
        rows: 0,
        bytes: 0,
        sha256: String::new(),
        rejected: BTreeMap::new(),
        header_fingerprint: String::new(),
        attempts: 0,
        build_ms: 0,
        upload_ms: 0,
        parts: Vec::new(),
        preview: Vec::new(),
    }
}
