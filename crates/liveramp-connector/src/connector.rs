//! The connector: configuration, mapper, key, ledger and transport, built once; each delivery
//! runs through the stages of [`crate::delivery`].

use std::fs;
use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::NaiveDate;
use liveramp_audience_store::{AudienceStore, PgOptions, PgStore, SqliteStore, StoreOptions};
use liveramp_encrypt::RecipientKey;
use liveramp_file_format::DataType;
use liveramp_identity_mapping::{Mapper, Profile};
use liveramp_scheduler::{CancelHandle, FileLedger, Ledger, PgLedger, PgLedgerOptions};
use liveramp_transport::Transport;

use crate::config::{Audience, Config, StoreAudience, StoreSettings};
use crate::error::Error;
use crate::members::MemberFault;
use crate::options::{CheckSummary, DeliverOptions, KeySummary, MapSummary};
use crate::pipeline;
use crate::source::{MemberSource, NdjsonSource, ProfileSource, StoreSource};
use crate::{delivery, destination};

/// Delivers audiences to LiveRamp as configured: build it once with [`Connector::new`], then
/// call [`deliver`](Connector::deliver) for each audience and night. `Send + Sync`: one
/// connector can serve many threads (deliveries of one stream are serialised by the ledger).
pub struct Connector {
    pub(crate) config: Config,
    pub(crate) mapper: Mapper,
    pub(crate) key: Option<RecipientKey>,
    /// The ledger: a [`FileLedger`] in the state folder, or a [`PgLedger`] in the store's
    /// PostgreSQL database (`[store] url_env`), shared by every node.
    pub(crate) ledger: Arc<dyn Ledger + Send + Sync>,
    /// The one transport every delivery publishes through.
    pub(crate) transport: Mutex<Box<dyn Transport>>,
    pub(crate) cancel: CancelHandle,
    pub(crate) warnings: Vec<String>,
    /// The membership store, when the configuration has a `[store]`.
    pub(crate) store: Option<Arc<dyn AudienceStore>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("configuration_name", &self.config.configuration_name)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Prepares deliveries: builds the mapper, loads and checks the recipient key, reads the
    /// destination's secrets from their environment variables and sets up its transport, and
    /// opens the ledger in `state_dir` (creating it) and the membership store when there is a
    /// `[store]` (see [`open_store`]). Connects to nothing yet.
    pub fn new(config: Config) -> Result<Connector, Error> {
        let store = match &config.store {
            Some(_) => Some(open_store(&config)?),
            None => None,
        };
        Self::with_store(config, store)
    }

    /// Like [`new`](Self::new), with a store the caller opened (or none): a process that also
    /// ingests (the HTTP endpoint) shares one store between ingest and delivery.
    pub fn with_store(
        config: Config,
        store: Option<Arc<dyn AudienceStore>>,
    ) -> Result<Connector, Error> {
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
        let transport = destination::transport_for(&mut config)?;
        fs::create_dir_all(&config.state_dir).map_err(|e| Error::Io {
            action: "create the state folder",
            path: config.state_dir.clone(),
            source: e,
        })?;
        let ledger = open_ledger(&config)?;
        Ok(Connector {
            config,
            mapper,
            key,
            ledger,
            transport: Mutex::new(transport),
            cancel: CancelHandle::new(),
            warnings,
            store,
        })
    }

    /// The membership store, when the configuration has one.
    pub fn store(&self) -> Option<&Arc<dyn AudienceStore>> {
        self.store.as_ref()
    }

