//! The configuration file: one TOML file, validated all at once before any work starts.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use liveramp_file_format::{Compression, DataType, FileName};
use liveramp_identity_mapping::{Mapper, MappingConfig};
use liveramp_scheduler::{CatchUp, Schedule};
use liveramp_sftp_transport::SftpSettings;
use toml::{Table, Value};

/// What a value in the file must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Bool,
    Int,
    /// A port: a string or an integer.
    Port,
    /// An ID: a string or an integer.
    Id,
    /// A duration: seconds as a number, or a string such as `"30s"`.
    Duration,
    StrList,
    Table,
    TableList,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean (true or false)",
            Kind::Int => "an integer",
            Kind::Port => "a port number (a string or an integer)",
            Kind::Id => "an ID (a string or an integer)",
            Kind::Duration => "a duration (seconds, or a string such as \"30s\")",
            Kind::StrList => "a list of strings",
            Kind::Table => "a table",
            Kind::TableList => "a list of tables",
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::Str => value.is_str(),
            Kind::Bool => value.is_bool(),
            Kind::Int => value.is_integer(),
            Kind::Port | Kind::Id => value.is_str() || value.is_integer(),
            Kind::Duration => value.is_str() || value.is_integer() || value.is_float(),
            Kind::StrList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_str)),
            Kind::Table => value.is_table(),
            Kind::TableList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_table)),
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// The default of [`Config::max_member_line_bytes`]: 1 MiB.
pub const DEFAULT_MAX_MEMBER_LINE_BYTES: u64 = 1 << 20;

const TOP: &[(&str, Kind)] = &[
    ("configuration_name", Kind::Str),
    ("org_id", Kind::Id),
    ("state_dir", Kind::Str),
    ("allow_small_files", Kind::Bool),
    ("accept_header_change", Kind::Bool),
    ("max_member_line_bytes", Kind::Int),
    ("sftp", Kind::Table),
    ("directory", Kind::Table),
    ("file", Kind::Table),
    ("data", Kind::Table),
    ("pii", Kind::Table),
    ("device", Kind::Table),
    ("schedule", Kind::Table),
    ("store", Kind::Table),
    ("server", Kind::Table),
    ("audiences", Kind::TableList),
];

const SFTP: &[(&str, Kind)] = &[
    ("url", Kind::Str),
    ("port", Kind::Port),
    ("username", Kind::Str),
    ("password", Kind::Str),
    ("password_env", Kind::Str),
    ("private_key_path", Kind::Str),
    ("private_key_passphrase_env", Kind::Str),
    ("known_hosts_path", Kind::Str),
    ("host_key_fingerprint", Kind::Str),
    ("insecure_skip_host_key_check", Kind::Bool),
    ("remote_dir", Kind::Str),
    ("create_remote_dir", Kind::Bool),
    ("connect_timeout", Kind::Duration),
    ("operation_timeout", Kind::Duration),
    ("retry", Kind::Table),
];

const RETRY: &[(&str, Kind)] = &[
    ("attempts", Kind::Int),
    ("initial_backoff", Kind::Duration),
    ("max_backoff", Kind::Duration),
    ("jitter", Kind::Bool),
];

const DIRECTORY: &[(&str, Kind)] = &[("path", Kind::Str)];

const FILE: &[(&str, Kind)] = &[
    ("encrypt", Kind::Bool),
    ("public_key_path", Kind::Str),
    ("compression", Kind::Str),
    ("gzip_level", Kind::Int),
];

const DATA: &[(&str, Kind)] = &[("send_device_ids", Kind::Bool), ("send_pii", Kind::Bool)];

const PII: &[(&str, Kind)] = &[
    ("hash_emails_and_phones", Kind::Bool),
    ("columns", Kind::StrList),
    ("email_hashes", Kind::StrList),
    ("phone_hashes", Kind::StrList),
    ("email_columns", Kind::Int),
    ("phone_columns", Kind::Int),
    ("emails_from_other_identities", Kind::Bool),
    ("custom_columns", Kind::TableList),
];

const DEVICE: &[(&str, Kind)] = &[
    ("id_types", Kind::StrList),
    ("device_id_header", Kind::Str),
    ("device_type_header", Kind::Str),
];

const SCHEDULE: &[(&str, Kind)] = &[
    ("time", Kind::Str),
    ("timezone", Kind::Str),
    ("catch_up_nights", Kind::Int),
    ("max_attempts", Kind::Int),
    ("retry_delay_minutes", Kind::Int),
];

const STORE: &[(&str, Kind)] = &[
    ("path", Kind::Str),
    ("retention_days", Kind::Int),
    ("dsr_retention_days", Kind::Int),
    ("url_env", Kind::Str),
    ("pool_size", Kind::Int),
    ("statement_timeout", Kind::Duration),
    ("lease", Kind::Duration),
];

const SERVER: &[(&str, Kind)] = &[
    ("listen", Kind::Str),
    ("api_key_env", Kind::Str),
    ("max_body_bytes", Kind::Int),
    ("max_concurrent_requests", Kind::Int),
    ("request_timeout", Kind::Duration),
    ("tls_cert_path", Kind::Str),
    ("tls_key_path", Kind::Str),
    ("admin_listen", Kind::Str),
    ("admin_api_key_env", Kind::Str),
];

