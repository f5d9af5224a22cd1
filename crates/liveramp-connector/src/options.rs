//! The options of a delivery and the summaries `map_only` and `check` return.

use std::collections::BTreeMap;
use std::path::PathBuf;

use liveramp_file_format::DataType;

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
    /// Worker threads of [`Connector::deliver_ndjson`](crate::Connector::deliver_ndjson) and [`Connector::map_only`](crate::Connector::map_only) (default:
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

/// What [`Connector::map_only`](crate::Connector::map_only) found: the members and rows a delivery would write.
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

/// What [`check_member_sources`](crate::check_member_sources) found of one member source: an
/// audience's `members` file, or the membership store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceCheck {
    /// The audience it feeds (`None` for the store as a whole).
    pub audience: Option<String>,
    /// What the source is and what was found, e.g. `members file ./members.ndjson (389,120
    /// bytes)` or `the membership store: 1,200 members, connected`.
    pub source: String,
    /// Why it cannot be read, when it cannot: what a delivery would fail on.
    pub problem: Option<String>,
}
