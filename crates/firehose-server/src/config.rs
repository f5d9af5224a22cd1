//! [`ServerConfig`] and the extension points it carries: the data subject request handler
//! and the extra metrics.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use liveramp_firehose::DsrProcessingRequest;

/// The environment variable the API key is read from unless configured otherwise
/// (`[server] api_key_env` of the connector configuration).
pub const DEFAULT_API_KEY_ENV: &str = "LIVERAMP_FIREHOSE_API_KEY";
/// The default largest request body, after decompression: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;
/// The default number of requests handled at once; more are answered 503.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;

/// Everything [`start`](crate::start) needs besides the store.
///
/// `ServerConfig::default()` listens on `127.0.0.1:8080` without TLS and without an API key;
/// set the fields, or use the `with_*` methods:
///
/// ```
/// use liveramp_firehose_server::ServerConfig;
/// let mut config = ServerConfig::new("0.0.0.0:8443".parse()?)
///     .with_api_key("the key entered in mParticle")
///     .with_tls("/etc/liveramp/cert.pem", "/etc/liveramp/key.pem");
/// config.max_concurrent_requests = 64;
/// // The key never prints.
/// assert!(!format!("{config:?}").contains("entered in mParticle"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on (port 0: any free port; see
    /// [`ServerHandle::local_addr`](crate::ServerHandle::local_addr)).
    pub listen: SocketAddr,
    /// The key every request must carry, as `account.account_settings.apiKey` in the message
    /// or as `Authorization: Bearer <key>`. Without one the server only starts on a loopback
    /// address, and then accepts every request.
    pub api_key: Option<ApiKey>,
    /// The environment variable the key comes from, named in the error when it is missing
    /// ([`DEFAULT_API_KEY_ENV`] by default; see [`ServerConfig::with_api_key_from_env`]).
    pub api_key_env: String,
    /// The largest request body, counted as it arrives and again after gzip decompression
    /// (default 16 MiB): larger bodies are answered 413.
    pub max_body_bytes: usize,
    /// The most request body bytes held in memory by all requests together (default 256
    /// MiB); a request that would go over is answered 503.
    pub max_buffered_bytes: usize,
    /// The most `POST /firehose` requests handled at once (default 256); more are answered
    /// 503 with `Retry-After`, never queued.
    pub max_concurrent_requests: usize,
    /// The most open connections (default 1,024); further connections wait in the
    /// operating system's backlog until one closes.
    pub max_connections: usize,
    /// The longest a request may take, reading its body included (default 30 s): a client
    /// that stalls while sending is answered 408; a store that takes longer, 503.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers, or to start the next
    /// request on a kept-alive connection, or to finish the TLS handshake (default 10 s).
    pub header_read_timeout: Duration,
    /// How long [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) waits for requests
    /// in flight before cutting their connections (default 35 s: a little more than the
    /// request timeout).
    pub shutdown_timeout: Duration,
    /// The `Retry-After` of every 503 answer (default 5 s; whole seconds).
    pub retry_after: Duration,
    /// The `version` of the `module_registration_response` (default: this crate's version).
    pub registration_version: String,
    /// Who fulfils data subject requests instead of the store; without one (the default) each
    /// request is recorded in the store, which carries out an erasure in the same transaction.
    pub dsr_handler: Option<Arc<dyn DsrHandler>>,
    /// Text appended to `GET /metrics` (Prometheus text format), such as last-delivery gauges.
    pub extra_metrics: Option<Arc<dyn ExtraMetrics>>,
    /// Serve HTTPS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// Threads that run the HTTP connections (default 2). The store's work runs on a separate
    /// pool of up to `max_concurrent_requests` threads.
    pub worker_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)))
    }
}