/// The default of [`ServerSettings::listen`].
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default of [`ServerSettings::admin_listen`].
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8081";
/// The default of [`ServerSettings::api_key_env`].
pub const DEFAULT_API_KEY_ENV: &str = "LIVERAMP_FIREHOSE_API_KEY";
/// The default of [`ServerSettings::max_body_bytes`]: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 << 20;

/// The default of [`StoreSettings::retention_days`].
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// The default of [`StoreSettings::dsr_retention_days`].
pub const DEFAULT_DSR_RETENTION_DAYS: u32 = 365;

const AUDIENCE: &[(&str, Kind)] = &[
    ("id", Kind::Id),
    ("external_name", Kind::Str),
    ("members", Kind::Str),
];

/// Where files go.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Destination {
    /// A local folder (`[directory] path = "out"`), the built-in default.
    Directory {
        /// The folder, resolved against the configuration file's folder.
        path: PathBuf,
    },
    /// LiveRamp's SFTP server (`[sftp]`).
    Sftp {
        /// The transport settings (paths resolved against the configuration file's folder).
        settings: Box<SftpSettings>,
        /// The environment variable holding the password, if the password is not inline.
        password_env: Option<String>,
        /// The environment variable holding the private key's passphrase, if any.
        passphrase_env: Option<String>,
    },
}

/// `[file]`: how each file is packed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSettings {
    /// OpenPGP-encrypt every file to `public_key_path` ("Encrypt this file").
    pub encrypt: bool,
    /// The recipient's (LiveRamp's) public key, resolved against the configuration's folder.
    pub public_key_path: Option<PathBuf>,
    /// `none` or `gzip`.
    pub compression: Compression,
    /// gzip level 0-9 (default 6).
    pub gzip_level: u32,
}

/// `[store]`: the membership store that takes mParticle's real-time stream (`liveramp
/// ingest`, `liveramp serve`) and from which connected audiences are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreSettings {
    /// The SQLite file (default `state/audiences.sqlite`, relative to the configuration's
    /// folder), created on first use.
    pub path: PathBuf,
    /// How long message ids, tombstones and disconnected audiences are kept (default 30).
    pub retention_days: u32,
    /// How long the record of a data subject request (its id, regulation, times, counts and
    /// the salted hashes of its identities, never their values) is kept as proof of what was
    /// done, and an erased person's older membership changes recognised (default 365).
    pub dsr_retention_days: u32,
    /// PostgreSQL instead of SQLite: the environment variable holding the database's
    /// `postgres://` URL (e.g. `LIVERAMP_DATABASE_URL`), read when the store opens; the URL's
    /// password is never printed. With it, the ledger is kept in the same database too, so
    /// that several nodes share both.
    pub url_env: Option<String>,
    /// PostgreSQL: connections per node for the store (default 8).
    pub pool_size: u32,
    /// PostgreSQL: statements running longer are cancelled (default 30 s).
    pub statement_timeout: std::time::Duration,
    /// PostgreSQL: how long a node's claim on a delivery lasts unless renewed (default 60 s;
    /// renewed every third of it): a node that dies delays that delivery this long at most.
    pub lease: std::time::Duration,
}

/// `[server]`: the HTTP endpoint mParticle posts Firehose messages to (`liveramp serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerSettings {
    /// Where the Firehose endpoint listens (default `127.0.0.1:8080`).
    pub listen: std::net::SocketAddr,
    /// The environment variable holding the API key mParticle sends (default
    /// `LIVERAMP_FIREHOSE_API_KEY`); read when the server starts, never printed.
    pub api_key_env: String,
    /// The largest request body, after decompression (default 16 MiB).
    pub max_body_bytes: u64,
    /// Requests handled at once; more are answered 503 (default 256).
    pub max_concurrent_requests: u32,
    /// The longest a request may take, its body included (default 30 s).
    pub request_timeout: std::time::Duration,
    /// TLS: the certificate chain (PEM), with `tls_key_path`.
    pub tls_cert_path: Option<PathBuf>,
    /// TLS: the private key (PEM), with `tls_cert_path`.
    pub tls_key_path: Option<PathBuf>,
    /// Where the operators' status page listens (default `127.0.0.1:8081`; never the
    /// Firehose port).
    pub admin_listen: std::net::SocketAddr,
    /// The environment variable holding the status page's key, required (as a bearer token
    /// or HTTP basic password) when `admin_listen` is not a loopback address.
    pub admin_api_key_env: Option<String>,
}

/// An audience of the store: what the store knows of it when the connector listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreAudience {
    /// Its id in the store (mParticle's audience id).
    pub id: i64,
    /// Its name in the store (mParticle's `audience_name`).
    pub name: String,
    /// Whether it is connected (subscribed) now.
    pub connected: bool,
    /// Members now.
    pub members: u64,
    /// The newest change the store holds for it (milliseconds since the epoch).
    pub newest_change_ms: Option<i64>,
    /// When it was first connected (milliseconds since the epoch): no night before it is
    /// delivered by the nightly loop.
    pub first_connected_ms: Option<i64>,
}

/// One audience connected to LiveRamp (`[[audiences]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Audience {
    /// The audience ID (in file names: `{org_id}_{id}-D_{date}.csv`).
    pub id: String,
    /// The audience's external name: LiveRamp's segments are `{external_name}-D` and
    /// `{external_name}-PII`.
    pub external_name: String,
    /// For the command line: the member file, one profile JSON per line (resolved against the
    /// configuration's folder).
    pub members: Option<PathBuf>,
    /// Set for an audience delivered from the membership store (no `members` file): what the
    /// store knew of it.
    pub store: Option<StoreAudience>,
}

