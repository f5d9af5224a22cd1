//! Building: one pass over the members writes every planned file (CSV limits and splitting,
//! gzip, encryption, hashing) into the publisher's workspace.

use std::time::Instant;

use liveramp_file_format::{
    CsvFileWriter, DataType, FileSummary, Limits, RejectReason, WriterOptions,
};

use super::plan::PlannedFile;
use super::publish::Publisher;
use super::record;
use crate::config::Audience;
use crate::connector::Connector;
use crate::error::Error;
use crate::options::DeliverOptions;
use crate::pipeline::{self, Batch};
use crate::report::{FileReport, MAX_LISTED_MALFORMED, MalformedMember, PartReport, Report};
use crate::source::MemberSource;
use crate::spool::{SpoolGuard, SpoolSink, Spooled, Workspace};

/// A file whose rows are being written.
pub(crate) struct Building<'k> {
    pub(crate) planned: PlannedFile,
    writer: Option<CsvFileWriter<SpoolSink<'k>>>,
    /// Rejections by reason code, in first-seen order.
    counts: Vec<(&'static str, u64)>,
    /// Why the file could not be written, if it could not.
    failed: Option<String>,
}

/// A file built and closed, waiting for its checks and publication. Its parts are removed
/// when `guard` is dropped with their paths in it.
pub(crate) struct Finished {
    pub(crate) planned: PlannedFile,
    pub(crate) summary: FileSummary<Spooled>,
    pub(crate) guard: SpoolGuard,
}

/// Opens a writer for each planned file and runs the members through the pipeline once,
/// every row to its file. A source failure or a cancellation discards every file (recorded
/// as failed) and returns the error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build<'k>(
    connector: &'k Connector,
    publisher: &'k dyn Publisher,
    audience: &Audience,
    planned: Vec<PlannedFile>,
    selected: &[DataType],
    source: &mut dyn MemberSource,
    options: &DeliverOptions,
    progress: &mut dyn FnMut(u64),
    report: &mut Report,
) -> Result<Vec<Building<'k>>, Error> {
    let mut open = Vec::with_capacity(planned.len());
    for planned in planned {
        let sink = SpoolSink {
            workspace: publisher.workspace().clone(),
            key: publisher.key(),
            stream_from: publisher.stream_from(planned.data_type, selected),
            fence: planned.claim.as_ref().map(liveramp_scheduler::Claim::fence),
        };
        let writer_options = WriterOptions {
            limits: Limits::default(),
            gzip_level: connector.config.file.gzip_level,
        };
        let headers = connector.headers(planned.data_type);
        // The sink hashes the bytes it stores (the report's digest): hash once.
        let writer = CsvFileWriter::with_options(&planned.name, headers, sink, writer_options)
            .map_err(|source| Error::FileName { source })?
            .without_digest();
        open.push(Building {
            planned,
            writer: Some(writer),
            counts: Vec::new(),
            failed: None,
        });
    }

    // One pass over the members feeds every file.
    let build_started = Instant::now();
    let types: Vec<DataType> = open.iter().map(|f| f.planned.data_type).collect();
    let workspace_dir = publisher.workspace().dir.clone();
    let mut failure: Option<(u64, String)> = None;
    let mut cancelled = false;
    pipeline::run(
        source,
        &connector.mapper,
        &types,
        options.thread_count(),
        connector.config.max_member_line_bytes,
        |batch: &Batch| {
            note_members(report, batch);
            for file in &mut open {
                write_rows(file, batch, &workspace_dir);
            }
            if let Some(f) = &batch.failure {
                failure = Some(f.clone());
                return false;
            }
            progress(report.members);
            if connector.cancel.is_cancelled() {
                cancelled = true;
                return false;
            }
            true
        },
    );
    if let Some((line, message)) = failure {
        let error = Error::MemberSource {
            audience: audience.id.clone(),
            line,
            message,
        };
        return Err(abort_all(connector, open, "the member source failed").unwrap_or(error));
    }
    progress(report.members);
    if cancelled || connector.cancel.is_cancelled() {
        return Err(
            abort_all(connector, open, "cancelled").unwrap_or_else(|| Error::Cancelled {
                audience: audience.id.clone(),
            }),
        );
    }
    let build_ms = record::millis(build_started);
    for file in &mut open {
        file.planned.report.build_ms = build_ms;
    }
    Ok(open)
}

