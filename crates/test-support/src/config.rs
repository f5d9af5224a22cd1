//! The connector configuration the tests write: a builder for the TOML of
//! `liveramp_connector::Config` (see `crates/liveramp-connector/src/config.rs` for the keys).
//!
//! A key that is not set is not written, so the connector's default applies, exactly as when a
//! test wrote the TOML by hand. The text goes to `Config::from_toml_str` ([`TestConfig::toml`])
//! or to a `connector.toml` for the `liveramp` binary ([`TestConfig::write`]).
//!
//! ```
//! use liveramp_test_support::config::TestConfig;
//!
//! let toml = TestConfig::directory("out").encrypt(true).demo_public_key().gzip(true).toml();
//! assert!(toml.contains("[directory]\npath = \"out\"\n"));
//! assert!(toml.contains("compression = \"gzip\"\n"));
//! ```

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::demo_file;
use crate::sshd::{Sshd, TEST_PASSWORD, TEST_USER};

/// The demo configuration's PII columns (`examples/demo/connector.toml`), which most tests and
/// the benchmark use.
pub const DEMO_COLUMNS: [&str; 8] = [
    "FIRSTNAME",
    "LASTNAME",
    "CITY",
    "STATE",
    "ZIP",
    "COUNTRY",
    "EMAIL",
    "PHONE",
];

/// How an `[sftp]` destination logs in.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `password = "..."` in the file.
    InlinePassword(String),
    /// `password_env = VAR`; the caller sets VAR.
    PasswordEnv(String),
    /// `private_key_path` plus, optionally, `private_key_passphrase_env = VAR`.
    Key {
        /// The private key file.
        path: PathBuf,
        /// The variable holding its passphrase, if any.
        passphrase_env: Option<String>,
    },
}

/// How an `[sftp]` destination verifies the server's host key.
#[derive(Clone, Debug)]
pub enum HostKey {
    /// `known_hosts_path = "..."`.
    KnownHosts(PathBuf),
    /// `host_key_fingerprint = "SHA256:..."`.
    Fingerprint(String),
}

impl HostKey {
    /// The test server's `known_hosts` for clients that dial `port`: its own file when `port`
    /// is the server's, else one naming `[127.0.0.1]:port` (a proxy in front of it).
    pub fn known_hosts(sshd: &Sshd, port: u16) -> HostKey {
        if port == sshd.port {
            HostKey::KnownHosts(sshd.known_hosts.clone())
        } else {
            HostKey::KnownHosts(sshd.known_hosts_for_port(port))
        }
    }
}

/// `[sftp.retry]`.
#[derive(Clone, Debug)]
pub struct Retry {
    /// `attempts`.
    pub attempts: u32,
    /// `initial_backoff`, e.g. `"20ms"`.
    pub initial_backoff: String,
    /// `max_backoff`.
    pub max_backoff: String,
    /// `jitter` (unset: the default, on).
    pub jitter: Option<bool>,
}

impl Retry {
    /// `attempts` with backoffs from `initial` to `max`, jitter left at its default.
    pub fn new(attempts: u32, initial: &str, max: &str) -> Retry {
        Retry {
            attempts,
            initial_backoff: initial.to_owned(),
            max_backoff: max.to_owned(),
            jitter: None,
        }
    }

    /// The same with `jitter = false` (deterministic waits).
    #[must_use]
    pub fn without_jitter(mut self) -> Retry {
        self.jitter = Some(false);
        self
    }
}

/// An `[sftp]` destination.
#[derive(Clone, Debug)]
pub struct Sftp {
    /// `url` (default `127.0.0.1`).
    pub url: String,
    /// `port` (written as a string, as the seed's settings table has it).
    pub port: u16,
    /// `username` (default the test account).
    pub username: String,
    /// How it logs in (default the test account's password, inline).
    pub auth: Auth,
    /// How the host key is verified.
    pub host_key: HostKey,
    /// `remote_dir`.
    pub remote_dir: PathBuf,
    /// `connect_timeout` in seconds (unset: the default).
    pub connect_timeout: Option<u64>,
    /// `operation_timeout` in seconds (unset: the default).
    pub operation_timeout: Option<u64>,
    /// `[sftp.retry]` (unset: the defaults).
    pub retry: Option<Retry>,
}