impl Audience {
    /// An audience for embedding services that supply members themselves.
    pub fn new(id: impl Into<String>, external_name: impl Into<String>) -> Self {
        Audience {
            id: id.into(),
            external_name: external_name.into(),
            members: None,
            store: None,
        }
    }
}

/// `[schedule]`: when the nightly run happens and how misses are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleSettings {
    /// The nightly time and zone (default 00:00 `America/New_York`).
    pub schedule: Schedule,
    /// How many missed nights the daemon catches up (default 1: the most recent).
    pub catch_up: CatchUp,
    /// Attempts per delivery and night (default 3).
    pub max_attempts: u32,
    /// Minutes between attempts after a failure (default 10).
    pub retry_delay_minutes: u32,
}

/// A validated configuration. Build it with [`Config::load`] or [`Config::from_toml_str`].
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)] // each is a yes/no setting of the file
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// "Configuration Name": part of every ledger key.
    pub configuration_name: String,
    /// The org ID in file names.
    pub org_id: String,
    /// The folder of the ledger and header fingerprints (default `state`).
    pub state_dir: PathBuf,
    /// Where files go.
    pub destination: Destination,
    /// `[file]`.
    pub file: FileSettings,
    /// `[data] send_device_ids`.
    pub send_device_ids: bool,
    /// `[data] send_pii`.
    pub send_pii: bool,
    /// `[pii]` and `[device]` as identity-mapping's settings (PII columns empty when PII is
    /// off, device types empty when device IDs are off).
    pub mapping: MappingConfig,
    /// `[schedule]`.
    pub schedule: ScheduleSettings,
    /// `[[audiences]]`: audiences with a `members` file, and (with a `[store]`) entries that
    /// only set the `external_name` of a store audience.
    pub audiences: Vec<Audience>,
    /// `[store]`, when the configuration keeps mParticle's real-time stream.
    pub store: Option<StoreSettings>,
    /// `[server]` (its defaults when the section is absent).
    pub server: ServerSettings,
    /// Upload files under LiveRamp's 25-row minimum anyway (default false).
    pub allow_small_files: bool,
    /// Deliver a file whose header differs from the last one delivered (LiveRamp pauses it
    /// until re-mapped; default false).
    pub accept_header_change: bool,
    /// A member line longer than this many bytes (its line break not counted) is rejected
    /// and reported by line number without being held in memory (default
    /// [`DEFAULT_MAX_MEMBER_LINE_BYTES`], 1 MiB).
    pub max_member_line_bytes: u64,
    /// Things that work but deserve attention (an inline password in a file others can read,
    /// a skipped host-key check, phone hashes other than SHA-1).
    pub warnings: Vec<String>,
}

