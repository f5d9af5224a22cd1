//! Publishing: what happens to a finished file. A [`Delivery`] claims runs in the ledger,
//! builds in the transport's staging folder or a private spool, streams while building where
//! the transport is remote, refuses what LiveRamp would not take, and publishes through the
//! transport. A [`DryRun`] claims nothing, builds plain CSV files in a local folder, turns
//! refusals into warnings and keeps and previews every file.

use std::fs::File;
use std::io::{self, BufRead};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;
use liveramp_encrypt::RecipientKey;
use liveramp_file_format::{DataType, FileName, FileSummary};
use liveramp_scheduler::{Begin, Claim, DeliveredRecord, Fence, Ledger, Outcome, RunKey};
use liveramp_transport::Transport;
use tracing::{info, info_span, warn};

use super::build::{self, Finished};
use super::plan::PlannedFile;
use super::record;
use crate::config::Audience;
use crate::connector::Connector;
use crate::error::Error;
use crate::error_chain;
use crate::options::DeliverOptions;
use crate::report::{FileStatus, Report};
use crate::spool::{Spooled, Workspace, create_private_dir};
use crate::stream::{StreamedPart, lease_lost};

/// How many rows of each file a dry run previews (besides the header).
const PREVIEW_ROWS: usize = 5;

/// What claiming a run came to.
pub(crate) enum Claimed {
    /// Claimed: build it, then record its outcome.
    Claim(liveramp_scheduler::Claim),
    /// This publisher does not use the ledger: build it.
    Unrecorded,
    /// Delivered already: skip it.
    AlreadyDelivered(DeliveredRecord),
    /// Another process is delivering it: skip it.
    Busy,
}

/// What happens to the files of a delivery, from the claim to the end.
pub(crate) trait Publisher {
    /// Where parts are built.
    fn workspace(&self) -> &Workspace;

    /// The file's name as published: `base` with this publisher's compression and encryption
    /// extensions.
    fn file_name(&self, base: FileName) -> Result<FileName, liveramp_file_format::Error>;

    /// The key parts are encrypted to, if any.
    fn key(&self) -> Option<&RecipientKey>;

    /// The transport to stream the parts of `data_type` over while they are built, if any.
    fn stream_from(
        &self,
        data_type: DataType,
        selected: &[DataType],
    ) -> Option<&Mutex<Box<dyn Transport>>>;

    /// Claims `run` in the ledger, or says why not.
    fn claim(&self, run: &RunKey, force: bool) -> Result<Claimed, Error>;

    /// The file's header differs from the one last delivered (and a change is not accepted):
    /// `Ok(true)` to build it anyway, `Ok(false)` when it was refused (its report says why).
    fn header_changed(
        &self,
        file: &mut PlannedFile,
        audience: &str,
        report: &mut Report,
    ) -> Result<bool, Error>;

    /// The file is built and has fewer than LiveRamp's 25 rows (and small files are not
    /// allowed): records or keeps it as this publisher does. `message` says why.
    fn small_file(&self, file: Finished, message: String, report: &mut Report)
    -> Result<(), Error>;

    /// The file is built and passed its checks: publishes (or keeps) it and records it.
    fn publish(&self, file: Finished, audience: &str, report: &mut Report) -> Result<(), Error>;
}

/// Finishes a built file, checks it, and hands it to the publisher.
pub(crate) fn complete(
    connector: &Connector,
    publisher: &dyn Publisher,
    audience: &Audience,
    file: build::Building<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let file_span = info_span!("file", name = %file.planned.report.name);
    let _f = file_span.enter();
    let finished = match build::finish(file, publisher.workspace()) {
        Ok(finished) => finished,
        Err(failed) => {
            let (mut planned, message) = *failed;
            record::fail(connector, &mut planned, message)?;
            report.files.push(planned.report);
            return Ok(());
        }
    };
    if finished.summary.below_minimum_rows {
        let report_name = &finished.planned.report.name;
        let rows = match finished.summary.rows {
            1 => "1 row".to_owned(),
            n => format!("{n} rows"),
        };
        if !connector.config.allow_small_files {
            // Said once: as the file's error in a delivery, as a warning in a dry run.
            let message = format!(
                "{report_name} has {rows}, fewer than LiveRamp's minimum of 25: LiveRamp would \
                 not process it, so it was not uploaded (to send it anyway, set \
                 `allow_small_files = true` at the top level of the configuration, before any \
                 [section])"
            );
            return publisher.small_file(finished, message, report);
        }
        report.warnings.push(format!(
            "{report_name} has {rows}, fewer than LiveRamp's minimum of 25: LiveRamp may not \
             process it (sent because allow_small_files = true)"
        ));
    }
    publisher.publish(finished, &audience.id, report)
}