impl ServerConfig {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        ServerConfig {
            listen,
            api_key: None,
            api_key_env: DEFAULT_API_KEY_ENV.to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_buffered_bytes: 256 << 20,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_connections: 1024,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(35),
            retry_after: Duration::from_secs(5),
            registration_version: env!("CARGO_PKG_VERSION").to_owned(),
            dsr_handler: None,
            extra_metrics: None,
            tls: None,
            worker_threads: 2,
        }
    }

    /// Requires this API key.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Reads the API key from the environment variable `env_var` (and remembers its name for
    /// the error a missing key gives). An unset or empty variable leaves no key.
    #[must_use]
    pub fn with_api_key_from_env(mut self, env_var: &str) -> Self {
        env_var.clone_into(&mut self.api_key_env);
        self.api_key = std::env::var(env_var)
            .ok()
            .filter(|key| !key.is_empty())
            .map(ApiKey::new);
        self
    }

    /// Serves HTTPS with the PEM certificate chain and private key in these files.
    #[must_use]
    pub fn with_tls(mut self, cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
        });
        self
    }

    /// Hands data subject requests to `handler`.
    #[must_use]
    pub fn with_dsr_handler(mut self, handler: Arc<dyn DsrHandler>) -> Self {
        self.dsr_handler = Some(handler);
        self
    }

    /// Appends what `metrics` returns to every `GET /metrics`.
    #[must_use]
    pub fn with_extra_metrics(mut self, metrics: Arc<dyn ExtraMetrics>) -> Self {
        self.extra_metrics = Some(metrics);
        self
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("api_key", &self.api_key)
            .field("api_key_env", &self.api_key_env)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("max_connections", &self.max_connections)
            .field("request_timeout", &self.request_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("retry_after", &self.retry_after)
            .field("registration_version", &self.registration_version)
            .field("dsr_handler", &self.dsr_handler.as_ref().map(|_| "set"))
            .field("extra_metrics", &self.extra_metrics.as_ref().map(|_| "set"))
            .field("tls", &self.tls)
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}

/// The secret API key requests must carry. `Debug` never shows it, and nothing in this
/// crate logs, echoes or returns it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The PEM files of a TLS server: the certificate chain (leaf first) and its private key
/// (PKCS#8, PKCS#1 or SEC1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert_path: PathBuf,
    /// The private key.
    pub key_path: PathBuf,
}

impl TlsFiles {
    /// The files.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        TlsFiles {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
        }
    }
}

/// Fulfils data subject requests (GDPR / CCPA erasure, access, portability).
///
/// Called on a blocking thread, one call per request; the server answers
/// `dsr_processing_response` only after `handle` returned `Ok`, 503 (mParticle retries) after a
/// transient error, 500 after a permanent one. A closure
/// `Fn(&DsrProcessingRequest) -> Result<(), DsrError>` is a handler.
pub trait DsrHandler: Send + Sync {
    /// Fulfils one request (it may arrive more than once: make it idempotent).
    fn handle(&self, request: &DsrProcessingRequest) -> Result<(), DsrError>;
}

impl<F> DsrHandler for F
where
    F: Fn(&DsrProcessingRequest) -> Result<(), DsrError> + Send + Sync,
{
    fn handle(&self, request: &DsrProcessingRequest) -> Result<(), DsrError> {
        self(request)
    }
}

/// Why a [`DsrHandler`] could not fulfil a request, and whether a retry can help. The reason
/// is logged, never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DsrError {
    reason: String,
    transient: bool,
}

impl DsrError {
    /// A failure a retry can fix (the store is busy): answered 503, mParticle retries.
    pub fn transient(reason: impl Into<String>) -> Self {
        DsrError {
            reason: reason.into(),
            transient: true,
        }
    }

    /// A failure that needs someone to act: answered 500.
    pub fn permanent(reason: impl Into<String>) -> Self {
        DsrError {
            reason: reason.into(),
            transient: false,
        }
    }

    /// Whether a retry can succeed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// What went wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Extra Prometheus text appended to `GET /metrics`, rendered at each scrape on a blocking
/// thread. A closure `Fn() -> String` is one.
pub trait ExtraMetrics: Send + Sync {
    /// Whole lines of the Prometheus text format (`# HELP`, `# TYPE`, samples), each ending
    /// in `\n`.
    fn render(&self) -> String;
}

impl<F> ExtraMetrics for F
where
    F: Fn() -> String + Send + Sync,
{
    fn render(&self) -> String {
        self()
    }
}