impl Sftp {
    /// The test account on `127.0.0.1:port` (the server's port or a proxy's), password login,
    /// into `remote_dir`; timeouts and retries at their defaults.
    pub fn new(port: u16, remote_dir: &Path, host_key: HostKey) -> Sftp {
        Sftp {
            url: "127.0.0.1".to_owned(),
            port,
            username: TEST_USER.to_owned(),
            auth: Auth::InlinePassword(TEST_PASSWORD.to_owned()),
            host_key,
            remote_dir: remote_dir.to_path_buf(),
            connect_timeout: None,
            operation_timeout: None,
            retry: None,
        }
    }

    /// The same with `connect_timeout` (seconds).
    #[must_use]
    pub fn connect_timeout(mut self, seconds: u64) -> Sftp {
        self.connect_timeout = Some(seconds);
        self
    }

    /// The same with `[sftp.retry]`.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> Sftp {
        self.retry = Some(retry);
        self
    }
}

/// Where the files go.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per test configuration
pub enum Destination {
    /// `[directory] path = "..."`.
    Directory(String),
    /// `[sftp]`.
    Sftp(Sftp),
}

/// One `[[audiences]]` entry.
#[derive(Clone, Debug)]
pub struct Audience {
    /// `id`.
    pub id: String,
    /// `external_name`.
    pub external_name: String,
    /// `members` (the NDJSON file; unset for tests that pass members themselves).
    pub members: Option<String>,
}

/// A connector configuration, written as TOML. Start from [`TestConfig::directory`],
/// [`TestConfig::sftp`] or [`TestConfig::over_sftp`], then change what the test needs.
#[derive(Clone, Debug)]
pub struct TestConfig {
    /// `configuration_name` (default `"test"`).
    pub configuration_name: String,
    /// `org_id` (default `"3242"`).
    pub org_id: String,
    /// `state_dir` (default `"state"`).
    pub state_dir: Option<String>,
    /// Extra top-level lines, written after `state_dir` (e.g. `allow_small_files = true`).
    pub extra: String,
    /// `[directory]` or `[sftp]`.
    pub destination: Destination,
    /// `[file] encrypt` (unset: the default, off).
    pub encrypt: Option<bool>,
    /// `[file] public_key_path`.
    pub public_key_path: Option<PathBuf>,
    /// `[file] compression`, `"none"` or `"gzip"` (unset: the default).
    pub compression: Option<String>,
    /// `[data] send_device_ids` (default true).
    pub send_device_ids: bool,
    /// `[data] send_pii` (default true).
    pub send_pii: bool,
    /// `[pii] hash_emails_and_phones` (unset: the default, off).
    pub hash_emails_and_phones: Option<bool>,
    /// `[pii] columns` (unset: the default columns).
    pub columns: Option<Vec<String>>,
    /// `[[audiences]]` (default: 17095 "High-value customers", members in `members.ndjson`).
    pub audiences: Vec<Audience>,
    /// Whole sections written at the end, e.g. `[store]` or `[server]` with their keys.
    pub sections: String,
}

impl TestConfig {
    /// Both data types to `destination`, the ledger in `state`, one audience (17095 "High-value
    /// customers", members in `members.ndjson`); everything else at the connector's defaults.
    pub fn new(destination: Destination) -> TestConfig {
        TestConfig {
            configuration_name: "test".to_owned(),
            org_id: "3242".to_owned(),
            state_dir: Some("state".to_owned()),
            extra: String::new(),
            destination,
            encrypt: None,
            public_key_path: None,
            compression: None,
            send_device_ids: true,
            send_pii: true,
            hash_emails_and_phones: None,
            columns: None,
            audiences: vec![Audience {
                id: "17095".to_owned(),
                external_name: "High-value customers".to_owned(),
                members: Some("members.ndjson".to_owned()),
            }],
            sections: String::new(),
        }
    }

    /// [`TestConfig::new`] to the local folder `path` (relative to the configuration's folder).
    pub fn directory(path: &str) -> TestConfig {
        Self::new(Destination::Directory(path.to_owned()))
    }

    /// [`TestConfig::new`] to an SFTP server.
    pub fn sftp(sftp: Sftp) -> TestConfig {
        Self::new(Destination::Sftp(sftp))
    }