/// A real delivery: the ledger, the transport, refusals.
pub(crate) struct Delivery<'c> {
    connector: &'c Connector,
    workspace: Workspace,
    staged: bool,
}

impl<'c> Delivery<'c> {
    pub(crate) fn new(connector: &'c Connector) -> Self {
        // Build in the destination's own folder when it has one (published by a rename),
        // else in a private spool under the state folder.
        let staging = connector
            .transport_guard()
            .staging_dir()
            .map(Path::to_path_buf);
        // A shared ledger's claims are leases that can be lost while held: a file built in
        // place under the shared temporary name could then be touched by two nodes, so it is
        // built in the private spool and uploaded (each block only while the lease holds).
        let staging = staging.filter(|_| !connector.ledger.leases());
        let staged = staging.is_some();
        let workspace = match staging {
            Some(dir) => Workspace { dir, hidden: true },
            None => Workspace {
                dir: connector.config.state_dir.join("spool"),
                hidden: false,
            },
        };
        Delivery {
            connector,
            workspace,
            staged,
        }
    }

    /// Publishes each part: a rename out of the staging folder, or the streamed upload's
    /// commit (falling back to an upload of the spooled copy, retried per policy) followed by
    /// the spool's removal.
    fn publish_parts(
        &self,
        summary: &FileSummary<Spooled>,
        report: &mut crate::report::FileReport,
        fence: Option<&Fence>,
    ) -> Result<(), String> {
        for (part, out) in summary.parts.iter().zip(report.parts.iter_mut()) {
            let started = Instant::now();
            let name = part.name.as_str();
            if let Some(lost) = lease_lost(fence) {
                return Err(lost);
            }
            if self.staged {
                let receipt = self
                    .connector
                    .transport_guard()
                    .publish_file(&part.output.path, name)
                    .map_err(|e| {
                        format!(
                            "could not publish {}: {}",
                            self.workspace.dir.join(name).display(),
                            error_chain(&e)
                        )
                    })?;
                out.replaced = receipt.replaced;
                out.location = receipt.remote_path;
                out.attempts = 1;
            } else {
                // Streamed while it was built: publish it (rename at the destination). If the
                // stream failed, upload the spooled copy (retried per policy).
                let streamed = part
                    .output
                    .stream
                    .lock()
                    .ok()
                    .and_then(|mut s| s.take())
                    .map(StreamedPart::commit);
                let (receipt, earlier) = match streamed {
                    Some(Ok(receipt)) => (receipt, 0),
                    // Not uploaded again by a node that no longer holds the delivery.
                    Some(Err(e)) if lease_lost(fence).is_some() => return Err(e),
                    other => {
                        let earlier = match other {
                            Some(Err(e)) => {
                                warn!("streaming {name} failed ({e}); uploading the spooled copy");
                                1
                            }
                            _ => 0,
                        };
                        let receipt = upload_fenced(
                            &mut **self.connector.transport_guard(),
                            &part.output.path,
                            name,
                            fence,
                        )?;
                        (receipt, earlier)
                    }
                };
                let _ = std::fs::remove_file(&part.output.path);
                out.location = receipt.remote_path;
                out.attempts = receipt.attempts + earlier;
                out.replaced = receipt.replaced;
                if receipt.bytes != out.bytes {
                    return Err(format!(
                        "uploading {name}: the server has {} bytes, {} were sent",
                        receipt.bytes, out.bytes
                    ));
                }
            }
            out.upload_ms = record::millis(started);
            report.attempts = report.attempts.max(out.attempts);
        }
        Ok(())
    }
}

