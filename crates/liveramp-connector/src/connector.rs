//! One delivery: members -> mapping -> CSV files -> gzip -> encryption -> spool -> publish.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use liveramp_encrypt::{EncryptOptions, EncryptingWriter, RecipientKey};
use liveramp_file_format::{
    CsvFileWriter, DataType, FileName, FileSummary, HeaderCheck, HeaderFingerprint, Limits,
    PartSink, RejectReason, WriterOptions,
};
use liveramp_identity_mapping::{Mapper, Profile};
use liveramp_scheduler::{
    Begin, CancelHandle, Claim, Delivered, DeliveredFile, DeliveryId, FileLedger, Ledger, Outcome,
};
use liveramp_sftp_transport::{
    DirectoryTransport, Receipt, SftpSettings, SftpTransport, Transport,
};
use sha2::{Digest, Sha256};
use tracing::{info, info_span, warn};

use crate::config::{Audience, Config, Destination};
use crate::error::Error;
use crate::members::MemberFault;
use crate::pipeline::{self, Batch, Consume, ITER_BATCH, Renderer};
use crate::report::{
    FileReport, FileStatus, MAX_LISTED_MALFORMED, MalformedMember, PartReport, Report,
};

/// How many rows of each file a dry run previews (besides the header).
const PREVIEW_ROWS: usize = 5;

/// Options of one delivery besides the audience, members and run date.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeliverOptions {
    /// Deliver even if the ledger says this run date was delivered (`--force`).
    pub force: bool,
    /// Build plain CSV files in a local folder and upload nothing (`--dry-run`); the ledger is
    /// neither read for skipping nor written.
    pub dry_run: bool,
    /// Where a dry run puts its files (default `{state_dir}/dry-run`).
    pub dry_run_dir: Option<PathBuf>,
    /// Only these data types (default: those the configuration selects).
    pub data_types: Option<Vec<DataType>>,
    /// Worker threads of [`Connector::deliver_ndjson`] and [`Connector::map_only`] (default:
    /// the machine's available parallelism). The output does not depend on it.
    pub threads: Option<usize>,
}

impl DeliverOptions {
    /// The defaults: not forced, not a dry run, every configured data type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`force`](Self::force).
    #[must_use]
    pub fn force(mut self, yes: bool) -> Self {
        self.force = yes;
        self
    }

    /// Sets [`dry_run`](Self::dry_run).
    #[must_use]
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Sets [`dry_run_dir`](Self::dry_run_dir).
    #[must_use]
    pub fn dry_run_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dry_run_dir = Some(dir.into());
        self
    }

    /// Sets [`data_types`](Self::data_types).
    #[must_use]
    pub fn data_types(mut self, types: Vec<DataType>) -> Self {
        self.data_types = Some(types);
        self
    }

    /// Sets [`threads`](Self::threads) (0 means the default).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = (threads > 0).then_some(threads);
        self
    }

    /// The worker threads to use: [`threads`](Self::threads) or the available parallelism.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

/// What [`Connector::map_only`] found: the members and rows a delivery would write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapSummary {
    /// Valid profiles.
    pub members: u64,
    /// Malformed lines (not valid profiles, or longer than `max_member_line_bytes`).
    pub malformed_members: u64,
    /// Rows of the device file.
    pub device_rows: u64,
    /// Rows of the PII file.
    pub pii_rows: u64,
    /// Bytes of CSV rendered (rows only, headers not counted).
    pub csv_bytes: u64,
    /// Values or members not sent, by reason code, over both data types.
    pub rejected: BTreeMap<String, u64>,
}

/// What `liveramp check` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckSummary {
    /// Where files go.
    pub destination: String,
    /// The recipient key: `(fingerprint, encryption subkey id, algorithm, expiry)`, when
    /// encryption is on.
    pub key: Option<KeySummary>,
    /// The server's host key fingerprint (SFTP).
    pub host_key_fingerprint: Option<String>,
    /// How the host key was verified.
    pub host_key_verified_by: String,
    /// Warnings from the configuration, the key and the transport.
    pub warnings: Vec<String>,
}

/// The recipient key as `liveramp check` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySummary {
    /// The primary key's fingerprint.
    pub fingerprint: String,
    /// The encryption subkey files are encrypted to.
    pub encryption_subkey_id: String,
    /// Its algorithm, e.g. `cv25519` or `RSA 3072`.
    pub algorithm: String,
    /// When it expires (RFC 3339), if it does.
    pub expires_at: Option<String>,
}

/// Delivers audiences to LiveRamp as configured: build it once with [`Connector::new`], then
/// call [`deliver`](Connector::deliver) for each audience and night. `Send + Sync`: one
/// connector can serve many threads (deliveries of one stream are serialised by the ledger).
pub struct Connector {
    config: Config,
    mapper: Mapper,
    key: Option<RecipientKey>,
    ledger: FileLedger,
    transport: Mutex<Option<Box<dyn Transport>>>,
    cancel: CancelHandle,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("configuration_name", &self.config.configuration_name)
            .finish_non_exhaustive()
    }
}

fn data_type_name(t: DataType) -> &'static str {
    match t {
        DataType::Device => "device",
        DataType::Pii => "pii",
    }
}