    /// What the fault and hygiene tests of the `liveramp` binary deliver: SFTP to `sshd`
    /// (through `port`, which may be a proxy's) into `remote`, password login, host key from a
    /// `known_hosts` naming `port`, 10 s timeouts, 3 attempts from 50 ms to 200 ms without
    /// jitter; encryption off (the demo public key configured), no gzip, hashing on, the demo
    /// columns; state in `state`.
    pub fn over_sftp(sshd: &Sshd, port: u16, remote: &Path) -> TestConfig {
        let mut sftp = Sftp::new(port, remote, HostKey::known_hosts(sshd, port));
        sftp.connect_timeout = Some(10);
        sftp.operation_timeout = Some(10);
        sftp.retry = Some(Retry::new(3, "50ms", "200ms").without_jitter());
        let mut config = Self::sftp(sftp)
            .name("faults")
            .encrypt(false)
            .demo_public_key()
            .gzip(false)
            .hash(true);
        config.columns = Some(DEMO_COLUMNS.map(str::to_owned).to_vec());
        config
    }

    /// `configuration_name`.
    #[must_use]
    pub fn name(mut self, name: &str) -> TestConfig {
        name.clone_into(&mut self.configuration_name);
        self
    }

    /// `state_dir`.
    #[must_use]
    pub fn state_dir(mut self, dir: &str) -> TestConfig {
        self.state_dir = Some(dir.to_owned());
        self
    }

    /// Adds a top-level line (e.g. `"accept_header_change = true"`; empty adds nothing).
    #[must_use]
    pub fn extra(mut self, line: &str) -> TestConfig {
        if !line.is_empty() {
            self.extra.push_str(line);
            self.extra.push('\n');
        }
        self
    }

    /// `[file] encrypt`.
    #[must_use]
    pub fn encrypt(mut self, on: bool) -> TestConfig {
        self.encrypt = Some(on);
        self
    }

    /// `[file] public_key_path` = the demo public key (`examples/demo/demo-public-key.asc`).
    #[must_use]
    pub fn demo_public_key(mut self) -> TestConfig {
        self.public_key_path = Some(demo_file("demo-public-key.asc"));
        self
    }

    /// `[file] compression` = `"gzip"` or `"none"`.
    #[must_use]
    pub fn gzip(self, on: bool) -> TestConfig {
        self.compression(if on { "gzip" } else { "none" })
    }

    /// `[file] compression`.
    #[must_use]
    pub fn compression(mut self, compression: &str) -> TestConfig {
        self.compression = Some(compression.to_owned());
        self
    }

    /// `[data]`: which files are sent.
    #[must_use]
    pub fn send(mut self, device_ids: bool, pii: bool) -> TestConfig {
        self.send_device_ids = device_ids;
        self.send_pii = pii;
        self
    }

    /// `[pii] hash_emails_and_phones`.
    #[must_use]
    pub fn hash(mut self, on: bool) -> TestConfig {
        self.hash_emails_and_phones = Some(on);
        self
    }

    /// `[pii] columns`.
    #[must_use]
    pub fn columns(mut self, columns: &[&str]) -> TestConfig {
        self.columns = Some(columns.iter().map(|c| (*c).to_owned()).collect());
        self
    }

    /// One audience instead of the current ones (`members`: its NDJSON file, if any).
    #[must_use]
    pub fn audience(mut self, id: &str, external_name: &str, members: Option<&str>) -> TestConfig {
        self.audiences = vec![Audience {
            id: id.to_owned(),
            external_name: external_name.to_owned(),
            members: members.map(str::to_owned),
        }];
        self
    }

    /// No `[[audiences]]` at all (for a configuration whose audiences the test passes itself).
    #[must_use]
    pub fn no_audiences(mut self) -> TestConfig {
        self.audiences.clear();
        self
    }

    /// The SFTP destination, to change it; panics for a `[directory]`.
    pub fn sftp_mut(&mut self) -> &mut Sftp {
        match &mut self.destination {
            Destination::Sftp(sftp) => sftp,
            Destination::Directory(_) => panic!("this configuration has no [sftp] destination"),
        }
    }

    /// `[sftp]` login.
    #[must_use]
    pub fn auth(mut self, auth: Auth) -> TestConfig {
        self.sftp_mut().auth = auth;
        self
    }

