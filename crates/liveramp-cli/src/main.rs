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

mod daemon;

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
        /// Print the reason code of each rejected value on stderr.
        #[arg(long)]
        explain: bool,
    },
    /// Write generated messy members (NDJSON) for demos and benchmarks.
    #[command(hide = true)]
    GenerateMembers {
        /// How many members.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// The seed (the same seed gives the same file).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The output file (default: stdout).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
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
        Command::GenerateMembers {
            count,
            seed,
            output,
        } => generate(count, seed, output.as_deref()),
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

fn print_warnings(warnings: &[String]) {
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
             [[audiences]] entry",
            a.id
        )));
    }
    let run_date = date.unwrap_or_else(|| config.schedule.schedule.run_date(Utc::now()));
    let connector = Connector::new(config).map_err(classify)?;
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
        let members_path = audience.members.clone().unwrap_or_default();
        let members = match std::fs::File::open(&members_path) {
            Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
            Err(e) => {
                eprintln!(
                    "error: cannot read the members of audience {} from {}: {e}",
                    audience.id,
                    members_path.display()
                );
                failed = true;
                continue;
            }
        };
        let total = std::fs::metadata(&members_path)
            .map(|m| m.len())
            .unwrap_or(0);
        let progress = Progress::new(&audience.id, total);
        let result = connector.deliver_ndjson(audience, members, run_date, &options, &mut |n| {
            progress.tick(n);
        });
        progress.done();
        match result {
            Ok(report) => {
                print_report(&report);
                failed |= !report.succeeded();
                reports.push(report);
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

fn print_report(report: &Report) {
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
            for part in &file.parts {
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
    fn new(audience: &str, _bytes: u64) -> Progress {
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
    println!("configuration {}: valid", config_path.display());
    println!(
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
    println!("  schedule: {}", config.schedule.schedule);
    let connector = Connector::new(config).map_err(classify)?;
    let summary = connector.check().map_err(classify)?;
    match &summary.key {
        Some(key) => {
            println!("key: fingerprint {}", key.fingerprint);
            println!(
                "  encryption subkey {} ({})",
                key.encryption_subkey_id, key.algorithm
            );
            println!(
                "  expires: {}",
                key.expires_at.as_deref().unwrap_or("never")
            );
        }
        None => println!("key: encryption is off"),
    }
    println!("destination: {}", summary.destination);
    if let Some(fp) = &summary.host_key_fingerprint {
        println!(
            "  host key {fp}, verified by {}",
            summary.host_key_verified_by
        );
    }
    println!("  connected, authenticated, folder writable");
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
    let mut err = io::stderr().lock();
    for line in stdin.lines() {
        let line = line
            .context("could not read stdin")
            .map_err(Failure::delivery)?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let result = kind.normalize(line);
        let written = match result {
            Ok(value) => match algorithm {
                Some(a) => writeln!(out, "{}", normalize::hex_digest(a, &value)),
                None => writeln!(out, "{value}"),
            },
            Err(rejected) => {
                if explain {
                    let _ = out.flush();
                    let _ = writeln!(err, "{}", rejected.code());
                }
                writeln!(out)
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

fn generate(count: u64, seed: u64, output: Option<&Path>) -> Result<u8, Failure> {
    let result = match output {
        Some(path) => std::fs::File::create(path).and_then(|f| {
            let mut w = io::BufWriter::new(f);
            liveramp_connector::generate::write_members(&mut w, count, seed)
        }),
        None => {
            let mut w = io::BufWriter::new(io::stdout().lock());
            liveramp_connector::generate::write_members(&mut w, count, seed)
        }
    };
    result
        .context("could not write the members")
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
    println!(
        "{{\"members\":{},\"malformed\":{},\"device_rows\":{},\"pii_rows\":{}}}",
        summary.members, summary.malformed_members, summary.device_rows, summary.pii_rows
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
    println!(
        "{{\"files\":{},\"bytes\":{bytes},\"seconds\":{seconds:.6},\"mb_per_s\":{:.3}}}",
        files.len(),
        bytes as f64 / 1e6 / seconds.max(1e-9)
    );
    Ok(0)
}
