//! SFTP settings (serde) and URL parsing.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use liveramp_transport::RetryPolicy;
use liveramp_transport::{Error, Result};

/// The default SFTP port.
pub const DEFAULT_PORT: u16 = 22;
/// The default remote folder: LiveRamp ingests files under `uploads/`.
pub const DEFAULT_REMOTE_DIR: &str = "uploads";
/// Default time allowed for the TCP connection, the SSH handshake and authentication.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time allowed for any single SFTP operation (one write, a rename, ...).
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// How to connect to, verify, log in to and write on the SFTP server.
///
/// Deserialises from the seed's "SFTP Settings" (`username`, `password`, `url`, `port`, with
/// `port` given as a string or an integer) plus this crate's own options. Every field except
/// `url` and `username` has a safe default; host-key verification is on unless
/// `insecure_skip_host_key_check = true`.
///
/// ```
/// use liveramp_sftp_transport::SftpSettings;
///
/// let settings: SftpSettings = serde_json::from_str(
///     r#"{"url": "sftp://files.liveramp.com", "port": "22", "username": "acme",
///         "password": "s3cret", "host_key_fingerprint": "SHA256:AbCd"}"#,
/// )?;
/// assert_eq!(settings.port, 22);
/// assert_eq!(settings.remote_dir, "uploads");
/// assert_eq!(settings.connect_timeout.as_secs(), 30);
/// assert!(!format!("{settings:?}").contains("s3cret"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SftpSettings {
    /// The server: `files.liveramp.com`, `sftp://host`, `sftp://host:port/path`,
    /// `sftp://user@host`, `[::1]` or `sftp://[::1]:2222`. A path in the URL names the remote
    /// folder (`/~/x` is relative to the login folder, `/x` absolute).
    pub url: String,
    /// The TCP port, as a string or an integer (blank means 22). A port in `url` wins over the
    /// default; giving two different ports is an error.
    #[serde(
        default = "default_port",
        deserialize_with = "deserialize_port",
        serialize_with = "serialize_port"
    )]
    pub port: u16,
    /// The login name.
    #[serde(default)]
    pub username: String,
    /// The password (password login). Never shown in `Debug`, logs or errors.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    /// A private key file (key login), OpenSSH or PEM format.
    #[serde(default, alias = "private_key_file", alias = "private_key")]
    pub private_key_path: Option<PathBuf>,
    /// The private key's passphrase, if it has one.
    #[serde(default, alias = "passphrase", skip_serializing)]
    pub private_key_passphrase: Option<SecretString>,
    /// The remote folder files are written to (default `uploads`).
    #[serde(default = "default_remote_dir")]
    pub remote_dir: String,
    /// Create `remote_dir` (and its parents) when it does not exist (default `false`: a missing
    /// folder is an error, because LiveRamp's sub-folders must be set up by LiveRamp).
    #[serde(default)]
    pub create_remote_dir: bool,
    /// An OpenSSH `known_hosts` file to verify the server's host key against (hashed entries and
    /// `[host]:port` entries are understood).
    #[serde(default)]
    pub known_hosts_path: Option<PathBuf>,
    /// A pinned host key fingerprint, `SHA256:...` exactly as `ssh-keygen -lf` prints it.
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    /// Skip host-key verification. Insecure: a warning is logged on every connection.
    #[serde(default)]
    pub insecure_skip_host_key_check: bool,
    /// Time allowed to connect, complete the SSH handshake and authenticate (default 30 s).
    /// Seconds as a number, or a string like `"30s"`, `"500ms"`, `"2m"`.
    #[serde(
        default = "default_connect_timeout",
        with = "liveramp_transport::duration_serde"
    )]
    pub connect_timeout: Duration,
    /// Time allowed for any single SFTP operation (default 60 s).
    #[serde(
        default = "default_operation_timeout",
        with = "liveramp_transport::duration_serde"
    )]
    pub operation_timeout: Duration,
    /// How transient failures are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_remote_dir() -> String {
    DEFAULT_REMOTE_DIR.to_owned()
}
fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}
fn default_operation_timeout() -> Duration {
    DEFAULT_OPERATION_TIMEOUT
}