    /// Every audience to deliver: those of the configuration with a `members` file, in their
    /// order, then (with a `[store]`) every audience connected in the store, by id, named by
    /// its `audience_name` unless an `[[audiences]]` entry with its id sets `external_name`.
    /// An `[[audiences]]` entry with neither a file nor a connected store audience is left out
    /// (see [`unmatched_audiences`](Self::unmatched_audiences)).
    pub fn audiences(&self) -> Result<Vec<Audience>, Error> {
        let mut out: Vec<Audience> = self
            .config
            .audiences
            .iter()
            .filter(|a| a.members.is_some())
            .cloned()
            .collect();
        for info in self.store_audiences()? {
            if !info.connected {
                continue;
            }
            let id = info.id.to_string();
            let configured = self.config.audience(&id);
            if configured.is_some_and(|a| a.members.is_some()) {
                continue;
            }
            let external_name = configured
                .map(|a| a.external_name.clone())
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| info.name.clone());
            let mut audience = Audience::new(id, external_name);
            audience.store = Some(info);
            out.push(audience);
        }
        Ok(out)
    }

    /// The `[[audiences]]` entries without a `members` file that are not a connected audience
    /// of the store (nothing can be delivered for them).
    pub fn unmatched_audiences(&self) -> Result<Vec<Audience>, Error> {
        let connected: Vec<String> = self
            .store_audiences()?
            .into_iter()
            .filter(|a| a.connected)
            .map(|a| a.id.to_string())
            .collect();
        Ok(self
            .config
            .audiences
            .iter()
            .filter(|a| a.members.is_none() && !connected.contains(&a.id))
            .cloned()
            .collect())
    }

    /// What the store knows of each of its audiences (none without a `[store]`).
    pub fn store_audiences(&self) -> Result<Vec<StoreAudience>, Error> {
        let Some(store) = &self.store else {
            return Ok(Vec::new());
        };
        let infos = store.audiences().map_err(|source| Error::Store {
            action: "list the audiences of",
            source,
        })?;
        Ok(infos
            .into_iter()
            .map(|info| StoreAudience {
                id: info.id,
                name: info.name.clone().unwrap_or_else(|| info.id.to_string()),
                connected: info.connected,
                members: info.members,
                newest_change_ms: info.newest_change_ms,
                first_connected_ms: info.first_connected_ms,
            })
            .collect())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ledger (to inspect what was delivered).
    pub fn ledger(&self) -> &(dyn Ledger + Send + Sync) {
        &*self.ledger
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
        let report = {
            let mut transport = self.transport_guard();
            let report = transport.check().map_err(|source| Error::Transport {
                action: destination::check_action(&self.config.destination),
                source,
            })?;
            let _ = transport.close();
            report
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

    /// The transport, locked.
    pub(crate) fn transport_guard(&self) -> MutexGuard<'_, Box<dyn Transport>> {
        self.transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Uploads one local file, unchanged, to the configured destination as `remote_name`, over
    /// the connector's own session (the same transport, retries and atomic publishing as a
    /// delivery, but no ledger entry and no report). Returns the bytes the destination holds.
    /// The benchmark uses it to time the transport alone (`liveramp upload-files`).
    pub fn upload_file(&self, local_path: &Path, remote_name: &str) -> Result<u64, Error> {
        self.transport_guard()
            .upload_file(local_path, remote_name)
            .map(|receipt| receipt.bytes)
            .map_err(|source| Error::Transport {
                action: "upload the file",
                source,
            })
    }

    /// The member source of an audience: its `members` file (NDJSON, read with the
    /// configuration's `max_member_line_bytes`), or a snapshot of it in the membership store
    /// taken now ([`StoreSource`]). The command line, the daemon and the server deliver
    /// audiences through this.
    pub fn open_members(&self, audience: &Audience) -> Result<Box<dyn MemberSource>, Error> {
        let Some(path) = &audience.members else {
            return self.open_snapshot(audience);
        };
        let source =
            NdjsonSource::open(path, self.config.max_member_line_bytes).map_err(|source| {
                Error::Members {
                    audience: audience.id.clone(),
                    path: path.clone(),
                    source,
                }
            })?;
        Ok(Box::new(source))
    }

    /// A snapshot of a store audience, taken now.
    fn open_snapshot(&self, audience: &Audience) -> Result<Box<dyn MemberSource>, Error> {
        let (Some(store), Ok(id)) = (&self.store, audience.id.parse::<i64>()) else {
            return Err(Error::NoMembers {
                audience: audience.id.clone(),
            });
        };
        let snapshot = store.snapshot(id).map_err(|source| Error::Store {
            action: "take a snapshot from",
            source,
        })?;
        Ok(Box::new(StoreSource::new(snapshot)))
    }

    /// Delivers a configured audience from the member source it names
    /// ([`open_members`](Self::open_members)), like [`deliver_from`](Self::deliver_from).
    pub fn deliver_audience(
        &self,
        audience: &Audience,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::Report, Error> {
        let mut source = self.open_members(audience)?;
        self.deliver_from(audience, &mut *source, run_date, options, progress)
    }

    /// Delivers one audience for one run date with the default options: every configured data
    /// type, skipping those the ledger has as delivered. See [`deliver_with`](Self::deliver_with).
    pub fn deliver<I, E>(
        &self,
        audience: &Audience,
        members: I,
        run_date: NaiveDate,
    ) -> Result<crate::Report, Error>
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

    /// Delivers one audience for one run date from any iterator of profiles, like
    /// [`deliver_from`](Self::deliver_from) with a [`ProfileSource`].
    ///
    /// An `Err` item is a malformed member, counted and reported by its 1-based position (the
    /// line number of an NDJSON file), and the delivery of the rest goes on; an error whose
    /// [`MemberFault::is_source_failure`] is true stops the delivery and publishes nothing.
    /// `progress` is called with the number of members read so far every few thousand
    /// members.
    pub fn deliver_with<I, E>(
        &self,
        audience: &Audience,
        members: I,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::Report, Error>
    where
        I: IntoIterator<Item = Result<Profile, E>>,
        E: MemberFault,
    {
        let mut source = ProfileSource::new(members);
        self.deliver_from(audience, &mut source, run_date, options, progress)
    }

    /// Delivers one audience from raw NDJSON (one profile JSON per line), like
    /// [`deliver_from`](Self::deliver_from) with an [`NdjsonSource`] that skips and reports
    /// lines longer than [`Config::max_member_line_bytes`] without holding them.
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
    pub fn deliver_ndjson<R: BufRead>(
        &self,
        audience: &Audience,
        reader: R,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::Report, Error> {
        let mut source = NdjsonSource::new(reader, self.config.max_member_line_bytes);
        self.deliver_from(audience, &mut source, run_date, options, progress)
    }

    /// Delivers one audience for one run date from any [`MemberSource`]: maps every member
    /// once on [`DeliverOptions::threads`] worker threads (parse, map, normalise, hash, render
    /// CSV rows), writes the device and PII files in member order (names, limits and
    /// splitting of `file-format`, gzip and encryption as configured; byte-identical whatever
    /// the thread count), publishes them, and records each in the ledger. Memory does not
    /// grow with the audience.
    ///
    /// Returns the [`Report`](crate::Report): a file that could not be delivered (upload
    /// failure, header changed, under 25 rows) is in it with its status and error, and
    /// [`Report::succeeded`](crate::Report::succeeded) is false. `Err` is kept for what stops
    /// the whole delivery: a failing member source ([`Error::MemberSource`], nothing
    /// published), cancellation, a ledger that cannot record, a local folder that cannot be
    /// written.
    pub fn deliver_from(
        &self,
        audience: &Audience,
        source: &mut dyn MemberSource,
        run_date: NaiveDate,
        options: &DeliverOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::Report, Error> {
        delivery::deliver(self, audience, source, run_date, options, progress)
    }

    /// Runs exactly the stages before the files (read, parse, map, normalise, hash, render
    /// CSV rows) on [`DeliverOptions::threads`] threads, writing nothing: the compute ceiling
    /// of a delivery, and a quick way to see what a member file would give.
    ///
    /// Renders the data types the configuration selects (or [`DeliverOptions::data_types`]).
    pub fn map_only<R: BufRead>(
        &self,
        reader: R,
        options: &DeliverOptions,
    ) -> Result<MapSummary, Error> {
        let mut source = NdjsonSource::new(reader, self.config.max_member_line_bytes);
        self.map_source(&mut source, options)
    }

    /// [`map_only`](Self::map_only) for any [`MemberSource`].
    pub fn map_source(
        &self,
        source: &mut dyn MemberSource,
        options: &DeliverOptions,
    ) -> Result<MapSummary, Error> {
        let types = self.selected_types(options);
        let mut summary = MapSummary::default();
        let mut failure = None;
        pipeline::run(
            source,
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

    /// The data types a delivery with `options` writes, in file order.
    pub(crate) fn selected_types(&self, options: &DeliverOptions) -> Vec<DataType> {
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

    /// The header row of a data type's file.
    pub(crate) fn headers(&self, data_type: DataType) -> &[String] {
        match data_type {
            DataType::Device => self.mapper.device_headers(),
            DataType::Pii => self.mapper.pii_headers(),
        }
    }

    /// The ledger error as the connector reports it.
    pub(crate) fn ledger_error(&self, source: liveramp_scheduler::Error) -> Error {
        Error::Ledger {
            dir: self.config.state_dir.clone(),
            source,
        }
    }
}

/// Opens the membership store a configuration's `[store]` names (creating the SQLite file and
/// its folder on first use), for commands that only ingest or read it.
pub fn open_store(config: &Config) -> Result<Arc<dyn AudienceStore>, Error> {
    let Some(settings) = &config.store else {
        return Err(Error::Config(crate::ConfigError {
            source_file: config.source.clone(),
            problems: vec![
                "store: missing; add a [store] section (path = \"state/audiences.sqlite\") to keep \
                 mParticle's real-time audiences"
                    .to_owned(),
            ],
        }));
    };
    open_store_described(config, settings).map(|(store, _)| store)
}

/// The PostgreSQL URL of `[store] url_env`, when set: read from its environment variable.
fn database_url(config: &Config, settings: &StoreSettings) -> Result<Option<String>, Error> {
    let Some(name) = &settings.url_env else {
        return Ok(None);
    };
    match std::env::var(name) {
        Ok(url) if !url.trim().is_empty() => Ok(Some(url.trim().to_owned())),
        _ => Err(Error::Config(crate::ConfigError {
            source_file: config.source.clone(),
            problems: vec![format!(
                "store.url_env: the environment variable {name} is not set; set it to the \
                 database's URL, postgres://USER:PASSWORD@HOST:PORT/DBNAME"
            )],
        })),
    }
}

/// Opens the store, and says what it is: the SQLite file, or the PostgreSQL database (without
/// its password) and its schema version.
fn open_store_described(
    config: &Config,
    settings: &StoreSettings,
) -> Result<(Arc<dyn AudienceStore>, String), Error> {
    let open_error = |source| Error::Store {
        action: "open",
        source,
    };
    if let Some(url) = database_url(config, settings)? {
        let mut options = PgOptions::default();
        options.retention_days = settings.retention_days;
        options.dsr_retention_days = settings.dsr_retention_days;
        options.pool_size = usize::try_from(settings.pool_size).unwrap_or(8);
        options.statement_timeout = settings.statement_timeout;
        let store = PgStore::open(&url, &options).map_err(open_error)?;
        let what = format!(
            "the membership store {} (PostgreSQL, schema version {})",
            store.database(),
            store.schema_version()
        );
        return Ok((Arc::new(store), what));
    }
    let mut options = StoreOptions::default();
    options.retention_days = settings.retention_days;
    options.dsr_retention_days = settings.dsr_retention_days;
    let store = SqliteStore::open(&settings.path, options).map_err(open_error)?;
    let what = format!("the membership store {}", settings.path.display());
    Ok((Arc::new(store), what))
}

/// Opens the ledger: in the store's PostgreSQL database when `[store] url_env` is set (leases
/// shared by every node), otherwise the journal in the state folder.
pub fn open_ledger(config: &Config) -> Result<Arc<dyn Ledger + Send + Sync>, Error> {
    if let Some(settings) = &config.store
        && let Some(url) = database_url(config, settings)?
    {
        let mut options = PgLedgerOptions::default();
        options.lease = settings.lease;
        options.renew_every = settings.lease / 3;
        options.statement_timeout = settings.statement_timeout;
        let ledger = PgLedger::open(&url, options).map_err(|source| Error::Ledger {
            dir: liveramp_postgres_redact(&url).into(),
            source,
        })?;
        return Ok(Arc::new(ledger));
    }
    let ledger = FileLedger::open(&config.state_dir).map_err(|source| Error::Ledger {
        dir: config.state_dir.clone(),
        source,
    })?;
    Ok(Arc::new(ledger))
}

/// The database of `url` without its password.
fn liveramp_postgres_redact(url: &str) -> String {
    liveramp_postgres::redact(url)
}

/// Checks every member source a delivery of `config` would read, without delivering: each
/// `[[audiences]]` entry's `members` file (it exists, is a file and can be opened for reading)
/// and, with a `[store]`, the membership store (it opens and lists its audiences; each connected
/// one is reported with its member count). `liveramp check` prints the result and refuses the
/// configuration when any source has a problem.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("connector.toml");
/// std::fs::write(&path, "configuration_name = \"c\"\norg_id = \"1\"\n\
///     [directory]\npath = \"out\"\n[data]\nsend_device_ids = true\n\
///     [[audiences]]\nid = \"7\"\nexternal_name = \"x\"\nmembers = \"nosuch.ndjson\"\n")?;
/// let config = liveramp_connector::Config::load(&path)?;
/// let found = liveramp_connector::check_member_sources(&config);
/// assert_eq!(found.len(), 1);
/// assert!(found[0].problem.as_deref().unwrap().contains("nosuch.ndjson"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_member_sources(config: &Config) -> Vec<crate::options::SourceCheck> {
    use crate::options::SourceCheck;
    let mut found = Vec::new();
    for audience in &config.audiences {
        let Some(path) = &audience.members else {
            continue;
        };
        let opened = fs::File::open(path).and_then(|f| {
            let meta = f.metadata()?;
            if meta.is_file() {
                Ok(meta.len())
            } else {
                Err(std::io::Error::other("it is not a file"))
            }
        });
        found.push(match opened {
            Ok(bytes) => SourceCheck {
                audience: Some(audience.id.clone()),
                source: format!("members file {} ({bytes} bytes)", path.display()),
                problem: None,
            },
            Err(e) => SourceCheck {
                audience: Some(audience.id.clone()),
                source: format!("members file {}", path.display()),
                problem: Some(format!(
                    "cannot read the members of audience {} from {}: {e}",
                    audience.id,
                    path.display()
                )),
            },
        });
    }
    if let Some(settings) = &config.store {
        let mut what = if settings.url_env.is_some() {
            "the membership store (PostgreSQL)".to_owned()
        } else {
            format!("the membership store {}", settings.path.display())
        };
        let listed = open_store_described(config, settings).and_then(|(store, described)| {
            what = described;
            store.audiences().map_err(|source| Error::Store {
                action: "list the audiences of",
                source,
            })
        });
        match listed {
            Ok(audiences) => {
                let connected: Vec<_> = audiences.iter().filter(|a| a.connected).collect();
                found.push(SourceCheck {
                    audience: None,
                    source: format!(
                        "{what}: {} audience(s), {} connected",
                        audiences.len(),
                        connected.len()
                    ),
                    problem: None,
                });
                for a in connected {
                    found.push(SourceCheck {
                        audience: Some(a.id.to_string()),
                        source: format!("the membership store: {} members", a.members),
                        problem: None,
                    });
                }
            }
            Err(e) => {
                // The whole chain: "could not open the membership store: <why>".
                let mut problem = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    problem.push_str(": ");
                    problem.push_str(&c.to_string());
                    cause = c.source();
                }
                found.push(SourceCheck {
                    audience: None,
                    source: what,
                    problem: Some(problem),
                });
            }
        }
    }
    found
}