/// An invalid configuration: every problem found, each prefixed by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, if the configuration came from one.
    pub source_file: Option<PathBuf>,
    /// The problems, in file order, e.g. `sftp.port: "22x" is not a port number`.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        match &self.source_file {
            Some(path) => write!(f, "configuration {} is invalid", path.display())?,
            None => f.write_str("the configuration is invalid")?,
        }
        write!(
            f,
            " ({n} problem{}; fix {} and run again):",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Edit distance, for "did you mean" suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (diagonal + cost).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

struct Checker<'a> {
    problems: Vec<String>,
    warnings: Vec<String>,
    base: &'a Path,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Checker<'_> {
    fn problem(&mut self, path: &str, text: impl fmt::Display) {
        self.problems.push(format!("{path}: {text}"));
    }

    /// Reports unknown keys and values of the wrong type; returns the table with only the
    /// well-typed known keys.
    fn walk(&mut self, table: &Table, prefix: &str, schema: &[(&str, Kind)]) -> Table {
        let mut clean = Table::new();
        for (key, value) in table {
            let path = join(prefix, key);
            match schema.iter().find(|(name, _)| name == key) {
                None => {
                    let prefix_match = schema
                        .iter()
                        .find(|(name, _)| key.len() >= 4 && name.starts_with(key.as_str()))
                        .map(|(name, _)| (0, *name));
                    let best = prefix_match.or_else(|| {
                        schema
                            .iter()
                            .map(|(name, _)| (distance(key, name), *name))
                            .min()
                    });
                    match best {
                        Some((d, name)) if d <= 2 => {
                            self.problem(&path, format!("unknown key (did you mean {name:?}?)"));
                        }
                        _ => {
                            let names: Vec<&str> = schema.iter().map(|(n, _)| *n).collect();
                            self.problem(
                                &path,
                                format!("unknown key; the keys here are {}", names.join(", ")),
                            );
                        }
                    }
                }
                Some((_, kind)) if !kind.accepts(value) => {
                    self.problem(
                        &path,
                        format!("expected {}, found {}", kind.expected(), type_name(value)),
                    );
                }
                Some(_) => {
                    clean.insert(key.clone(), value.clone());
                }
            }
        }
        clean
    }

    fn section(&mut self, top: &Table, name: &str, schema: &[(&str, Kind)]) -> Option<Table> {
        top.get(name)
            .and_then(Value::as_table)
            .map(|t| self.walk(t, name, schema))
    }

    fn path(&self, value: &str) -> PathBuf {
        let p = Path::new(value);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

fn string(table: &Table, key: &str) -> Option<String> {
    match table.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn boolean(table: &Table, key: &str) -> Option<bool> {
    table.get(key).and_then(Value::as_bool)
}

fn integer(table: &Table, key: &str) -> Option<i64> {
    table.get(key).and_then(Value::as_integer)
}

impl Config {
    /// Reads and validates a configuration file. Relative paths in it (`state_dir`,
    /// `[directory] path`, keys, members files, `known_hosts_path`) are relative to the
    /// folder the file is in, so a configuration works from any working directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_file: Some(path.to_path_buf()),
            problems: vec![format!("cannot read the file: {e}")],
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut config = Self::parse(&text, base, Some(path))?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Validates a configuration given as text; relative paths are relative to `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::parse(text, base_dir.as_ref(), None)
    }

    fn parse(text: &str, base: &Path, file: Option<&Path>) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            source_file: file.map(Path::to_path_buf),
            problems,
        };
        let top = parse_toml(text).map_err(|problem| fail(vec![problem]))?;
        let mut c = Checker {
            problems: Vec::new(),
            warnings: Vec::new(),
            base,
        };
        let t = c.walk(&top, "", TOP);
        let (configuration_name, org_id) = c.names(&top, &t);
        let state_dir = c.path(&string(&t, "state_dir").unwrap_or_else(|| "state".to_owned()));
        let destination = c.destination(&top, file);
        let file_settings = c.file_settings(&top);
        let (send_device_ids, send_pii) = c.data(&top);
        // [pii] and [device] -> identity-mapping's settings.
        let mapping = c.mapping(&top, send_device_ids, send_pii);
        let schedule = c.schedule(&top);
        let audiences = c.audiences(&t);
        let store = c.store(&top, &state_dir);
        let server = c.server(&top);
        let max_member_line_bytes = c.max_member_line_bytes(&t);

        if !c.problems.is_empty() {
            return Err(fail(c.problems));
        }
        let Some(destination) = destination else {
            return Err(fail(vec!["sftp: no destination".to_owned()]));
        };
        Ok(Config {
            source: file.map(Path::to_path_buf),
            configuration_name,
            org_id,
            state_dir,
            destination,
            file: file_settings,
            send_device_ids,
            send_pii,
            mapping,
            schedule,
            audiences,
            store,
            server,
            allow_small_files: boolean(&t, "allow_small_files").unwrap_or(false),
            accept_header_change: boolean(&t, "accept_header_change").unwrap_or(false),
            max_member_line_bytes,
            warnings: c.warnings,
        })
    }

    /// The data types this configuration sends, device IDs first.
    pub fn data_types(&self) -> Vec<DataType> {
        let mut types = Vec::new();
        if self.send_device_ids {
            types.push(DataType::Device);
        }
        if self.send_pii {
            types.push(DataType::Pii);
        }
        types
    }

    /// The audience with this ID.
    pub fn audience(&self, id: &str) -> Option<&Audience> {
        self.audiences.iter().find(|a| a.id == id)
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Checks that org and audience IDs make valid LiveRamp file names.
fn check_name(c: &mut Checker<'_>, org_id: &str, audience_id: &str, path: &str) {
    let Some(date) = chrono::NaiveDate::from_ymd_opt(2020, 4, 1) else {
        return;
    };
    if let Err(e) = FileName::new(org_id, audience_id, DataType::Pii, date) {
        c.problem(path, e);
    }
}

/// The file as a TOML table, or the one problem that it is not TOML (with its line).
fn parse_toml(text: &str) -> Result<Table, String> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_owned();
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            })
            .unwrap_or_default();
        format!("{at}not valid TOML: {message}")
    })
}

impl Checker<'_> {
    /// `configuration_name` and `org_id`.
    fn names(&mut self, top: &Table, t: &Table) -> (String, String) {
        let configuration_name = string(t, "configuration_name").unwrap_or_default();
        if !top.contains_key("configuration_name") {
            self.problem("configuration_name", "missing; name this configuration, e.g. configuration_name = \"LiveRamp production\"");
        } else if t.contains_key("configuration_name") && configuration_name.trim().is_empty() {
            self.problem(
                "configuration_name",
                "is empty; give the configuration a name",
            );
        }
        let org_id = string(t, "org_id").unwrap_or_default();
        if !top.contains_key("org_id") {
            self.problem(
                "org_id",
                "missing; set the org ID used in file names, e.g. org_id = \"3242\"",
            );
        }
        if t.contains_key("org_id") {
            check_name(self, &org_id, "1", "org_id");
        }
        (configuration_name, org_id)
    }

    /// `[sftp]` or `[directory]` (a folder named `out` by default).
    fn destination(&mut self, top: &Table, file: Option<&Path>) -> Option<Destination> {
        let sftp = self.section(top, "sftp", SFTP);
        let directory = self.section(top, "directory", DIRECTORY);
        match (sftp, directory) {
            (Some(_), Some(_)) => {
                self.problem(
                    "sftp",
                    "both [sftp] and [directory] are given; keep the one files should go to",
                );
                None
            }
            (Some(s), None) => self.sftp(&s, top.get("sftp").and_then(Value::as_table), file),
            (None, Some(d)) => Some(Destination::Directory {
                path: self.path(&string(&d, "path").unwrap_or_else(|| "out".to_owned())),
            }),
            (None, None) => Some(Destination::Directory {
                path: self.path("out"),
            }),
        }
    }

    /// `[file]`.
    fn file_settings(&mut self, top: &Table) -> FileSettings {
        let f = self.section(top, "file", FILE).unwrap_or_default();
        let encrypt = boolean(&f, "encrypt").unwrap_or(false);
        let public_key_path = string(&f, "public_key_path").map(|p| self.path(&p));
        if encrypt {
            match &public_key_path {
                None if !top
                    .get("file")
                    .and_then(Value::as_table)
                    .is_some_and(|t| t.contains_key("public_key_path")) =>
                {
                    self.problem(
                        "file.public_key_path",
                        "missing; encryption is on (file.encrypt = true), so give the path of \
                         LiveRamp's public key",
                    );
                }
                None => {}
                Some(path) => {
                    if let Err(e) = std::fs::File::open(path) {
                        self.problem(
                            "file.public_key_path",
                            format!(
                                "cannot read {}: {}; encryption is on, so the key must be readable",
                                path.display(),
                                io_text(&e)
                            ),
                        );
                    }
                }
            }
        }
        let compression = match string(&f, "compression").as_deref() {
            None | Some("none") => Compression::None,
            Some("gzip") => Compression::Gzip,
            Some(other) => {
                self.problem(
                    "file.compression",
                    format!("{other:?} is not a compression; use \"none\" or \"gzip\""),
                );
                Compression::None
            }
        };
        let gzip_level = match integer(&f, "gzip_level") {
            None => 6,
            Some(level @ 0..=9) => u32::try_from(level).unwrap_or(6),
            Some(level) => {
                self.problem(
                    "file.gzip_level",
                    format!("{level} is out of range; use 0 (store) to 9 (smallest)"),
                );
                6
            }
        };

        FileSettings {
            encrypt,
            public_key_path: if encrypt { public_key_path } else { None },
            compression,
            gzip_level,
        }
    }

    /// `[data]`: `(send_device_ids, send_pii)`.
    fn data(&mut self, top: &Table) -> (bool, bool) {
        let data = self.section(top, "data", DATA).unwrap_or_default();
        let send_device_ids = boolean(&data, "send_device_ids").unwrap_or(false);
        let send_pii = boolean(&data, "send_pii").unwrap_or(false);
        let data_typed_ok = top
            .get("data")
            .and_then(Value::as_table)
            .is_none_or(|d| d.len() == data.len());
        if !send_device_ids && !send_pii && data_typed_ok {
            self.problem(
                "data",
                "no data type selected; set send_device_ids = true, send_pii = true, or both",
            );
        }

        (send_device_ids, send_pii)
    }

    /// `[[audiences]]`.
    fn audiences(&mut self, t: &Table) -> Vec<Audience> {
        let mut audiences = Vec::new();
        let mut seen = BTreeSet::new();
        if let Some(list) = t.get("audiences").and_then(Value::as_array) {
            for (i, item) in list.iter().enumerate() {
                let Some(table) = item.as_table() else {
                    continue;
                };
                let prefix = format!("audiences[{i}]");
                let a = self.walk(table, &prefix, AUDIENCE);
                let id = string(&a, "id").unwrap_or_default();
                if !table.contains_key("id") {
                    self.problem(&format!("{prefix}.id"), "missing; give the audience's ID");
                } else if a.contains_key("id") && !seen.insert(id.clone()) {
                    self.problem(
                        &format!("{prefix}.id"),
                        format!("{id:?} appears twice; each audience is listed once"),
                    );
                }
                if a.contains_key("id") {
                    check_name(self, "1", &id, &format!("{prefix}.id"));
                }
                let external_name = string(&a, "external_name").unwrap_or_default();
                if !table.contains_key("external_name") {
                    self.problem(
                        &format!("{prefix}.external_name"),
                        "missing; give the audience's name (LiveRamp's segments are \
                         \"<external_name>-D\" and \"<external_name>-PII\")",
                    );
                }
                audiences.push(Audience {
                    id,
                    external_name,
                    members: string(&a, "members").map(|m| self.path(&m)),
                    store: None,
                });
            }
        }

        audiences
    }

    /// `max_member_line_bytes`.
    fn max_member_line_bytes(&mut self, t: &Table) -> u64 {
        match integer(t, "max_member_line_bytes") {
            None => DEFAULT_MAX_MEMBER_LINE_BYTES,
            Some(n) if n >= 2 => n.unsigned_abs(),
            Some(n) => {
                self.problem(
                    "max_member_line_bytes",
                    format!(
                        "{n} leaves no room for a profile; use a number of bytes such as \
                         1048576 (1 MiB, the default)"
                    ),
                );
                DEFAULT_MAX_MEMBER_LINE_BYTES
            }
        }
    }

    /// `[sftp]`'s password, password variable or key: `(password, password_env)`.
    fn sftp_credentials(
        &mut self,
        s: &Table,
        raw: &Table,
        file: Option<&Path>,
    ) -> (Option<String>, Option<String>) {
        let password = string(s, "password");
        let password_env = string(s, "password_env");
        let key_path = string(s, "private_key_path");
        let auth = usize::from(password.is_some())
            + usize::from(password_env.is_some())
            + usize::from(key_path.is_some());
        if auth == 0
            && !["password", "password_env", "private_key_path"]
                .iter()
                .any(|k| raw.contains_key(*k))
        {
            self.problem(
                "sftp",
                "no credentials; set password_env (the environment variable holding the \
                 password), password, or private_key_path",
            );
        } else if password.is_some() && password_env.is_some() {
            self.problem(
                "sftp.password",
                "both password and password_env are given; keep one (password_env is safer)",
            );
        }
        if let Some(env) = &password_env
            && env.trim().is_empty()
        {
            self.problem(
                "sftp.password_env",
                "is empty; name the environment variable holding the password",
            );
        }
        if password.is_some()
            && let Some(file) = file
            && let Some(mode) = group_or_other_readable(file)
        {
            self.warnings.push(format!(
                "sftp.password: the password is written in {}, which other users can read \
                 (mode {mode:03o}); use password_env, or run chmod 600 {}",
                file.display(),
                file.display()
            ));
        }
        (password, password_env)
    }

    /// `[sftp]`'s host-key check (or the warning that it is skipped).
    fn sftp_host_key(&mut self, s: &Table, raw: &Table) {
        let skip = boolean(s, "insecure_skip_host_key_check").unwrap_or(false);
        if skip {
            self.warnings.push(
                "sftp.insecure_skip_host_key_check: the server's host key is NOT verified; \
                 anyone on the network path could receive the files: set known_hosts_path or \
                 host_key_fingerprint"
                    .to_owned(),
            );
        } else if !raw.contains_key("known_hosts_path") && !raw.contains_key("host_key_fingerprint")
        {
            self.problem(
                "sftp",
                "no host-key check; set known_hosts_path (an OpenSSH known_hosts file) or \
                 host_key_fingerprint = \"SHA256:...\" (as ssh-keygen -lf prints it)",
            );
        }
    }

    fn sftp(&mut self, s: &Table, raw: Option<&Table>, file: Option<&Path>) -> Option<Destination> {
        let raw = raw?;
        let before = self.problems.len();
        let mut settings = Table::new();
        for required in ["url", "username"] {
            if !raw.contains_key(required) {
                self.problem(
                    &format!("sftp.{required}"),
                    match required {
                        "url" => "missing; LiveRamp's server is url = \"files.liveramp.com\"",
                        _ => "missing; give the SFTP login name LiveRamp gave you",
                    },
                );
            }
        }
        if let Some(port) = s.get("port") {
            let ok = match port {
                Value::String(text) => {
                    text.trim().is_empty() || text.trim().parse::<u16>().is_ok_and(|p| p > 0)
                }
                Value::Integer(i) => (1..=65535).contains(i),
                _ => false,
            };
            if !ok {
                self.problem(
                    "sftp.port",
                    format!("{} is not a port number", quoted(port)),
                );
            }
        }
        let (password, password_env) = self.sftp_credentials(s, raw, file);
        self.sftp_host_key(s, raw);
        for key in ["known_hosts_path", "private_key_path"] {
            if let Some(p) = string(s, key) {
                let path = self.path(&p);
                if let Err(e) = std::fs::File::open(&path) {
                    self.problem(
                        &format!("sftp.{key}"),
                        format!("cannot read {}: {}", path.display(), io_text(&e)),
                    );
                }
                settings.insert(key.to_owned(), Value::String(path.display().to_string()));
            }
        }
        for (key, value) in s {
            match key.as_str() {
                "password_env"
                | "private_key_passphrase_env"
                | "known_hosts_path"
                | "private_key_path" => {}
                _ => {
                    settings.insert(key.clone(), value.clone());
                }
            }
        }
        if let Some(retry) = raw.get("retry").and_then(Value::as_table) {
            self.walk(retry, "sftp.retry", RETRY);
        }
        if self.problems.len() > before {
            return None;
        }
        match Value::Table(settings).try_into::<SftpSettings>() {
            Ok(mut parsed) => {
                // The password from password_env is read when the connector starts; stand in
                // for it so the other settings can be checked now.
                if password_env.is_some() {
                    parsed.password = Some(String::from("(from the environment)").into());
                }
                if let Err(e) = parsed.endpoint() {
                    let text = e.to_string();
                    let key = SFTP
                        .iter()
                        .map(|(k, _)| *k)
                        .find(|k| text.contains(&format!("`{k}`")))
                        .unwrap_or("url");
                    self.problem(&format!("sftp.{key}"), text);
                    return None;
                }
                parsed.password = password.map(Into::into);
                Some(Destination::Sftp {
                    settings: Box::new(parsed),
                    password_env,
                    passphrase_env: string(s, "private_key_passphrase_env"),
                })
            }
            Err(e) => {
                self.problem("sftp", e.message().trim());
                None
            }
        }
    }

    fn mapping(&mut self, top: &Table, send_device_ids: bool, send_pii: bool) -> MappingConfig {
        let pii = self.section(top, "pii", PII).unwrap_or_default();
        let device = self.section(top, "device", DEVICE).unwrap_or_default();
        let before = self.problems.len();
        let mut m = Table::new();
        for (key, value) in &pii {
            let name = if key == "columns" {
                "send_pii"
            } else {
                key.as_str()
            };
            m.insert(name.to_owned(), value.clone());
        }
        if !send_pii {
            m.insert("send_pii".to_owned(), Value::Boolean(false));
        }
        for (key, value) in &device {
            let name = if key == "id_types" {
                "send_device_ids"
            } else {
                key.as_str()
            };
            m.insert(name.to_owned(), value.clone());
        }
        if !send_device_ids {
            m.insert("send_device_ids".to_owned(), Value::Boolean(false));
        }
        let path_of = |setting: &str| match setting {
            "send_pii" => "pii.columns".to_owned(),
            "send_device_ids" => "device.id_types".to_owned(),
            "device_id_header" | "device_type_header" => format!("device.{setting}"),
            other => format!("pii.{other}"),
        };
        let config = match Value::Table(m).try_into::<MappingConfig>() {
            Ok(config) => config,
            Err(e) => {
                let message = e.message().trim().to_owned();
                let setting = [
                    "send_pii",
                    "send_device_ids",
                    "email_hashes",
                    "phone_hashes",
                    "custom_columns",
                    "email_columns",
                    "phone_columns",
                ]
                .into_iter()
                .find(|s| e.to_string().contains(s));
                let path = setting.map_or_else(|| "pii".to_owned(), path_of);
                self.problem(&path, message);
                return MappingConfig::default();
            }
        };
        if self.problems.len() > before {
            return config;
        }
        match Mapper::new(&config) {
            Ok(mapper) => {
                for warning in mapper.warnings() {
                    self.warnings.push(format!("pii: {warning}"));
                }
            }
            Err(e) => {
                use liveramp_identity_mapping::Error as E;
                let path = match &e {
                    E::InvalidConfig { setting, .. } => path_of(setting),
                    E::DuplicateHeader { file, .. } if *file == "device" => "device".to_owned(),
                    E::InvalidHeader { header, .. }
                        if *header == config.device_id_header
                            || *header == config.device_type_header =>
                    {
                        "device".to_owned()
                    }
                    _ => "pii.columns".to_owned(),
                };
                self.problem(&path, e);
            }
        }
        config
    }

    /// `[server]`'s TLS files: both or neither, readable.
    fn server_tls(&mut self, s: &Table) -> (Option<PathBuf>, Option<PathBuf>) {
        let tls_cert_path = string(s, "tls_cert_path").map(|p| self.path(&p));
        let tls_key_path = string(s, "tls_key_path").map(|p| self.path(&p));
        match (&tls_cert_path, &tls_key_path) {
            (Some(_), None) => self.problem(
                "server.tls_key_path",
                "missing; TLS needs both tls_cert_path and tls_key_path",
            ),
            (None, Some(_)) => self.problem(
                "server.tls_cert_path",
                "missing; TLS needs both tls_cert_path and tls_key_path",
            ),
            _ => {}
        }
        for (key, path) in [
            ("tls_cert_path", &tls_cert_path),
            ("tls_key_path", &tls_key_path),
        ] {
            if let Some(path) = path
                && let Err(e) = std::fs::File::open(path)
            {
                self.problem(
                    &format!("server.{key}"),
                    format!("cannot read {}: {}", path.display(), io_text(&e)),
                );
            }
        }
        (tls_cert_path, tls_key_path)
    }

    /// `[server]`.
    fn server(&mut self, top: &Table) -> ServerSettings {
        let s = self.section(top, "server", SERVER).unwrap_or_default();
        let default_listen = |text: &str| {
            text.parse()
                .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
        };
        let mut address = |key: &str, default: &str| match string(&s, key) {
            None => default_listen(default),
            Some(text) => {
                if let Ok(a) = text.trim().parse::<std::net::SocketAddr>() {
                    a
                } else {
                    self.problem(
                        &format!("server.{key}"),
                        format!(
                            "{text:?} is not an address and port; use e.g. \"127.0.0.1:8080\" \
                             or \"0.0.0.0:8080\" (all interfaces)"
                        ),
                    );
                    default_listen(default)
                }
            }
        };
        let listen = address("listen", DEFAULT_LISTEN);
        let admin_listen = address("admin_listen", DEFAULT_ADMIN_LISTEN);
        if admin_listen == listen {
            self.problem(
                "server.admin_listen",
                "is the Firehose address; the status page needs its own port (default \
                 127.0.0.1:8081)",
            );
        }
        let mut positive = |key: &str, default: u64, max: u64| match integer(&s, key) {
            None => default,
            Some(n) if n >= 1 && n.unsigned_abs() <= max => n.unsigned_abs(),
            Some(n) => {
                self.problem(
                    &format!("server.{key}"),
                    format!("{n} is out of range; use 1 to {max} (default {default})"),
                );
                default
            }
        };
        let max_body_bytes = positive("max_body_bytes", DEFAULT_MAX_BODY_BYTES, 1 << 30);
        let max_concurrent_requests =
            u32::try_from(positive("max_concurrent_requests", 256, 65_536)).unwrap_or(256);
        let request_timeout = match s.get("request_timeout") {
            None => std::time::Duration::from_secs(30),
            Some(Value::Integer(n)) if *n > 0 => std::time::Duration::from_secs(n.unsigned_abs()),
            Some(Value::Float(f)) if *f > 0.0 => std::time::Duration::from_secs_f64(*f),
            Some(Value::String(t)) if liveramp_transport::parse_duration(t).is_some() => {
                liveramp_transport::parse_duration(t).unwrap_or(std::time::Duration::from_secs(30))
            }
            Some(other) => {
                self.problem(
                    "server.request_timeout",
                    format!(
                        "{} is not a duration; use e.g. 30 or \"30s\"",
                        quoted(other)
                    ),
                );
                std::time::Duration::from_secs(30)
            }
        };
        let (tls_cert_path, tls_key_path) = self.server_tls(&s);
        ServerSettings {
            listen,
            api_key_env: string(&s, "api_key_env")
                .unwrap_or_else(|| DEFAULT_API_KEY_ENV.to_owned()),
            max_body_bytes,
            max_concurrent_requests,
            request_timeout,
            tls_cert_path,
            tls_key_path,
            admin_listen,
            admin_api_key_env: string(&s, "admin_api_key_env"),
        }
    }

    /// `[store]`.
    fn store(&mut self, top: &Table, state_dir: &Path) -> Option<StoreSettings> {
        let s = self.section(top, "store", STORE)?;
        let path = string(&s, "path")
            .map_or_else(|| state_dir.join("audiences.sqlite"), |p| self.path(&p));
        let retention_days = match integer(&s, "retention_days") {
            None => DEFAULT_RETENTION_DAYS,
            Some(n @ 1..=36_500) => u32::try_from(n).unwrap_or(DEFAULT_RETENTION_DAYS),
            Some(n) => {
                self.problem(
                    "store.retention_days",
                    format!(
                        "{n} is out of range; keep ids and tombstones at least 1 day, and longer \
                         than mParticle may retry a message (the default is 30)"
                    ),
                );
                DEFAULT_RETENTION_DAYS
            }
        };
        let dsr_retention_days = match integer(&s, "dsr_retention_days") {
            None => DEFAULT_DSR_RETENTION_DAYS,
            Some(n @ 1..=36_500) => u32::try_from(n).unwrap_or(DEFAULT_DSR_RETENTION_DAYS),
            Some(n) => {
                self.problem(
                    "store.dsr_retention_days",
                    format!(
                        "{n} is out of range; keep the record of a data subject request 1 to \
                         36500 days (the default is 365)"
                    ),
                );
                DEFAULT_DSR_RETENTION_DAYS
            }
        };
        let url_env = string(&s, "url_env");
        if let Some(name) = &url_env
            && (name.is_empty() || name.contains("://"))
        {
            self.problem(
                "store.url_env",
                "is the name of an environment variable holding the URL (e.g. \
                 \"LIVERAMP_DATABASE_URL\"), not the URL itself (which would put its password in \
                 this file)"
                    .to_owned(),
            );
        }
        let pool_size = match integer(&s, "pool_size") {
            None => 8,
            Some(n @ 1..=1_000) => u32::try_from(n).unwrap_or(8),
            Some(n) => {
                self.problem(
                    "store.pool_size",
                    format!("{n} is out of range; use 1 to 1000 connections (the default is 8)"),
                );
                8
            }
        };
        let statement_timeout =
            self.duration(&s, "store.statement_timeout", "statement_timeout", 30);
        let lease = self.duration(&s, "store.lease", "lease", 60);
        Some(StoreSettings {
            path,
            retention_days,
            dsr_retention_days,
            url_env,
            pool_size,
            statement_timeout,
            lease,
        })
    }

    /// A positive duration: seconds as a number, or a string such as `"30s"`.
    fn duration(
        &mut self,
        s: &Table,
        field: &str,
        key: &str,
        default_secs: u64,
    ) -> std::time::Duration {
        let default = std::time::Duration::from_secs(default_secs);
        match s.get(key) {
            None => default,
            Some(Value::Integer(n)) if *n > 0 => std::time::Duration::from_secs(n.unsigned_abs()),
            Some(Value::Float(f)) if *f > 0.0 => std::time::Duration::from_secs_f64(*f),
            Some(Value::String(t)) if liveramp_transport::parse_duration(t).is_some() => {
                liveramp_transport::parse_duration(t).unwrap_or(default)
            }
            Some(other) => {
                self.problem(
                    field,
                    format!(
                        "{} is not a duration; use e.g. {default_secs} or \"{default_secs}s\"",
                        quoted(other)
                    ),
                );
                default
            }
        }
    }

    fn schedule(&mut self, top: &Table) -> ScheduleSettings {
        let s = self.section(top, "schedule", SCHEDULE).unwrap_or_default();
        let mut schedule = Schedule::default();
        if let Some(time) = string(&s, "time") {
            match liveramp_scheduler::parse_time(&time) {
                Ok(t) => schedule.time = t,
                Err(e) => self.problem("schedule.time", e),
            }
        }
        if let Some(zone) = string(&s, "timezone") {
            match liveramp_scheduler::parse_timezone(&zone) {
                Ok(z) => schedule.timezone = z,
                Err(e) => self.problem("schedule.timezone", e),
            }
        }
        let mut positive = |key: &str, default: u32| match integer(&s, key) {
            None => default,
            Some(n) if (1..=10_000).contains(&n) => u32::try_from(n).unwrap_or(default),
            Some(n) => {
                self.problem(
                    &format!("schedule.{key}"),
                    format!("{n} is out of range; use 1 or more"),
                );
                default
            }
        };
        let nights = positive("catch_up_nights", 1);
        let max_attempts = positive("max_attempts", 3);
        let retry_delay_minutes = positive("retry_delay_minutes", 10);
        ScheduleSettings {
            schedule,
            catch_up: if nights <= 1 {
                CatchUp::MostRecent
            } else {
                CatchUp::LastNights(nights)
            },
            max_attempts,
            retry_delay_minutes,
        }
    }
}

/// The file's permission bits when group or others may read it.
#[cfg(unix)]
fn group_or_other_readable(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn group_or_other_readable(_path: &Path) -> Option<u32> {
    None
}