/// Uploads a spooled part (retried per policy). With a `fence`, every block is sent, and the
/// upload allowed to publish, only while the claim's lease holds.
fn upload_fenced(
    transport: &mut dyn Transport,
    path: &Path,
    name: &str,
    fence: Option<&Fence>,
) -> Result<liveramp_transport::Receipt, String> {
    let mut lost = None;
    let result =
        liveramp_transport::upload_file_checked(transport, path, name, &mut || match lease_lost(
            fence,
        ) {
            Some(message) => {
                lost = Some(message);
                Err(io::Error::other("the lease was lost"))
            }
            None => Ok(()),
        });
    match (result, lost) {
        (Ok(receipt), _) => Ok(receipt),
        (Err(_), Some(lost)) => Err(lost),
        (Err(e), None) => Err(format!("uploading {name} failed: {}", error_chain(&e))),
    }
}

impl Publisher for Delivery<'_> {
    fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    fn file_name(&self, base: FileName) -> Result<FileName, liveramp_file_format::Error> {
        base.with_compression(self.connector.config.file.compression)?
            .with_encryption(self.connector.key.is_some())
    }

    fn key(&self) -> Option<&RecipientKey> {
        self.connector.key.as_ref()
    }

    fn stream_from(
        &self,
        data_type: DataType,
        selected: &[DataType],
    ) -> Option<&Mutex<Box<dyn Transport>>> {
        // A remote destination streams one file while it is built: the PII file (by far the
        // larger), or the device file when it is the only one. Each stream holds a few MiB of
        // buffers in the transport; the other file is uploaded from the spool after the build.
        (!self.staged && (data_type == DataType::Pii || !selected.contains(&DataType::Pii)))
            .then_some(&self.connector.transport)
    }

    fn claim(&self, run: &RunKey, force: bool) -> Result<Claimed, Error> {
        let connector = self.connector;
        Ok(
            match connector
                .ledger
                .begin(run, Utc::now(), force)
                .map_err(|source| connector.ledger_error(source))?
            {
                Begin::Claimed(claim) => Claimed::Claim(claim),
                Begin::AlreadyDelivered(record) => Claimed::AlreadyDelivered(record),
                Begin::Busy => Claimed::Busy,
            },
        )
    }

    fn header_changed(
        &self,
        file: &mut PlannedFile,
        audience: &str,
        _report: &mut Report,
    ) -> Result<bool, Error> {
        let message = format!(
            "the {} header differs from the one last delivered for audience {audience}: \
             LiveRamp would pause this file until someone re-maps it, so it was not sent; \
             restore the previous columns, or set accept_header_change = true and update the \
             mapping in LiveRamp",
            file.data_type.as_str(),
        );
        warn!(file = %file.report.name, "{message}");
        record::finish(
            self.connector,
            file.claim.take(),
            Outcome::Failed(message.clone()),
        )?;
        file.report.error = Some(message);
        Ok(false)
    }

    fn small_file(
        &self,
        mut file: Finished,
        message: String,
        report: &mut Report,
    ) -> Result<(), Error> {
        file.planned.report.status = FileStatus::BelowMinimumRows;
        file.planned.report.error = Some(message.clone());
        record::finish(
            self.connector,
            file.planned.claim.take(),
            Outcome::Failed(message),
        )?;
        report.files.push(file.planned.report);
        // The guard removes what was built.
        drop(file.guard);
        Ok(())
    }

    fn publish(
        &self,
        mut file: Finished,
        audience: &str,
        report: &mut Report,
    ) -> Result<(), Error> {
        let connector = self.connector;
        if connector.cancel.is_cancelled() {
            record::finish(
                connector,
                file.planned.claim.take(),
                Outcome::Failed("cancelled".to_owned()),
            )?;
            return Err(Error::Cancelled {
                audience: audience.to_owned(),
            });
        }
        let upload_started = Instant::now();
        let fence = file.planned.claim.as_ref().map(Claim::fence);
        match self.publish_parts(&file.summary, &mut file.planned.report, fence.as_ref()) {
            Ok(()) => {
                file.guard.0.clear();
                file.planned.report.upload_ms = record::millis(upload_started);
                file.planned.report.status = FileStatus::Delivered;
                let delivered = record::delivered(&file.planned.report, &file.summary);
                record::finish(
                    connector,
                    file.planned.claim.take(),
                    Outcome::Delivered(delivered),
                )?;
                info!(
                    rows = file.planned.report.rows,
                    bytes = file.planned.report.bytes,
                    "delivered"
                );
            }
            Err(message) => {
                file.planned.report.upload_ms = record::millis(upload_started);
                warn!("{message}");
                record::fail(connector, &mut file.planned, message)?;
            }
        }
        drop(file.guard);
        report.files.push(file.planned.report);
        Ok(())
    }
}