impl Default for SftpSettings {
    fn default() -> Self {
        SftpSettings {
            url: String::new(),
            port: DEFAULT_PORT,
            username: String::new(),
            password: None,
            private_key_path: None,
            private_key_passphrase: None,
            remote_dir: default_remote_dir(),
            create_remote_dir: false,
            known_hosts_path: None,
            host_key_fingerprint: None,
            insecure_skip_host_key_check: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

impl SftpSettings {
    /// Settings for `url` and `username` with every other field at its default; add a
    /// password or key and a host-key check before connecting.
    pub fn new(url: impl Into<String>, username: impl Into<String>) -> Self {
        SftpSettings {
            url: url.into(),
            username: username.into(),
            ..SftpSettings::default()
        }
    }

    /// Checks the settings and resolves the URL, port and folder into an [`Endpoint`].
    pub fn endpoint(&self) -> Result<Endpoint> {
        let parsed = parse_url(&self.url)?;
        let port = match parsed.port {
            Some(p) if self.port != DEFAULT_PORT && self.port != p => {
                return Err(Error::InvalidSettings(format!(
                    "`url` says port {p} but `port` says {}: give the port in one place",
                    self.port
                )));
            }
            Some(p) => p,
            None => self.port,
        };
        if port == 0 {
            return Err(Error::InvalidSettings(
                "`port` is 0: give the server's SFTP port (usually 22)".to_owned(),
            ));
        }
        let username = match (&parsed.username, self.username.is_empty()) {
            (Some(u), true) => u.clone(),
            (Some(u), false) if *u != self.username => {
                return Err(Error::InvalidSettings(format!(
                    "`url` names user `{u}` but `username` is `{}`: give the user in one place",
                    self.username
                )));
            }
            _ => self.username.clone(),
        };
        if username.is_empty() {
            return Err(Error::InvalidSettings(
                "`username` is empty: give the SFTP login name".to_owned(),
            ));
        }
        let remote_dir = match parsed.path {
            Some(p) if self.remote_dir != DEFAULT_REMOTE_DIR && self.remote_dir != p => {
                return Err(Error::InvalidSettings(format!(
                    "`url` names folder `{p}` but `remote_dir` is `{}`: give the folder in one \
                     place",
                    self.remote_dir
                )));
            }
            Some(p) => p,
            None => self.remote_dir.clone(),
        };
        if remote_dir.is_empty() {
            return Err(Error::InvalidSettings(
                "`remote_dir` is empty: use `.` for the login folder, or e.g. `uploads`".to_owned(),
            ));
        }
        if self.password.is_none() && self.private_key_path.is_none() {
            return Err(Error::InvalidSettings(
                "neither `password` nor `private_key_path` is set: give one of them".to_owned(),
            ));
        }
        if let Some(pin) = &self.host_key_fingerprint {
            crate::hostkey::validate_pin(pin)?;
        }
        if !self.insecure_skip_host_key_check
            && self.known_hosts_path.is_none()
            && self.host_key_fingerprint.is_none()
        {
            return Err(Error::InvalidSettings(
                "no way to verify the server's host key: set `known_hosts_path` or \
                 `host_key_fingerprint = \"SHA256:...\"` (run `liveramp check` to see the \
                 server's fingerprint), or, insecurely, `insecure_skip_host_key_check = true`"
                    .to_owned(),
            ));
        }
        self.retry.validate()?;
        if self.connect_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err(Error::InvalidSettings(
                "timeouts must be greater than zero".to_owned(),
            ));
        }
        Ok(Endpoint {
            host: parsed.host,
            port,
            username,
            remote_dir,
        })
    }
}

impl fmt::Debug for SftpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpSettings")
            .field("url", &redacted_url(&self.url))
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("private_key_path", &self.private_key_path)
            .field(
                "private_key_passphrase",
                &self.private_key_passphrase.as_ref().map(|_| "[REDACTED]"),
            )
            .field("remote_dir", &self.remote_dir)
            .field("create_remote_dir", &self.create_remote_dir)
            .field("known_hosts_path", &self.known_hosts_path)
            .field("host_key_fingerprint", &self.host_key_fingerprint)
            .field(
                "insecure_skip_host_key_check",
                &self.insecure_skip_host_key_check,
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Where to connect, resolved from [`SftpSettings`] by [`SftpSettings::endpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login name.
    pub username: String,
    /// Remote folder.
    pub remote_dir: String,
}

impl Endpoint {
    /// `host:port`, with IPv6 addresses in brackets.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A URL split into its parts.
#[derive(Debug, PartialEq, Eq)]
struct ParsedUrl {
    host: String,
    port: Option<u16>,
    username: Option<String>,
    path: Option<String>,
}

/// `url` with the password of a `user:password@host` form replaced by `***`, for `Debug` and
/// error messages (such a URL is refused, but the refusal must not print the password).
fn redacted_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let authority = &url[start..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let colon = start + userinfo.find(':').unwrap_or(0);
            let at = start + userinfo.len();
            format!("{}:***{}", &url[..colon], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn parse_url(url: &str) -> Result<ParsedUrl> {
    let shown = redacted_url(url);
    let bad = |why: &str| {
        Error::InvalidSettings(format!(
            "`url` `{shown}` {why}: use e.g. `files.liveramp.com` or `sftp://host:port/folder`"
        ))
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(bad("is empty"));
    }
    let rest = if let Some((scheme, rest)) = trimmed.split_once("://") {
        if !scheme.eq_ignore_ascii_case("sftp") && !scheme.eq_ignore_ascii_case("ssh") {
            return Err(bad("has a scheme other than `sftp://`"));
        }
        rest
    } else {
        trimmed
    };
    // A bare IPv6 address (`::1`) has several colons and no brackets.
    if rest.matches(':').count() > 1 && !rest.contains('[') && !rest.contains('/') {
        return Ok(ParsedUrl {
            host: rest.to_owned(),
            port: None,
            username: None,
            path: None,
        });
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (username, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => {
            if u.contains(':') {
                return Err(bad(
                    "contains a password: put it in `password`, never in the URL",
                ));
            }
            (Some(u.to_owned()), h)
        }
        None => (None, authority),
    };
    let (host, port_text) = if let Some(after) = hostport.strip_prefix('[') {
        let (host, tail) = after
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed `[`"))?;
        match tail {
            "" => (host, None),
            t => (
                host,
                Some(
                    t.strip_prefix(':')
                        .ok_or_else(|| bad("has text after `]`"))?,
                ),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err(bad("has a malformed host"));
    }
    let port = match port_text {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad("has an invalid port"))?),
    };
    let path = match path {
        None | Some("/") => None,
        Some(p) => {
            let p = p.trim_end_matches('/');
            match p.strip_prefix("/~") {
                Some("") => Some(".".to_owned()),
                Some(rel) => Some(rel.trim_start_matches('/').to_owned()),
                None => Some(p.to_owned()),
            }
        }
    };
    Ok(ParsedUrl {
        host: host.to_owned(),
        port,
        username,
        path,
    })
}

fn deserialize_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u64),
        Text(String),
    }
    match Port::deserialize(deserializer)? {
        Port::Number(n) => u16::try_from(n)
            .map_err(|_| serde::de::Error::custom(format!("port {n} is out of range 1-65535"))),
        Port::Text(s) if s.trim().is_empty() => Ok(DEFAULT_PORT),
        Port::Text(s) => s.trim().parse::<u16>().map_err(|_| {
            serde::de::Error::custom(format!("port `{s}` is not a number in 1-65535"))
        }),
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn serialize_port<S: Serializer>(port: &u16, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u16(*port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str) -> ParsedUrl {
        parse_url(url).unwrap()
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_printed() {
        let url = "sftp://acme:hunter2-url-secret@files.liveramp.com:22/uploads";
        let e = parse_url(url).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid SFTP settings: `url` `sftp://acme:***@files.liveramp.com:22/uploads` \
             contains a password: put it in `password`, never in the URL: use e.g. \
             `files.liveramp.com` or `sftp://host:port/folder`"
        );
        let settings = SftpSettings::new(url, "acme");
        let debug = format!("{settings:?} {settings:#?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            settings
                .endpoint()
                .is_err_and(|e| !e.to_string().contains("hunter2"))
        );
        assert_eq!(redacted_url("a:b@h"), "a:***@h");
        assert_eq!(redacted_url("sftp://a@h/x:y@z"), "sftp://a@h/x:y@z");
        assert_eq!(redacted_url("files.liveramp.com"), "files.liveramp.com");
    }

    #[test]
    fn url_forms() {
        assert_eq!(
            p("files.liveramp.com"),
            ParsedUrl {
                host: "files.liveramp.com".into(),
                port: None,
                username: None,
                path: None
            }
        );
        assert_eq!(p("sftp://files.liveramp.com").host, "files.liveramp.com");
        let full = p("sftp://acme@host.example:2222/uploads/sub/");
        assert_eq!(full.host, "host.example");
        assert_eq!(full.port, Some(2222));
        assert_eq!(full.username.as_deref(), Some("acme"));
        assert_eq!(full.path.as_deref(), Some("/uploads/sub"));
        assert_eq!(p("sftp://h/~/uploads").path.as_deref(), Some("uploads"));
        let v6 = p("sftp://[::1]:4222");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(4222)));
        assert_eq!(p("[::1]").host, "::1");
        assert_eq!(p("::1").host, "::1");
        assert_eq!(p("host:22").port, Some(22));
        for bad in [
            "",
            "http://x",
            "sftp://",
            "sftp://[::1",
            "h:99999",
            "sftp://u:pw@h",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_as_string_or_number_and_defaults() {
        let s: SftpSettings =
            serde_json::from_str(r#"{"url":"h","port":"2222","username":"u","password":"x"}"#)
                .unwrap();
        assert_eq!(s.port, 2222);
        let s: SftpSettings =
            serde_json::from_str(r#"{"url":"h","port":4222,"username":"u"}"#).unwrap();
        assert_eq!(s.port, 4222);
        let s: SftpSettings = serde_json::from_str(r#"{"url":"h","port":""}"#).unwrap();
        assert_eq!(s.port, 22);
        assert_eq!(s.remote_dir, "uploads");
        assert_eq!(s.connect_timeout, Duration::from_secs(30));
        assert_eq!(s.operation_timeout, Duration::from_secs(60));
        assert_eq!(s.retry, RetryPolicy::default());
        assert!(serde_json::from_str::<SftpSettings>(r#"{"url":"h","port":"x"}"#).is_err());
        assert!(serde_json::from_str::<SftpSettings>(r#"{"url":"h","port":70000}"#).is_err());
        let t: SftpSettings = toml::from_str(
            "url = \"h\"\nconnect_timeout = \"500ms\"\n[retry]\nattempts = 2\ninitial_backoff = 0.1\n",
        )
        .unwrap();
        assert_eq!(t.connect_timeout, Duration::from_millis(500));
        assert_eq!(t.retry.attempts, 2);
        assert_eq!(t.retry.initial_backoff, Duration::from_millis(100));
        assert_eq!(t.retry.max_backoff, Duration::from_secs(120));
    }

    #[test]
    fn secrets_never_in_debug_or_serialised() {
        let s: SftpSettings = serde_json::from_str(
            r#"{"url":"h","username":"u","password":"hunter2","private_key_passphrase":"pp1"}"#,
        )
        .unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("pp1"),
            "{debug}"
        );
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("hunter2") && !json.contains("pp1"), "{json}");
    }

    #[test]
    fn endpoint_resolution() {
        let mut s = SftpSettings::new("sftp://acme@h:2222/~/uploads/x", "");
        s.password = Some("p".into());
        s.host_key_fingerprint = Some("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into());
        let e = s.endpoint().unwrap();
        assert_eq!(e.address(), "h:2222");
        assert_eq!(e.username, "acme");
        assert_eq!(e.remote_dir, "uploads/x");
        s.port = 2223;
        assert!(matches!(s.endpoint(), Err(Error::InvalidSettings(_))));
        let mut no_check = SftpSettings::new("h", "u");
        no_check.password = Some("p".into());
        let err = no_check.endpoint().unwrap_err().to_string();
        assert!(err.contains("known_hosts_path"), "{err}");
        no_check.insecure_skip_host_key_check = true;
        assert_eq!(no_check.endpoint().unwrap().address(), "h:22");
    }
}