    /// `[sftp.retry]`.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> TestConfig {
        self.sftp_mut().retry = Some(retry);
        self
    }

    /// Adds a section at the end: its header and lines, e.g.
    /// `section("[store]\npath = \"state/audiences.sqlite\"")`.
    #[must_use]
    pub fn section(mut self, text: &str) -> TestConfig {
        self.sections.push('\n');
        self.sections.push_str(text.trim_end());
        self.sections.push('\n');
        self
    }

    /// A `[store]` in `state/audiences.sqlite`, and no `[[audiences]]` (they come from the
    /// store).
    #[must_use]
    pub fn with_store(self) -> TestConfig {
        self.no_audiences()
            .section("[store]\npath = \"state/audiences.sqlite\"")
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "configuration_name = {}",
            quote(&self.configuration_name)
        );
        let _ = writeln!(t, "org_id = {}", quote(&self.org_id));
        if let Some(state) = &self.state_dir {
            let _ = writeln!(t, "state_dir = {}", quote(state));
        }
        t.push_str(&self.extra);
        match &self.destination {
            Destination::Directory(path) => {
                let _ = write!(t, "\n[directory]\npath = {}\n", quote(path));
            }
            Destination::Sftp(s) => write_sftp(&mut t, s),
        }
        if self.encrypt.is_some() || self.public_key_path.is_some() || self.compression.is_some() {
            t.push_str("\n[file]\n");
            if let Some(encrypt) = self.encrypt {
                let _ = writeln!(t, "encrypt = {encrypt}");
            }
            if let Some(key) = &self.public_key_path {
                let _ = writeln!(t, "public_key_path = {}", quote_path(key));
            }
            if let Some(compression) = &self.compression {
                let _ = writeln!(t, "compression = {}", quote(compression));
            }
        }
        let _ = write!(
            t,
            "\n[data]\nsend_device_ids = {}\nsend_pii = {}\n",
            self.send_device_ids, self.send_pii
        );
        if self.hash_emails_and_phones.is_some() || self.columns.is_some() {
            t.push_str("\n[pii]\n");
            if let Some(hash) = self.hash_emails_and_phones {
                let _ = writeln!(t, "hash_emails_and_phones = {hash}");
            }
            if let Some(columns) = &self.columns {
                let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
                let _ = writeln!(t, "columns = [{}]", list.join(", "));
            }
        }
        for audience in &self.audiences {
            let _ = write!(
                t,
                "\n[[audiences]]\nid = {}\nexternal_name = {}\n",
                quote(&audience.id),
                quote(&audience.external_name)
            );
            if let Some(members) = &audience.members {
                let _ = writeln!(t, "members = {}", quote(members));
            }
        }
        t.push_str(&self.sections);
        t
    }

    /// Writes the configuration as `dir/connector.toml` (mode 0600, as a file holding a
    /// password must be) and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("connector.toml");
        fs::write(&path, self.toml()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
}

fn write_sftp(t: &mut String, s: &Sftp) {
    let _ = write!(
        t,
        "\n[sftp]\nurl = {}\nport = \"{}\"\nusername = {}\n",
        quote(&s.url),
        s.port,
        quote(&s.username)
    );
    match &s.auth {
        Auth::InlinePassword(p) => {
            let _ = writeln!(t, "password = {}", quote(p));
        }
        Auth::PasswordEnv(var) => {
            let _ = writeln!(t, "password_env = {}", quote(var));
        }
        Auth::Key {
            path,
            passphrase_env,
        } => {
            let _ = writeln!(t, "private_key_path = {}", quote_path(path));
            if let Some(var) = passphrase_env {
                let _ = writeln!(t, "private_key_passphrase_env = {}", quote(var));
            }
        }
    }
    match &s.host_key {
        HostKey::KnownHosts(path) => {
            let _ = writeln!(t, "known_hosts_path = {}", quote_path(path));
        }
        HostKey::Fingerprint(fingerprint) => {
            let _ = writeln!(t, "host_key_fingerprint = {}", quote(fingerprint));
        }
    }
    let _ = writeln!(t, "remote_dir = {}", quote_path(&s.remote_dir));
    if let Some(seconds) = s.connect_timeout {
        let _ = writeln!(t, "connect_timeout = {seconds}");
    }
    if let Some(seconds) = s.operation_timeout {
        let _ = writeln!(t, "operation_timeout = {seconds}");
    }
    if let Some(retry) = &s.retry {
        let _ = write!(
            t,
            "[sftp.retry]\nattempts = {}\ninitial_backoff = {}\nmax_backoff = {}\n",
            retry.attempts,
            quote(&retry.initial_backoff),
            quote(&retry.max_backoff)
        );
        if let Some(jitter) = retry.jitter {
            let _ = writeln!(t, "jitter = {jitter}");
        }
    }
}

/// A TOML basic string.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_path(path: &Path) -> String {
    quote(&path.display().to_string())
}