/// Counts a batch's members and lists its malformed ones (up to the report's limit).
fn note_members(report: &mut Report, batch: &Batch) {
    report.members += batch.members;
    report.malformed_members += batch.malformed.len() as u64;
    for (line, error) in &batch.malformed {
        if report.malformed.len() >= MAX_LISTED_MALFORMED {
            break;
        }
        // The report gives the line number once, in its own field.
        let prefix = format!("line {line}: ");
        report.malformed.push(MalformedMember {
            line: *line,
            error: error.strip_prefix(&prefix).unwrap_or(error).to_owned(),
        });
    }
}

/// Appends a batch's rows of the file's data type; the first write error fails the file.
fn write_rows(file: &mut Building<'_>, batch: &Batch, workspace_dir: &std::path::Path) {
    let rows = match file.planned.data_type {
        DataType::Device => &batch.device,
        DataType::Pii => &batch.pii,
    };
    let Some(writer) = file.writer.as_mut() else {
        return;
    };
    let mut failed = None;
    for (key, line) in rows.iter() {
        if let Err(e) = writer.write_encoded_row(key, line) {
            failed = Some(format!(
                "writing the file in {} failed: {e}",
                workspace_dir.display()
            ));
            break;
        }
    }
    if let Some(message) = failed.or_else(|| rows.failed.clone()) {
        file.failed = Some(message);
        file.writer = None;
        return;
    }
    for (code, n) in &rows.counts {
        add(&mut file.counts, code, *n);
    }
}

fn add(counts: &mut Vec<(&'static str, u64)>, code: &'static str, n: u64) {
    if let Some(entry) = counts.iter_mut().find(|(c, _)| *c == code) {
        entry.1 += n;
    } else {
        counts.push((code, n));
    }
}

/// Discards every file being built and records each as failed with `reason`; returns the
/// ledger's error if it could not record one.
fn abort_all(connector: &Connector, open: Vec<Building<'_>>, reason: &str) -> Option<Error> {
    for mut file in open {
        if let Some(writer) = file.writer.take() {
            let _ = writer.abort();
        }
        if let Err(e) = record::finish(
            connector,
            file.planned.claim.take(),
            liveramp_scheduler::Outcome::Failed(reason.to_owned()),
        ) {
            return Some(e);
        }
    }
    None
}

/// Closes the file's writer (its last part), and fills its report from the summary; `Err`
/// with the file and why it could not be finished.
pub(crate) fn finish(
    mut file: Building<'_>,
    workspace: &Workspace,
) -> Result<Finished, Box<(PlannedFile, String)>> {
    for (code, n) in &file.counts {
        file.planned.report.rejected.insert((*code).to_owned(), *n);
    }
    let summary = match (file.writer.take(), file.failed.take()) {
        (Some(writer), None) => match writer.finish() {
            Ok(summary) => summary,
            Err(e) => {
                let message = format!(
                    "finishing the file in {} failed: {e}",
                    workspace.dir.display()
                );
                return Err(Box::new((file.planned, message)));
            }
        },
        (_, failed) => {
            let message = failed.unwrap_or_else(|| "the file was not written".to_owned());
            return Err(Box::new((file.planned, message)));
        }
    };
    let guard = SpoolGuard(
        summary
            .parts
            .iter()
            .map(|p| p.output.path.clone())
            .collect(),
    );
    note_summary(&mut file.planned.report, &summary);
    Ok(Finished {
        planned: file.planned,
        summary,
        guard,
    })
}

/// The file's rows, parts, digests and file-format rejections, from its summary.
fn note_summary(report: &mut FileReport, summary: &FileSummary<Spooled>) {
    for rejection in &summary.rejections {
        let code = match rejection.reason {
            RejectReason::LineTooLong { .. } => "file.line_too_long",
            _ => "file.line_too_large_for_file",
        };
        *report.rejected.entry(code.to_owned()).or_default() += 1;
    }
    report.rows = summary.rows;
    report.header_fingerprint = summary.header_fingerprint.to_hex();
    report.parts = summary
        .parts
        .iter()
        .map(|p| PartReport {
            name: p.name.to_string(),
            location: String::new(),
            rows: p.rows,
            bytes: p.output.bytes,
            sha256: p.output.sha256.clone(),
            csv_bytes: p.uncompressed_bytes,
            attempts: 0,
            upload_ms: 0,
            replaced: false,
        })
        .collect();
    report.bytes = report.parts.iter().map(|p| p.bytes).sum();
    if let Some(first) = report.parts.first() {
        report.sha256.clone_from(&first.sha256);
        if summary.parts.len() == 1 {
            report.name.clone_from(&first.name);
        }
    }
}
