//! `liveramp`: deliver audiences to LiveRamp now or nightly, check a configuration, show the
//! schedule, and normalise values the way LiveRamp matches them.
//!
//! Exit codes: 0 all delivered (or skipped as already delivered), 1 a delivery failed,
//! 2 invalid configuration or usage.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(
    clippy::single_match_else,
    clippy::cast_precision_loss,
    clippy::map_unwrap_or,
    clippy::collapsible_if
)]

/// `println!` that ignores a closed stdout (`liveramp ... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod daemon;
mod demo;
mod dsr;
mod metrics;
mod serve;
mod status;
mod store_cmds;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::{Parser, Subcommand};
use liveramp_connector::{
    Audience, Config, Connector, DeliverOptions, Error as ConnectorError, FileStatus, Report,
};
use liveramp_pii_normalize as normalize;

/// Deliver audiences to LiveRamp: one file per data type per night, over SFTP, optionally
/// gzip'd and OpenPGP-encrypted.
#[derive(Parser, Debug)]
#[command(name = "liveramp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Deliver now for one run date (default: today's run date in the schedule's zone).
    Run {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The run date (the date in the file names), YYYY-MM-DD.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        /// Only this audience (repeatable); default: every audience.
        #[arg(long = "audience", value_name = "ID")]
        audiences: Vec<String>,
        /// Build plain files in a local folder and print their first rows; upload nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deliver even what the ledger has as delivered for this date.
        #[arg(long)]
        force: bool,
        /// Write the JSON report (a list, one entry per audience) to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Worker threads that parse, map and hash members (default: every core). The files
        /// are identical whatever the number.
        #[arg(long, value_name = "N", default_value_t = 0)]
        threads: usize,
    },
    /// Apply mParticle Firehose messages (one JSON message per line) to the membership store.
    Ingest {
        /// The configuration file (its `[store]` is used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The file of messages (default, or `-`: stdin).
        #[arg(value_name = "PATH")]
        input: Option<PathBuf>,
    },
    /// Print an audience's members as tonight's files would be built from them: one profile
    /// JSON per line, in snapshot order.
    Members {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The audience ID.
        #[arg(long, value_name = "ID")]
        audience: String,
    },
    /// List the audiences of the membership store: id, name, connected, members, newest change,
    /// last delivery.
    Audiences {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print every audience's last night (outcome, rows per file, rejections) and the stream's
    /// state; exit 1 when an audience needs attention.
    Status {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print the JSON of the status page's `/api/status` instead.
        #[arg(long)]
        json: bool,
    },
    /// The real-time path on this machine: the demo stream posted to the real Firehose endpoint
    /// (on 127.0.0.1) as mParticle would, into the store, then tonight's files.
    Demo {
        /// The configuration (default: the demo's, examples/demo/realtime.toml).
        #[arg(
            long,
            value_name = "FILE",
            default_value = "examples/demo/realtime.toml"
        )]
        config: PathBuf,
        /// The Firehose messages to post, one JSON message per line (default: the demo stream).
        #[arg(
            long,
            value_name = "FILE",
            default_value = "examples/demo/stream.ndjson"
        )]
        stream: PathBuf,
    },
    /// Data subject requests (GDPR, CCPA): list them, record an erasure, export what the store
    /// holds for a person.
    Dsr {
        #[command(subcommand)]
        command: DsrCommand,
    },
    /// Take mParticle's Firehose messages over HTTP into the store and deliver every connected
    /// audience nightly, in one process, until SIGTERM/SIGINT.
    Serve {
        /// The configuration file (its `[store]` and `[server]`).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run nightly on the schedule (catch-up at start), until SIGTERM/SIGINT.
    Daemon {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate the configuration, load the key, connect and check the folder is writable.
    Check {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the next run instants: `<run date> <instant in UTC> <local time>`.
    Schedule {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Start after this instant (RFC 3339, e.g. 2026-03-08T12:00:00Z); default: now.
        #[arg(long, value_name = "RFC3339-INSTANT")]
        after: Option<DateTime<chrono::FixedOffset>>,
        /// How many runs to print.
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// Normalise (or hash) values read from stdin, one per line.
    Normalize {
        /// What the values are.
        #[arg(value_parser = kind_parser())]
        kind: normalize::Kind,
        /// Print this hash of the normalised value instead (md5, sha1, sha256).
        #[arg(long, value_name = "ALG")]
        hash: Option<String>,
        /// Print one tab-separated line per input instead: its line number, `ok` and the value
        /// (or its hash) and what normalising changed, or `rejected` and the reason code.
        #[arg(long)]
        explain: bool,
    },
    /// Parse, map, normalise and hash the members as `run` would, writing no file; prints one
    /// JSON line of counts (the benchmark's compute ceiling).
    #[command(hide = true)]
    MapOnly {
        /// The configuration file (its mapping and data types are used; nothing is delivered).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The member file (NDJSON, one profile per line).
        #[arg(long, value_name = "FILE")]
        members: PathBuf,
        /// Worker threads (default: every core).
        #[arg(long, value_name = "N", default_value_t = 0)]
        threads: usize,
    },
    /// Upload local files, unchanged, with the configured destination's transport (one session,
    /// in order, each published under its own file name); prints one JSON line with the files,
    /// bytes and seconds (connection included): the benchmark's pure upload measurement.
    #[command(hide = true)]
    UploadFiles {
        /// The configuration file (its `[sftp]` or `[directory]` destination is used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The files to upload.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

/// `liveramp dsr ...`.
#[derive(Subcommand, Debug)]
enum DsrCommand {
    /// Print the recorded requests: id, type, regulation, status, members affected (never an
    /// identity).
    List {
        /// The configuration file (its `[store]` is used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Erase a person from every audience of the store now, as an erasure request from
    /// mParticle would: give at least one identity (each flag repeatable). A value written
    /// `sha256:HEX` (or `md5:`, `sha1:`) is that hash of the normalised value.
    Erase {
        /// The configuration file (its `[store]` is used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// An email address.
        #[arg(long = "email", value_name = "EMAIL")]
        emails: Vec<String>,
        /// A phone number.
        #[arg(long = "phone", value_name = "PHONE")]
        phones: Vec<String>,
        /// An iOS advertising id (IDFA).
        #[arg(long = "idfa", value_name = "IDFA")]
        idfas: Vec<String>,
        /// An Android advertising id (AAID).
        #[arg(long = "aaid", value_name = "AAID")]
        aaids: Vec<String>,
        /// An mParticle id (the member key).
        #[arg(long = "mpid", value_name = "MPID")]
        mpids: Vec<String>,
        /// The regulation: gdpr or ccpa.
        #[arg(long, value_name = "REGULATION")]
        regulation: Option<String>,
        /// The request's id (default: a new random UUID); the same id again changes nothing.
        #[arg(long = "request-id", value_name = "ID")]
        request_id: Option<String>,
    },
    /// Write what the store holds for the subject of a recorded request, as JSON, for the
    /// operator to hand over (access and portability requests).
    Export {
        /// The configuration file (its `[store]` is used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The request's id (see `liveramp dsr list`).
        #[arg(long = "request", value_name = "ID")]
        request: String,
        /// Write it to this file (created readable by its owner only) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// A failure and its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: error.into(),
        }
    }

    fn delivery(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

/// Configuration problems exit 2, everything else 1.
fn classify(error: ConnectorError) -> Failure {
    match error {
        ConnectorError::Config(_) | ConnectorError::Key { .. } => Failure::usage(error),
        other => Failure::delivery(other),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run {
            config,
            date,
            audiences,
            dry_run,
            force,
            report,
            threads,
        } => run(
            &config,
            date,
            &audiences,
            dry_run,
            force,
            report.as_deref(),
            threads,
        ),
        Command::Daemon { config } => daemon::run(&config),
        Command::Serve { config } => serve::run(&config),
        Command::Dsr { command } => match command {
            DsrCommand::List { config, json } => dsr::list(&config, json),
            DsrCommand::Erase {
                config,
                emails,
                phones,
                idfas,
                aaids,
                mpids,
                regulation,
                request_id,
            } => dsr::erase(
                &config,
                &dsr::Identities {
                    emails,
                    phones,
                    idfas,
                    aaids,
                    mpids,
                },
                regulation.as_deref(),
                request_id.as_deref(),
            ),
            DsrCommand::Export {
                config,
                request,
                output,
            } => dsr::export(&config, &request, output.as_deref()),
        },
        Command::Demo { config, stream } => demo::run(&config, &stream),
        Command::Ingest { config, input } => store_cmds::ingest_command(&config, input.as_deref()),
        Command::Members { config, audience } => store_cmds::members_command(&config, &audience),
        Command::Audiences { config, json } => store_cmds::audiences_command(&config, json),
        Command::Status { config, json } => status::status_command(&config, json),
        Command::Check { config } => check(&config),
        Command::Schedule {
            config,
            after,
            count,
        } => schedule(&config, after.map(|t| t.with_timezone(&Utc)), count),
        Command::Normalize {
            kind,
            hash,
            explain,
        } => normalize_values(kind, hash.as_deref(), explain),
        Command::MapOnly {
            config,
            members,
            threads,
        } => map_only(&config, &members, threads),
        Command::UploadFiles { config, files } => upload_files(&config, &files),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.error);
            for cause in failure.error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(failure.code)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIVERAMP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}

pub(crate) fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure::usage(ConnectorError::Config(e)))
}

pub(crate) fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

fn run(
    config_path: &Path,
    date: Option<NaiveDate>,
    only: &[String],
    dry_run: bool,
    force: bool,
    report_path: Option<&Path>,
    threads: usize,
) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let run_date = date.unwrap_or_else(|| config.schedule.schedule.run_date(Utc::now()));
    let (connector, audiences) = if config.store.is_none() {
        // Without a store every audience is file-sourced: the configuration says it all, and
        // is checked before anything is opened.
        let audiences = file_audiences(&config, config_path, only)?;
        (Connector::new(config).map_err(classify)?, audiences)
    } else {
        let connector = Connector::new(config).map_err(classify)?;
        let audiences = deliverable_audiences(&connector, config_path, only)?;
        (connector, audiences)
    };
    let cancel = connector.cancel_handle();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    print_warnings(connector.warnings());

    let options = DeliverOptions::new()
        .force(force)
        .dry_run(dry_run)
        .threads(threads);
    let mut reports: Vec<Report> = Vec::new();
    let mut failed = false;
    for audience in &audiences {
        let progress = Progress::new(&audience.id);
        let result = connector.deliver_audience(audience, run_date, &options, &mut |n| {
            progress.tick(n);
        });
        progress.done();
        match result {
            Ok(report) => {
                print_report(&report);
                failed |= !report.succeeded();
                reports.push(report);
            }
            // The same line as before the delivery existed: the file, and why.
            Err(ConnectorError::Members {
                audience,
                path,
                source,
            }) => {
                eprintln!(
                    "error: cannot read the members of audience {audience} from {}: {source}",
                    path.display()
                );
                failed = true;
            }
            Err(e) => {
                let failure = classify(e);
                eprintln!("error: audience {}: {}", audience.id, failure.error);
                for cause in failure.error.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                failed = true;
                if matches!(
                    failure.error.downcast_ref::<ConnectorError>(),
                    Some(ConnectorError::Cancelled { .. } | ConnectorError::Ledger { .. })
                ) {
                    break;
                }
            }
        }
    }
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&reports)
            .context("could not serialise the report")
            .map_err(Failure::delivery)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("could not write the report to {}", path.display()))
            .map_err(Failure::delivery)?;
    }
    Ok(u8::from(failed))
}

/// The audiences `run` delivers from a configuration without a store: `only`, or all; each
/// must have a members file.
fn file_audiences(
    config: &Config,
    config_path: &Path,
    only: &[String],
) -> Result<Vec<Audience>, Failure> {
    let mut audiences: Vec<Audience> = Vec::new();
    for id in only {
        match config.audience(id) {
            Some(a) => audiences.push(a.clone()),
            None => {
                let known: Vec<&str> = config.audiences.iter().map(|a| a.id.as_str()).collect();
                return Err(Failure::usage(anyhow::anyhow!(
                    "audience {id:?} is not in {}; the audiences there are: {}",
                    config_path.display(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
    }
    if only.is_empty() {
        audiences.clone_from(&config.audiences);
    }
    if audiences.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} has no [[audiences]]: add one with id, external_name and members",
            config_path.display()
        )));
    }
    if let Some(a) = audiences.iter().find(|a| a.members.is_none()) {
        return Err(Failure::usage(anyhow::anyhow!(
            "audience {} has no members file: set members = \"path/to/members.ndjson\" in its \
             [[audiences]] entry, or add a [store] to deliver it from mParticle's real-time stream",
            a.id
        )));
    }
    Ok(audiences)
}

/// The audiences `run` delivers with a store: the file-sourced ones and those connected in
/// the store (`only`, or all).
fn deliverable_audiences(
    connector: &Connector,
    config_path: &Path,
    only: &[String],
) -> Result<Vec<Audience>, Failure> {
    let all = connector.audiences().map_err(classify)?;
    for unmatched in connector.unmatched_audiences().map_err(classify)? {
        if only.is_empty() || only.contains(&unmatched.id) {
            eprintln!(
                "warning: audience {} of {} has no members file and is not connected in the \
                 membership store: nothing to deliver for it",
                unmatched.id,
                config_path.display()
            );
        }
    }
    let mut audiences = Vec::new();
    for id in only {
        match all.iter().find(|a| &a.id == id) {
            Some(a) => audiences.push(a.clone()),
            None => {
                let known: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
                return Err(Failure::usage(anyhow::anyhow!(
                    "audience {id:?} is neither in {} with a members file nor connected in the \
                     membership store; the audiences to deliver are: {}",
                    config_path.display(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
    }
    if only.is_empty() {
        audiences = all;
    }
    if audiences.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "nothing to deliver: {} has no audience with a members file and the membership \
             store has no connected audience (ingest mParticle's audience_subscription_request \
             first: liveramp ingest)",
            config_path.display()
        )));
    }
    Ok(audiences)
}

pub(crate) fn print_report(report: &Report) {
    let mut out = io::stdout().lock();
    let read_nothing = report
        .files
        .iter()
        .all(|f| f.status == FileStatus::AlreadyDelivered);
    let _ = writeln!(
        out,
        "audience {} ({}), run date {}: {}{}",
        report.audience_id,
        report.external_name,
        report.run_date,
        if read_nothing {
            "nothing to do".to_owned()
        } else {
            format!("{} members", report.members)
        },
        if report.malformed_members > 0 {
            format!(", {} malformed lines skipped", report.malformed_members)
        } else {
            String::new()
        }
    );
    if let Some(source) = &report.source {
        let newest = source
            .newest_change_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .map_or_else(
                || "none".to_owned(),
                |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
            );
        let _ = writeln!(
            out,
            "  from the {}: {} members, newest change {newest}",
            source.kind,
            source.members.unwrap_or(report.members)
        );
    }
    for m in &report.malformed {
        let _ = writeln!(out, "  malformed line {}: {}", m.line, m.error);
    }
    for file in &report.files {
        let status = match file.status {
            FileStatus::Delivered => "delivered",
            FileStatus::AlreadyDelivered => "already delivered (skipped; --force to resend)",
            FileStatus::DryRun => "built (dry run)",
            FileStatus::BelowMinimumRows => "NOT uploaded (under 25 rows)",
            _ => "FAILED",
        };
        let _ = writeln!(
            out,
            "  {} -> segment \"{}\": {status}",
            file.name, file.segment_name
        );
        if matches!(file.status, FileStatus::Delivered | FileStatus::DryRun) {
            let _ = writeln!(
                out,
                "    {} rows, {} bytes, sha256 {}",
                file.rows, file.bytes, file.sha256
            );
            for part in file.parts.iter().filter(|p| !p.location.is_empty()) {
                let _ = writeln!(out, "    -> {}", part.location);
            }
        }
        if !file.rejected.is_empty() {
            let list: Vec<String> = file
                .rejected
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(out, "    rejected: {}", list.join(", "));
        }
        if let Some(error) = &file.error {
            let _ = writeln!(out, "    error: {error}");
        }
        for line in &file.preview {
            let _ = writeln!(out, "    | {line}");
        }
    }
    for warning in &report.warnings {
        if !report.files.is_empty() {
            let _ = writeln!(out, "  warning: {warning}");
        }
    }
}

/// A progress bar with members/s on a terminal; plain log lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    audience: String,
    started: Instant,
    last_log: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(audience: &str) -> Progress {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} audience {prefix}: {human_pos} members ({per_sec}) {elapsed}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(audience.to_owned());
            bar
        });
        Progress {
            bar,
            audience: audience.to_owned(),
            started: Instant::now(),
            last_log: std::cell::Cell::new(Instant::now()),
        }
    }

    fn tick(&self, members: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(members),
            None => {
                if self.last_log.get().elapsed().as_secs() >= 10 {
                    self.last_log.set(Instant::now());
                    let secs = self.started.elapsed().as_secs_f64().max(0.001);
                    eprintln!(
                        "audience {}: {members} members read ({:.0} members/s)",
                        self.audience,
                        members as f64 / secs
                    );
                }
            }
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn check(config_path: &Path) -> Result<u8, Failure> {
    let config = load(config_path)?;
    out!("configuration {}: valid", config_path.display());
    out!(
        "  {} audience(s); data types: {}",
        config.audiences.len(),
        config
            .data_types()
            .iter()
            .map(|t| if *t == liveramp_connector::DataType::Device {
                "device IDs"
            } else {
                "PII"
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    out!("  schedule: {}", config.schedule.schedule);
    let sources = liveramp_connector::check_member_sources(&config);
    let mut problems = Vec::new();
    for found in &sources {
        let whose = found
            .audience
            .as_ref()
            .map_or_else(|| "store".to_owned(), |id| format!("audience {id}"));
        match &found.problem {
            None => out!("{whose}: {}", found.source),
            Some(problem) => {
                out!("{whose}: {}: CANNOT BE READ", found.source);
                problems.push(problem.clone());
            }
        }
    }
    if !problems.is_empty() {
        let count = problems.len();
        return Err(Failure::usage(anyhow::anyhow!(
            "{} member source{} cannot be read, so a delivery would fail: {}",
            count,
            if count == 1 { "" } else { "s" },
            problems.join("; ")
        )));
    }
    let connector = Connector::new(config).map_err(classify)?;
    let summary = connector.check().map_err(classify)?;
    match &summary.key {
        Some(key) => {
            out!("key: fingerprint {}", key.fingerprint);
            out!(
                "  encryption subkey {} ({})",
                key.encryption_subkey_id,
                key.algorithm
            );
            out!(
                "  expires: {}",
                key.expires_at.as_deref().unwrap_or("never")
            );
        }
        None => out!("key: encryption is off"),
    }
    out!("destination: {}", summary.destination);
    if let Some(fp) = &summary.host_key_fingerprint {
        out!(
            "  host key {fp}, verified by {}",
            summary.host_key_verified_by
        );
    }
    out!("  connected, authenticated, folder writable");
    print_warnings(&summary.warnings);
    Ok(0)
}

fn schedule(config_path: &Path, after: Option<DateTime<Utc>>, count: usize) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let schedule = config.schedule.schedule;
    let mut t = after.unwrap_or_else(Utc::now);
    let mut out = io::stdout().lock();
    for _ in 0..count {
        let next = schedule.next_run_after(t);
        let local = next.with_timezone(&schedule.timezone);
        let _ = writeln!(
            out,
            "{} {} {}",
            schedule.run_date(next),
            next.to_rfc3339_opts(SecondsFormat::Secs, true),
            local.to_rfc3339_opts(SecondsFormat::Secs, false)
        );
        t = next;
    }
    Ok(0)
}

/// `KIND` of `liveramp normalize`: the names `pii-normalize` gives its kinds, listed in `--help`.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = normalize::Kind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(normalize::Kind::ALL.map(normalize::Kind::as_str))
        .try_map(|name| name.parse::<normalize::Kind>())
}

fn normalize_values(
    kind: normalize::Kind,
    hash: Option<&str>,
    explain: bool,
) -> Result<u8, Failure> {
    let algorithm = match hash {
        None => None,
        Some(name) => Some(name.parse::<normalize::HashAlgorithm>().map_err(|_| {
            Failure::usage(anyhow::anyhow!(
                "unknown hash algorithm {name:?}: use md5, sha1 or sha256"
            ))
        })?),
    };
    let stdin = io::stdin().lock();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (index, line) in stdin.lines().enumerate() {
        let line = line
            .context("could not read stdin")
            .map_err(Failure::delivery)?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let result = kind.normalize(line);
        let written = match (result, explain) {
            (Ok(value), false) => match algorithm {
                Some(a) => writeln!(out, "{}", normalize::hex_digest(a, &value)),
                None => writeln!(out, "{value}"),
            },
            (Err(_), false) => writeln!(out),
            // One line per input: its number, the result, and what normalising changed.
            (Ok(value), true) => {
                let changes = kind.changes(line, &value).join(", ");
                match algorithm {
                    Some(a) => writeln!(
                        out,
                        "{}\tok\t{}\t{changes}; {a} of {value}",
                        index + 1,
                        normalize::hex_digest(a, &value)
                    ),
                    None => writeln!(out, "{}\tok\t{value}\t{changes}", index + 1),
                }
            }
            (Err(rejected), true) => {
                writeln!(out, "{}\trejected\t{}", index + 1, rejected.code())
            }
        };
        written
            .context("could not write to stdout")
            .map_err(Failure::delivery)?;
    }
    out.flush()
        .context("could not write to stdout")
        .map_err(Failure::delivery)?;
    Ok(0)
}

/// `liveramp map-only`: every member parsed, mapped, normalised and hashed as a delivery would,
/// no file written. Prints `{"members":..,"malformed":..,"device_rows":..,"pii_rows":..}`: the
/// rows a delivery would write before the file format's own checks (line length, file size).
fn map_only(config_path: &Path, members_path: &Path, threads: usize) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let connector = Connector::new(config).map_err(classify)?;
    let members = std::fs::File::open(members_path)
        .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
        .with_context(|| format!("cannot read the members from {}", members_path.display()))
        .map_err(Failure::delivery)?;
    let summary = connector
        .map_only(members, &DeliverOptions::new().threads(threads))
        .map_err(classify)?;
    out!(
        "{{\"members\":{},\"malformed\":{},\"device_rows\":{},\"pii_rows\":{}}}",
        summary.members,
        summary.malformed_members,
        summary.device_rows,
        summary.pii_rows
    );
    Ok(0)
}

/// `liveramp upload-files`: uploads `files` as they are with the configured transport, timed
/// from before the connection to after the last file is published. Prints
/// `{"files":..,"bytes":..,"seconds":..,"mb_per_s":..}` (MB = 10^6 bytes).
fn upload_files(config_path: &Path, files: &[PathBuf]) -> Result<u8, Failure> {
    let connector = Connector::new(load(config_path)?).map_err(classify)?;
    let started = Instant::now();
    let mut bytes = 0u64;
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", file.display()))
            .map_err(Failure::usage)?;
        bytes += connector
            .upload_file(file, name)
            .with_context(|| format!("cannot upload {}", file.display()))
            .map_err(Failure::delivery)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    out!(
        "{{\"files\":{},\"bytes\":{bytes},\"seconds\":{seconds:.6},\"mb_per_s\":{:.3}}}",
        files.len(),
        bytes as f64 / 1e6 / seconds.max(1e-9)
    );
    Ok(0)
}