impl Connector {
    /// Prepares deliveries: builds the mapper, loads and checks the recipient key, opens the
    /// ledger in `state_dir` (creating it), and reads the SFTP password from its environment
    /// variable. Connects to nothing yet.
    pub fn new(config: Config) -> Result<Connector, Error> {
        let mapper = Mapper::new(&config.mapping).map_err(|e| {
            Error::Config(crate::ConfigError {
                source_file: config.source.clone(),
                problems: vec![format!("pii.columns: {e}")],
            })
        })?;
        let mut warnings = config.warnings.clone();
        let key = match (&config.file.encrypt, &config.file.public_key_path) {
            (true, Some(path)) => {
                let bytes = fs::read(path).map_err(|e| Error::Io {
                    action: "read the public key",
                    path: path.clone(),
                    source: e,
                })?;
                let key = RecipientKey::from_bytes(&bytes).map_err(|source| Error::Key {
                    path: path.clone(),
                    source,
                })?;
                for w in key.warnings() {
                    warnings.push(format!("file.public_key_path: {w}"));
                }
                Some(key)
            }
            _ => None,
        };
        let mut config = config;
        if let Destination::Sftp {
            settings,
            password_env: Some(var),
            ..
        } = &mut config.destination
        {
            match std::env::var(var.as_str()) {
                Ok(value) if !value.is_empty() => settings.password = Some(value.into()),
                _ => {
                    return Err(Error::Config(crate::ConfigError {
                        source_file: config.source.clone(),
                        problems: vec![format!(
                            "sftp.password_env: the environment variable {var} is not set; \
                             export it with the SFTP password"
                        )],
                    }));
                }
            }
        }
        if let Destination::Sftp {
            settings,
            passphrase_env: Some(var),
            ..
        } = &mut config.destination
        {
            match std::env::var(var.as_str()) {
                Ok(value) if !value.is_empty() => {
                    settings.private_key_passphrase = Some(value.into());
                }
                _ => {
                    return Err(Error::Config(crate::ConfigError {
                        source_file: config.source.clone(),
                        problems: vec![format!(
                            "sftp.private_key_passphrase_env: the environment variable {var} is \
                             not set; export it with the private key's passphrase, or remove the \
                             setting if the key has none"
                        )],
                    }));
                }
            }
        }
        fs::create_dir_all(&config.state_dir).map_err(|e| Error::Io {
            action: "create the state folder",
            path: config.state_dir.clone(),
            source: e,
        })?;
        let ledger = FileLedger::open(&config.state_dir).map_err(|source| Error::Ledger {
            dir: config.state_dir.clone(),
            source,
        })?;
        Ok(Connector {
            config,
            mapper,
            key,
            ledger,
            transport: Mutex::new(None),
            cancel: CancelHandle::new(),
            warnings,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ledger (to inspect what was delivered).
    pub fn ledger(&self) -> &FileLedger {
        &self.ledger
    }

    /// Warnings known before any delivery (configuration and key).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The handle that cancels deliveries in progress (checked between files and every few
    /// thousand members). Cancelled deliveries publish nothing further and return
    /// [`Error::Cancelled`].
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Checks what a delivery needs: the key, and the destination (connect, verify the host
    /// key, authenticate, write and remove a probe file).
    pub fn check(&self) -> Result<CheckSummary, Error> {
        let key = self.key.as_ref().map(|k| KeySummary {
            fingerprint: k.fingerprint().to_owned(),
            encryption_subkey_id: k.encryption_subkey_id().to_owned(),
            algorithm: k.algorithm().to_string(),
            expires_at: k.expires_at().map(|t| t.to_rfc3339()),
        });
        let report = match &self.config.destination {
            Destination::Directory { path } => DirectoryTransport::new(path)
                .create_dir(true)
                .check()
                .map_err(|source| Error::Transport {
                    action: "check the output folder",
                    source,
                })?,
            Destination::Sftp { .. } => {
                let mut guard = self.transport_guard();
                let transport = self.transport_in(&mut guard)?;
                let report = transport.check().map_err(|source| Error::Transport {
                    action: "check the SFTP server",
                    source,
                })?;
                let _ = transport.close();
                report
            }
        };
        let mut warnings = self.warnings.clone();
        warnings.extend(report.warnings.iter().cloned());
        Ok(CheckSummary {
            destination: report.destination,
            key,
            host_key_fingerprint: report.host_key_fingerprint,
            host_key_verified_by: report.host_key_verified_by,
            warnings,
        })
    }

    fn transport_guard(&self) -> std::sync::MutexGuard<'_, Option<Box<dyn Transport>>> {
        self.transport
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn transport_in<'g>(
        &self,
        guard: &'g mut Option<Box<dyn Transport>>,
    ) -> Result<&'g mut Box<dyn Transport>, Error> {
        if guard.is_none() {
            let transport: Box<dyn Transport> = match &self.config.destination {
                Destination::Directory { path } => Box::new(DirectoryTransport::new(path)),
                Destination::Sftp { settings, .. } => {
                    Box::new(SftpTransport::new((**settings).clone()).map_err(|source| {
                        Error::Transport {
                            action: "set up the SFTP connection",
                            source,
                        }
                    })?)
                }
            };
            *guard = Some(transport);
        }
        match guard.as_mut() {
            Some(t) => Ok(t),
            None => Err(Error::Cancelled {
                audience: String::new(),
            }),
        }
    }

    /// Uploads one local file, unchanged, to the configured destination as `remote_name`, over
    /// the connector's own session (the same transport, retries and atomic publishing as a
    /// delivery, but no ledger entry and no report). Returns the bytes the destination holds.
    /// The benchmark uses it to time the transport alone (`liveramp upload-files`).
    pub fn upload_file(&self, local_path: &Path, remote_name: &str) -> Result<u64, Error> {
        let mut guard = self.transport_guard();
        let transport = self.transport_in(&mut guard)?;
        transport
            .upload_file(local_path, remote_name)
            .map(|receipt| receipt.bytes)
            .map_err(|source| Error::Transport {
                action: "upload the file",
                source,
            })
    }

    /// Delivers one audience for one run date with the default options: every configured data
    /// type, skipping those the ledger has as delivered. See [`deliver_with`](Self::deliver_with).
    pub fn deliver<I, E>(
        &self,
        audience: &Audience,
        members: I,
        run_date: NaiveDate,
    ) -> Result<Report, Error>
    where
        I: IntoIterator<Item = Result<Profile, E>>,
        E: MemberFault,
    {
        self.deliver_with(
            audience,
            members,
            run_date,
            &DeliverOptions::new(),
            &mut |_| {},
        )
    }

    /// Delivers one audience for one run date: maps every member once, writes the device and
    /// PII files (names, limits and splitting of `file-format`), gzip and encryption as
    /// configured, publishes them, and records each in the ledger.
    ///
    /// `members` is any iterator of profiles; an `Err` item is a malformed member, counted and
    /// reported by its 1-based position (the line number of an NDJSON file), and the delivery
    /// of the rest goes on. `progress` is called with the number of members read so far every
    /// few thousand members.
    ///
    /// Returns the [`Report`]: a file that could not be delivered (upload failure, header
    /// changed, under 25 rows) is in it with its status and error, and
    /// [`Report::succeeded`] is false. `Err` is kept for what stops the whole delivery:
    /// cancellation, a ledger that cannot record, a local folder that cannot be written.
    pub fn deliver_with<I, E>(
        &self,
        audience: &Audience,
        members: I,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Report, Error>
    where
        I: IntoIterator<Item = Result<Profile, E>>,
        E: MemberFault,
    {
        let mut members = Some(members);
        self.deliver_core(
            audience,
            run_date,
            options,
            progress,
            &mut |types, consume| {
                let Some(members) = members.take() else {
                    return;
                };
                let mut renderer = Renderer::new(&self.mapper, types);
                let mut batch = Batch::default();
                let mut position: u64 = 0;
                for item in members {
                    position += 1;
                    match item {
                        Ok(profile) => renderer.render(position, &profile, &mut batch),
                        Err(e) if e.is_source_failure() => {
                            batch.failure = Some((position, e.to_string()));
                            break;
                        }
                        Err(e) => batch.malformed(position, &e),
                    }
                    if batch.items() >= ITER_BATCH {
                        if !consume(&batch) {
                            return;
                        }
                        batch.clear();
                    }
                }
                let _ = consume(&batch);
            },
        )
    }

    /// Delivers one audience from raw NDJSON (one profile JSON per line), like
    /// [`deliver_with`](Self::deliver_with) but on [`DeliverOptions::threads`] worker threads:
    /// lines are read in chunks on one thread, parsed, mapped, normalised, hashed and rendered
    /// as CSV rows on the workers, and written (limits, splitting, gzip, encryption, hashing)
    /// in input order on the calling thread. The files are byte-identical whatever the thread
    /// count, and identical to what `deliver_with` writes for the same members.
    ///
    /// A line longer than [`Config::max_member_line_bytes`] is reported as malformed with its
    /// line number without being held in memory; memory does not grow with the audience or
    /// with the longest line. A read error stops the delivery with
    /// [`Error::MemberSource`] and publishes nothing.
    ///
    /// ```
    /// use liveramp_connector::chrono::NaiveDate;
    /// use liveramp_connector::{Config, Connector, DeliverOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let config = Config::from_toml_str(
    ///     r#"
    ///     configuration_name = "example"
    ///     org_id = "3242"
    ///     [directory]
    ///     path = "out"
    ///     [data]
    ///     send_pii = true
    ///     [[audiences]]
    ///     id = "17095"
    ///     external_name = "VIP"
    ///     "#,
    ///     dir.path(),
    /// )?;
    /// let connector = Connector::new(config)?;
    /// let ndjson: String = (0..30)
    ///     .map(|i| {
    ///         format!(r#"{{"mpid": "{i}", "user_identities": [{{"type": "email", "value": "m{i}@example.com"}}]}}"#)
    ///             + "\n"
    ///     })
    ///     .collect();
    ///
    /// // What a delivery would write, without writing it.
    /// let summary = connector.map_only(ndjson.as_bytes(), &DeliverOptions::new())?;
    /// assert_eq!((summary.members, summary.pii_rows), (30, 30));
    ///
    /// let audience = &connector.config().audiences[0];
    /// let date = NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
    /// let options = DeliverOptions::new().threads(2);
    /// let report = connector.deliver_ndjson(audience, ndjson.as_bytes(), date, &options, &mut |_| {})?;
    /// assert!(report.succeeded());
    /// assert_eq!(report.files[0].rows, 30);
    /// assert!(dir.path().join("out/3242_17095-PII_2020-04-01.csv").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deliver_ndjson<R: BufRead + Send>(
        &self,
        audience: &Audience,
        reader: R,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Report, Error> {
        let mut reader = Some(reader);
        let threads = options.thread_count();
        let max_line = self.config.max_member_line_bytes;
        self.deliver_core(
            audience,
            run_date,
            options,
            progress,
            &mut |types, consume| {
                if let Some(reader) = reader.take() {
                    pipeline::run(reader, &self.mapper, types, threads, max_line, consume);
                }
            },
        )
    }

    /// Runs exactly the stages before the files (read, parse, map, normalise, hash, render
    /// CSV rows) on [`DeliverOptions::threads`] threads, writing nothing: the compute ceiling
    /// of a delivery, and a quick way to see what a member file would give.
    ///
    /// Renders the data types the configuration selects (or [`DeliverOptions::data_types`]).
    pub fn map_only<R: BufRead + Send>(
        &self,
        reader: R,
        options: &DeliverOptions,
    ) -> Result<MapSummary, Error> {
        let types = self.selected_types(options);
        let mut summary = MapSummary::default();
        let mut failure = None;
        pipeline::run(
            reader,
            &self.mapper,
            &types,
            options.thread_count(),
            self.config.max_member_line_bytes,
            |batch| {
                summary.members += batch.members;
                summary.malformed_members += batch.malformed.len() as u64;
                summary.device_rows += batch.device.len() as u64;
                summary.pii_rows += batch.pii.len() as u64;
                summary.csv_bytes += batch.device.byte_len() + batch.pii.byte_len();
                for (code, n) in batch.device.counts.iter().chain(&batch.pii.counts) {
                    *summary.rejected.entry((*code).to_owned()).or_default() += n;
                }
                if let Some(f) = &batch.failure {
                    failure = Some(f.clone());
                    return false;
                }
                !self.cancel.is_cancelled()
            },
        );
        if let Some((line, message)) = failure {
            return Err(Error::MemberSource {
                audience: String::new(),
                line,
                message,
            });
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled {
                audience: String::new(),
            });
        }
        Ok(summary)
    }

    fn selected_types(&self, options: &DeliverOptions) -> Vec<DataType> {
        self.config
            .data_types()
            .into_iter()
            .filter(|t| {
                options
                    .data_types
                    .as_ref()
                    .is_none_or(|only| only.contains(t))
            })
            .collect()
    }

    /// The delivery around the member pass: ledger, files, publishing. `produce` runs the
    /// members of the given data types through the consumer, batch by batch, in order, and
    /// stops when it returns `false`.
    fn deliver_core(
        &self,
        audience: &Audience,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
        produce: &mut dyn FnMut(&[DataType], &mut Consume<'_>),
    ) -> Result<Report, Error> {
        let span = info_span!("audience", id = %audience.id, run_date = %run_date);
        let _entered = span.enter();
        let started = Instant::now();
        let config = &self.config;
        let mut report = Report {
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
            warnings: self.warnings.clone(),
            duration_ms: 0,
        };

        let types = self.selected_types(options);

        // Where files are built: the destination folder itself (hidden `.NAME.part` names,
        // renamed into place), a private spool for SFTP, or the dry-run folder.
        let (spool_dir, hidden) = if options.dry_run {
            let dir = options
                .dry_run_dir
                .clone()
                .unwrap_or_else(|| config.state_dir.join("dry-run"));
            (dir, false)
        } else {
            match &config.destination {
                Destination::Directory { path } => (path.clone(), true),
                Destination::Sftp { .. } => (config.state_dir.join("spool"), false),
            }
        };
        create_private_dir(&spool_dir)?;

        let mut open: Vec<OpenFile<'_>> = Vec::new();
        for &data_type in &types {
            let file_span = info_span!("file", data_type = data_type_name(data_type));
            let _f = file_span.enter();
            let headers = match data_type {
                DataType::Device => self.mapper.device_headers(),
                DataType::Pii => self.mapper.pii_headers(),
            };
            let mut file = FileReport {
                data_type: data_type_name(data_type).to_owned(),
                segment_name: data_type.segment_name(&audience.external_name),
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
            };
            let name = FileName::new(&config.org_id, &audience.id, data_type, run_date)
                .and_then(|n| {
                    if options.dry_run {
                        Ok(n)
                    } else {
                        n.with_compression(config.file.compression)?
                            .with_encryption(self.key.is_some())
                    }
                })
                .map_err(|source| Error::FileName { source })?;
            file.name = name.to_string();
            let fingerprint =
                HeaderFingerprint::of(headers).map_err(|source| Error::FileName { source })?;
            file.header_fingerprint = fingerprint.to_hex();
            let delivery = DeliveryId::new(
                &config.configuration_name,
                &audience.id,
                data_type_name(data_type),
            );

            // The ledger: skip what was delivered, claim the rest.
            let claim = if options.dry_run {
                None
            } else {
                match self
                    .ledger
                    .begin(&delivery.on(run_date), Utc::now(), options.force)
                    .map_err(|source| self.ledger_error(source))?
                {
                    Begin::Claimed(claim) => {
                        remove_stale_spool(&spool_dir, hidden, &file.name, run_date);
                        Some(claim)
                    }
                    Begin::AlreadyDelivered(record) => {
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
                    Begin::Busy => {
                        file.error = Some(format!(
                            "another process is delivering the {} file of audience {} for {run_date} \
                             right now; try again when it has finished",
                            data_type_name(data_type),
                            audience.id
                        ));
                        report.files.push(file);
                        continue;
                    }
                }
            };

            // The header LiveRamp mapped must not change.
            let previous = self
                .ledger
                .last_delivered(&delivery)
                .map_err(|source| self.ledger_error(source))?
                .and_then(|r| HeaderFingerprint::from_hex(&r.delivered.header_fingerprint).ok());
            match fingerprint.check_unchanged(previous.as_ref(), config.accept_header_change) {
                Ok(HeaderCheck::ChangeAccepted) => report.warnings.push(format!(
                    "{}: the header differs from the one last delivered; accepted \
                     (accept_header_change = true): LiveRamp will pause this file until its \
                     mapping is updated",
                    file.name
                )),
                Ok(_) => {}
                Err(_) if options.dry_run => report.warnings.push(format!(
                    "{}: the header differs from the one last delivered: a real run would refuse \
                     it (LiveRamp pauses such files) unless accept_header_change = true",
                    file.name
                )),
                Err(_) => {
                    let message = format!(
                        "the {} header differs from the one last delivered for audience {}: \
                         LiveRamp would pause this file until someone re-maps it, so it was not \
                         sent; restore the previous columns, or set accept_header_change = true \
                         and update the mapping in LiveRamp",
                        data_type_name(data_type),
                        audience.id
                    );
                    warn!(file = %file.name, "{message}");
                    self.finish(claim, Outcome::Failed(message.clone()))?;
                    file.error = Some(message);
                    report.files.push(file);
                    continue;
                }
            }

            let sink = SpoolSink {
                dir: spool_dir.clone(),
                hidden,
                key: if options.dry_run {
                    None
                } else {
                    self.key.as_ref()
                },
                // One streamed upload: the PII file (by far the larger), or the device file
                // when it is the only one. Each stream holds a few MiB of buffers in
                // `sftp-transport`; the other file is uploaded from the spool after the build.
                stream_to: match &config.destination {
                    Destination::Sftp { settings, .. }
                        if !options.dry_run
                            && (data_type == DataType::Pii || !types.contains(&DataType::Pii)) =>
                    {
                        Some(settings.clone())
                    }
                    _ => None,
                },
            };
            let writer_options = WriterOptions {
                limits: Limits::default(),
                gzip_level: config.file.gzip_level,
            };
            // The sink hashes the bytes it stores (the report's digest): hash once.
            let writer = CsvFileWriter::with_options(&name, headers, sink, writer_options)
                .map_err(|source| Error::FileName { source })?
                .without_digest();
            open.push(OpenFile {
                data_type,
                writer: Some(writer),
                claim,
                report: file,
                counts: Vec::new(),
                failed: None,
            });
        }

        if open.is_empty() {
            report.files.sort_by(|a, b| a.data_type.cmp(&b.data_type));
            report.duration_ms = millis(started);
            return Ok(report);
        }

        // One pass over the members feeds every file.
        let build_started = Instant::now();
        let open_types: Vec<DataType> = open.iter().map(|f| f.data_type).collect();
        let mut failure: Option<(u64, String)> = None;
        let mut cancelled = false;
        produce(&open_types, &mut |batch: &Batch| {
            report.members += batch.members;
            report.malformed_members += batch.malformed.len() as u64;
            for (line, error) in &batch.malformed {
                if report.malformed.len() >= MAX_LISTED_MALFORMED {
                    break;
                }
                report.malformed.push(MalformedMember {
                    line: *line,
                    error: error.clone(),
                });
            }
            for file in &mut open {
                let rows = match file.data_type {
                    DataType::Device => &batch.device,
                    DataType::Pii => &batch.pii,
                };
                let Some(writer) = file.writer.as_mut() else {
                    continue;
                };
                let mut failed = None;
                for (key, line) in rows.iter() {
                    if let Err(e) = writer.write_encoded_row(key, line) {
                        failed = Some(format!(
                            "writing the file in {} failed: {e}",
                            spool_dir.display()
                        ));
                        break;
                    }
                }
                if let Some(message) = failed.or_else(|| rows.failed.clone()) {
                    file.failed = Some(message);
                    file.writer = None;
                    continue;
                }
                for (code, n) in &rows.counts {
                    add(&mut file.counts, code, *n);
                }
            }
            if let Some(f) = &batch.failure {
                failure = Some(f.clone());
                return false;
            }
            progress(report.members);
            if self.cancel.is_cancelled() {
                cancelled = true;
                return false;
            }
            true
        });
        if let Some((line, message)) = failure {
            let error = Error::MemberSource {
                audience: audience.id.clone(),
                line,
                message,
            };
            return Err(self
                .abort_all(open, "the member source failed")
                .unwrap_or(error));
        }
        progress(report.members);
        if cancelled || self.cancel.is_cancelled() {
            return Err(self.cancel_all(open, &audience.id));
        }
        let build_ms = millis(build_started);

        // Finish, check, publish, record.
        for mut file in open {
            let file_span = info_span!("file", name = %file.report.name);
            let _f = file_span.enter();
            file.report.build_ms = build_ms;
            for (code, n) in &file.counts {
                file.report.rejected.insert((*code).to_owned(), *n);
            }
            let summary = match (file.writer.take(), file.failed.take()) {
                (Some(writer), None) => match writer.finish() {
                    Ok(summary) => summary,
                    Err(e) => {
                        let message =
                            format!("finishing the file in {} failed: {e}", spool_dir.display());
                        self.fail_file(&mut file, message)?;
                        report.files.push(file.report);
                        continue;
                    }
                },
                (_, failed) => {
                    let message = failed.unwrap_or_else(|| "the file was not written".to_owned());
                    self.fail_file(&mut file, message)?;
                    report.files.push(file.report);
                    continue;
                }
            };
            let mut guard = SpoolGuard(
                summary
                    .parts
                    .iter()
                    .map(|p| p.output.path.clone())
                    .collect(),
            );
            Self::note_summary(&mut file.report, &summary);
            if summary.below_minimum_rows && !config.allow_small_files {
                let message = format!(
                    "{} has {} rows, fewer than LiveRamp's minimum of 25: LiveRamp would not \
                     process it, so it was not uploaded (set allow_small_files = true to send it \
                     anyway)",
                    file.report.name, summary.rows
                );
                report.warnings.push(message.clone());
                if options.dry_run {
                    file.report.status = FileStatus::DryRun;
                    file.report.preview = preview(&summary);
                    guard.0.clear();
                } else {
                    file.report.status = FileStatus::BelowMinimumRows;
                    file.report.error = Some(message.clone());
                    self.finish(file.claim.take(), Outcome::Failed(message))?;
                }
                report.files.push(file.report);
                continue;
            }
            if summary.below_minimum_rows {
                report.warnings.push(format!(
                    "{} has {} rows, fewer than LiveRamp's minimum of 25: LiveRamp may not \
                     process it (sent because allow_small_files = true)",
                    file.report.name, summary.rows
                ));
            }
            if options.dry_run {
                file.report.status = FileStatus::DryRun;
                file.report.preview = preview(&summary);
                for part in &mut file.report.parts {
                    part.location = spool_dir.join(&part.name).display().to_string();
                }
                guard.0.clear();
                report.files.push(file.report);
                continue;
            }
            if self.cancel.is_cancelled() {
                self.finish(file.claim.take(), Outcome::Failed("cancelled".to_owned()))?;
                return Err(Error::Cancelled {
                    audience: audience.id.clone(),
                });
            }
            let upload_started = Instant::now();
            match self.publish(&summary, &mut file.report, &spool_dir, hidden) {
                Ok(()) => {
                    guard.0.clear();
                    file.report.upload_ms = millis(upload_started);
                    file.report.status = FileStatus::Delivered;
                    let delivered = Delivered {
                        files: file
                            .report
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
                    };
                    self.finish(file.claim.take(), Outcome::Delivered(delivered))?;
                    info!(
                        rows = file.report.rows,
                        bytes = file.report.bytes,
                        "delivered"
                    );
                }
                Err(message) => {
                    file.report.upload_ms = millis(upload_started);
                    warn!("{message}");
                    self.fail_file(&mut file, message)?;
                }
            }
            drop(guard);
            report.files.push(file.report);
        }
        // Device file first, then PII, whatever happened to each.
        report.files.sort_by(|a, b| a.data_type.cmp(&b.data_type));
        report.duration_ms = millis(started);
        Ok(report)
    }

    fn ledger_error(&self, source: liveramp_scheduler::Error) -> Error {
        Error::Ledger {
            dir: self.config.state_dir.clone(),
            source,
        }
    }

    fn finish(&self, claim: Option<Claim>, outcome: Outcome) -> Result<(), Error> {
        match claim {
            Some(claim) => self
                .ledger
                .finish(claim, Utc::now(), outcome)
                .map_err(|source| self.ledger_error(source)),
            None => Ok(()),
        }
    }

    fn fail_file(&self, file: &mut OpenFile<'_>, message: String) -> Result<(), Error> {
        file.report.status = FileStatus::Failed;
        self.finish(file.claim.take(), Outcome::Failed(message.clone()))?;
        file.report.error = Some(message);
        Ok(())
    }

    fn cancel_all(&self, open: Vec<OpenFile<'_>>, audience: &str) -> Error {
        self.abort_all(open, "cancelled")
            .unwrap_or_else(|| Error::Cancelled {
                audience: audience.to_owned(),
            })
    }

    /// Discards every file being built and records each as failed with `reason`; returns the
    /// ledger's error if it could not record one.
    fn abort_all(&self, open: Vec<OpenFile<'_>>, reason: &str) -> Option<Error> {
        for mut file in open {
            if let Some(writer) = file.writer.take() {
                let _ = writer.abort();
            }
            if let Err(e) = self.finish(file.claim.take(), Outcome::Failed(reason.to_owned())) {
                return Some(e);
            }
        }
        None
    }

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

    /// Publishes the spooled parts: a rename into the destination folder, or an SFTP upload
    /// (retried by the transport from the spool) followed by the spool's removal.
    fn publish(
        &self,
        summary: &FileSummary<Spooled>,
        report: &mut FileReport,
        spool_dir: &Path,
        hidden: bool,
    ) -> Result<(), String> {
        for (part, out) in summary.parts.iter().zip(report.parts.iter_mut()) {
            let started = Instant::now();
            let name = part.name.as_str();
            if hidden {
                let target = spool_dir.join(name);
                out.replaced = target.exists();
                fs::rename(&part.output.path, &target)
                    .and_then(|()| File::open(spool_dir).and_then(|d| d.sync_all()))
                    .map_err(|e| format!("could not publish {}: {e}", target.display()))?;
                out.location = target.display().to_string();
                out.attempts = 1;
            } else {
                // Streamed while it was built: publish it (rename on the server). If the stream
                // failed, upload the spooled copy (retried per policy).
                let streamed = part
                    .output
                    .stream
                    .lock()
                    .ok()
                    .and_then(|mut s| s.take())
                    .map(StreamedPart::commit);
                let (receipt, earlier) = match streamed {
                    Some(Ok(receipt)) => (receipt, 0),
                    other => {
                        let earlier = match other {
                            Some(Err(e)) => {
                                warn!("streaming {name} failed ({e}); uploading the spooled copy");
                                1
                            }
                            _ => 0,
                        };
                        let mut guard = self.transport_guard();
                        let transport =
                            self.transport_in(&mut guard).map_err(|e| error_chain(&e))?;
                        let receipt = transport
                            .upload_file(&part.output.path, name)
                            .map_err(|e| format!("uploading {name} failed: {}", error_chain(&e)))?;
                        (receipt, earlier)
                    }
                };
                let _ = fs::remove_file(&part.output.path);
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
            out.upload_ms = millis(started);
            report.attempts = report.attempts.max(out.attempts);
        }
        Ok(())
    }
}

/// An error and its causes, `: `-joined.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn add(counts: &mut Vec<(&'static str, u64)>, code: &'static str, n: u64) {
    if let Some(entry) = counts.iter_mut().find(|(c, _)| *c == code) {
        entry.1 += n;
    } else {
        counts.push((code, n));
    }
}

/// The header and first rows of a plain (dry-run) file.
fn preview(summary: &FileSummary<Spooled>) -> Vec<String> {
    use std::io::BufRead;
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

/// Removes what a killed process (`kill -9`, power loss: no drop guard ran) left in the spool
/// for this delivery stream, whatever its run date: plaintext PII when encryption is off. Safe
/// because the caller holds the stream's ledger claim, so no other process is building these
/// files. `name` is this run's file name; its part before the run date identifies the stream.
fn remove_stale_spool(dir: &Path, hidden: bool, name: &str, run_date: NaiveDate) {
    let Some(at) = name.find(&run_date.format("%Y-%m-%d").to_string()) else {
        return;
    };
    let stream = &name[..at];
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let stale = if hidden {
            // In a destination folder only our hidden `.NAME.part` files, never a final file.
            file_name
                .strip_prefix('.')
                .is_some_and(|rest| rest.starts_with(stream))
                && Path::new(file_name)
                    .extension()
                    .is_some_and(|e| e == "part")
        } else {
            file_name.starts_with(stream)
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            warn!(
                "removing {}, left by a delivery that did not finish",
                entry.path().display()
            );
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::Io {
        action: "create the folder",
        path: dir.to_path_buf(),
        source: e,
    })
}

/// One file being built.
struct OpenFile<'k> {
    data_type: DataType,
    writer: Option<CsvFileWriter<SpoolSink<'k>>>,
    claim: Option<Claim>,
    report: FileReport,
    counts: Vec<(&'static str, u64)>,
    failed: Option<String>,
}

/// Removes spooled files that were not published (on error, cancellation or panic).
struct SpoolGuard(Vec<PathBuf>);

impl Drop for SpoolGuard {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// A finished part waiting to be published.
struct Spooled {
    path: PathBuf,
    bytes: u64,
    sha256: String,
    /// The same bytes streamed to the server, waiting for the commit (SFTP). A `Mutex` only to
    /// take it out of the shared summary; dropping it aborts the remote temporary file.
    stream: Mutex<Option<StreamedPart>>,
}

/// Bytes handed to the uploading thread at a time.
const STREAM_BUF: usize = 256 * 1024;

/// What the writer sends to a part's uploading thread.
enum Feed {
    /// The next bytes of the part.
    Data(Vec<u8>),
    /// All bytes were sent and the part may be published: commit (rename) it.
    Commit,
}

/// One part being uploaded on its own thread and SFTP session while it is built: the bytes
/// written to the spool are also sent here (bounded queue, so memory stays flat and a slow
/// server slows the build instead of filling memory). Dropping it aborts the upload.
struct StreamedPart {
    tx: Option<SyncSender<Feed>>,
    buf: Vec<u8>,
    result: Receiver<Result<Receipt, String>>,
}

impl StreamedPart {
    fn start(settings: &SftpSettings, name: &str) -> StreamedPart {
        let (tx, rx) = sync_channel::<Feed>(2);
        let (result_tx, result) = sync_channel(1);
        let settings = settings.clone();
        let name = name.to_owned();
        let spawned = std::thread::Builder::new()
            .name("liveramp-upload".to_owned())
            .spawn(move || {
                let outcome = stream_part(settings, &name, &rx);
                if let Some(outcome) = outcome {
                    let _ = result_tx.send(outcome);
                }
            });
        StreamedPart {
            tx: spawned.ok().map(|_| tx),
            buf: Vec::with_capacity(STREAM_BUF),
            result,
        }
    }

    /// Queues `bytes` (sent in large blocks); after a failure, does nothing (the spool has
    /// them and the upload falls back to it).
    fn push(&mut self, bytes: &[u8]) {
        if self.tx.is_none() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= STREAM_BUF {
            self.send_buf();
        }
    }

    fn send_buf(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_BUF));
        if let Some(tx) = &self.tx
            && tx.send(Feed::Data(data)).is_err()
        {
            self.tx = None;
        }
    }

    /// Sends the rest; the part is complete.
    fn finish_feed(&mut self) {
        self.send_buf();
        self.buf = Vec::new();
    }

    /// Publishes the streamed part: the receipt, or why the stream failed.
    fn commit(mut self) -> Result<Receipt, String> {
        self.finish_feed();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Feed::Commit);
        }
        self.result
            .recv()
            .unwrap_or_else(|_| Err("the upload thread ended without a result".to_owned()))
    }
}

/// The uploading thread: opens its own session, writes what arrives to the temporary remote
/// name, and commits when told. `None` when the writer went away without committing (the
/// upload is then aborted and its temporary file removed).
fn stream_part(
    settings: SftpSettings,
    name: &str,
    rx: &Receiver<Feed>,
) -> Option<Result<Receipt, String>> {
    let mut transport = match SftpTransport::new(settings) {
        Ok(t) => t,
        Err(e) => return Some(Err(error_chain(&e))),
    };
    let outcome = {
        let mut stream = match transport.begin(name) {
            Ok(s) => s,
            Err(e) => return Some(Err(error_chain(&e))),
        };
        loop {
            match rx.recv() {
                Ok(Feed::Data(data)) => {
                    if let Err(e) = stream.write_all(&data) {
                        let detail = stream
                            .take_error()
                            .map_or_else(|| e.to_string(), |t| error_chain(&t));
                        let _ = stream.abort();
                        break Some(Err(detail));
                    }
                }
                Ok(Feed::Commit) => break Some(stream.commit().map_err(|e| error_chain(&e))),
                Err(_) => {
                    let _ = stream.abort();
                    break None;
                }
            }
        }
    };
    let _ = transport.close();
    outcome
}

/// The spool file, and the upload stream the same bytes go to (SFTP).
struct Tee {
    file: BufWriter<File>,
    stream: Option<StreamedPart>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all(buf)?;
        if let Some(stream) = &mut self.stream {
            stream.push(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Counts and hashes the bytes that reach the file (after encryption).
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Layer {
    Plain(Hashing<Tee>),
    Encrypted(Box<EncryptingWriter<Hashing<Tee>>>),
}

/// One part's writer: file, hashing, optional encryption.
struct PartWriter {
    layer: Layer,
    path: PathBuf,
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.layer {
            Layer::Plain(w) => w.write(buf),
            Layer::Encrypted(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.layer {
            Layer::Plain(w) => w.write_all(buf),
            Layer::Encrypted(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.layer {
            Layer::Plain(w) => w.flush(),
            Layer::Encrypted(w) => w.flush(),
        }
    }
}

/// Builds parts as local files: in the destination folder under hidden `.NAME.part` names, or
/// in a private spool folder. Files are created `0600`; with encryption they hold only
/// ciphertext.
struct SpoolSink<'k> {
    dir: PathBuf,
    hidden: bool,
    key: Option<&'k RecipientKey>,
    /// Stream each part to this SFTP server while it is built.
    stream_to: Option<Box<SftpSettings>>,
}

impl PartSink for SpoolSink<'_> {
    type Writer = PartWriter;
    type Output = Spooled;

    fn open(&mut self, name: &FileName) -> io::Result<PartWriter> {
        let file_name = if self.hidden {
            format!(".{name}.part")
        } else {
            name.to_string()
        };
        let path = self.dir.join(file_name);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        let stream = self
            .stream_to
            .as_deref()
            .map(|settings| StreamedPart::start(settings, name.as_str()));
        let hashing = Hashing {
            inner: Tee {
                file: BufWriter::with_capacity(256 * 1024, file),
                stream,
            },
            hasher: Sha256::new(),
            bytes: 0,
        };
        let layer = match self.key {
            Some(key) => {
                let options = EncryptOptions::new().file_name(name.csv_name());
                let writer = EncryptingWriter::with_options(hashing, key, &options)
                    .map_err(io::Error::other)?;
                Layer::Encrypted(Box::new(writer))
            }
            None => Layer::Plain(hashing),
        };
        Ok(PartWriter { layer, path })
    }

    fn close(&mut self, writer: PartWriter, _name: &FileName) -> io::Result<Spooled> {
        let hashing = match writer.layer {
            Layer::Plain(h) => h,
            Layer::Encrypted(w) => w.finish().map_err(io::Error::other)?,
        };
        let Hashing {
            inner,
            hasher,
            bytes,
        } = hashing;
        let Tee { file, mut stream } = inner;
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        if let Some(stream) = &mut stream {
            stream.finish_feed();
        }
        Ok(Spooled {
            path: writer.path,
            bytes,
            sha256: hex::encode(hasher.finalize()),
            stream: Mutex::new(stream),
        })
    }

    fn abort(&mut self, writer: PartWriter, _name: &FileName) {
        let path = writer.path.clone();
        drop(writer);
        let _ = fs::remove_file(path);
    }
}