/// A dry run: plain CSV files in a local folder, previewed; nothing claimed, recorded or
/// uploaded. With encryption on, the plain files are removed once previewed: a dry run must not
/// leave on disk the PII a delivery would only ever write encrypted.
pub(crate) struct DryRun {
    workspace: Workspace,
    keep_files: bool,
}

/// What a dry run with encryption on says in its report, once per audience.
pub(crate) const DRY_RUN_PLAINTEXT_REMOVED: &str = "encryption is on, so the dry run's plain CSV files were removed as soon as their first \
     rows were read for this preview: nothing unencrypted is left in the state folder (a \
     delivery writes only encrypted files); turn encryption off to keep them for inspection";

impl DryRun {
    pub(crate) fn new(connector: &Connector, options: &DeliverOptions) -> Self {
        let dir = options
            .dry_run_dir
            .clone()
            .unwrap_or_else(|| connector.config.state_dir.join("dry-run"));
        DryRun {
            workspace: Workspace { dir, hidden: false },
            keep_files: connector.key.is_none(),
        }
    }

    /// Keeps the file where it was built (removes it with encryption on), with its first rows
    /// in the report.
    fn keep(&self, mut file: Finished, report: &mut Report) {
        file.planned.report.status = FileStatus::DryRun;
        file.planned.report.preview = preview(&file.summary);
        if self.keep_files {
            for part in &mut file.planned.report.parts {
                part.location = self.workspace.dir.join(&part.name).display().to_string();
            }
            file.guard.0.clear();
        } else {
            for part in &mut file.planned.report.parts {
                "(removed: encryption is on)".clone_into(&mut part.location);
            }
            if !report
                .warnings
                .iter()
                .any(|w| w == DRY_RUN_PLAINTEXT_REMOVED)
            {
                report.warnings.push(DRY_RUN_PLAINTEXT_REMOVED.to_owned());
            }
        }
        // The guard removes the files it still holds.
        drop(file.guard);
        report.files.push(file.planned.report);
    }
}

impl Publisher for DryRun {
    fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    fn file_name(&self, base: FileName) -> Result<FileName, liveramp_file_format::Error> {
        Ok(base)
    }

    fn key(&self) -> Option<&RecipientKey> {
        None
    }

    fn stream_from(&self, _: DataType, _: &[DataType]) -> Option<&Mutex<Box<dyn Transport>>> {
        None
    }

    fn claim(&self, _run: &RunKey, _force: bool) -> Result<Claimed, Error> {
        Ok(Claimed::Unrecorded)
    }

    fn header_changed(
        &self,
        file: &mut PlannedFile,
        _audience: &str,
        report: &mut Report,
    ) -> Result<bool, Error> {
        report.warnings.push(format!(
            "{}: the header differs from the one last delivered: a real run would refuse it \
             (LiveRamp pauses such files) unless accept_header_change = true",
            file.report.name
        ));
        Ok(true)
    }

    fn small_file(
        &self,
        file: Finished,
        message: String,
        report: &mut Report,
    ) -> Result<(), Error> {
        report.warnings.push(message);
        self.keep(file, report);
        Ok(())
    }

    fn publish(&self, file: Finished, _audience: &str, report: &mut Report) -> Result<(), Error> {
        self.keep(file, report);
        Ok(())
    }
}

/// The header and first rows of a plain (dry-run) file.
fn preview(summary: &FileSummary<Spooled>) -> Vec<String> {
    let Some(part) = summary.parts.first() else {
        return Vec::new();
    };
    let Ok(file) = File::open(&part.output.path) else {
        return Vec::new();
    };
    io::BufReader::new(file)
        .lines()
        .take(PREVIEW_ROWS + 1)
        .map_while(Result::ok)
        .collect()
}

/// Makes the workspace folder (private: mode from the umask, files inside are `0600`).
pub(crate) fn prepare(publisher: &dyn Publisher) -> Result<(), Error> {
    create_private_dir(&publisher.workspace().dir)
}
