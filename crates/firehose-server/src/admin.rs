//! The operators' listener: a second, small HTTP server (its own address, its own threads)
//! that serves pages rendered by the caller.
//!
//! This crate knows nothing of what the pages show: the caller implements [`AdminPages`]
//! (the `liveramp` command renders the status page of `liveramp-status` from the ledger, the
//! reports, the store and this server's [`IngestHistory`](crate::IngestHistory)), and this
//! module adds what every answer needs: the routes, authentication, the security headers
//! (the caller's Content-Security-Policy on every HTML answer), bounds, logs and a graceful
//! stop.
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | 200 [`AdminPages::overview`], `text/html` |
//! | `GET /audiences/{id}` | 200 [`AdminPages::audience`], `text/html`; 404 (an HTML page) when it is `None` |
//! | `GET /api/status` | 200 [`AdminPages::status_json`], `application/json` |
//! | no key or a wrong one (when a key is configured) | 401 with `WWW-Authenticate: Bearer` and `Basic` |
//! | a page that cannot be gathered now | 500 (the reason is logged, not shown) |
//! | too many pages being rendered at once | 503 with `Retry-After` |
//! | another path | 404; another method 405 with `Allow` |
//!
//! ```
//! use liveramp_firehose_server::admin::{self, AdminConfig, AdminPages};
//! use std::sync::Arc;
//!
//! struct Pages;
//! impl AdminPages for Pages {
//!     fn overview(&self) -> Result<String, String> { Ok("<!DOCTYPE html><p>all well".into()) }
//!     fn audience(&self, id: &str) -> Result<Option<String>, String> {
//!         Ok((id == "17095").then(|| "<!DOCTYPE html><p>17095".into()))
//!     }
//!     fn status_json(&self) -> Result<String, String> { Ok("{}".into()) }
//! }
//!
//! let config = AdminConfig::new("127.0.0.1:0".parse()?, "default-src 'none'")
//!     .with_api_key("k-admin", "LIVERAMP_ADMIN_KEY");
//! let server = admin::bind(&config)?.serve(Arc::new(Pages))?;
//! let url = format!("http://{}/", server.local_addr());
//! let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
//! assert_eq!(agent.get(&url).call()?.status(), 401);
//! let response = agent.get(&url).header("Authorization", "Bearer k-admin").call()?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-security-policy"], "default-src 'none'");
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::config::ApiKey;
use crate::error::Error;
use crate::server::{self, ServerHandle, Settings, Stopper};

/// Pages rendered at once; more are answered 503.
const RENDERS_AT_ONCE: usize = 4;

/// What the admin listener serves, rendered by the caller on a blocking thread for each
/// request (so it may read files and databases). An `Err` is a reason for the log: the client
/// is answered 500 without it.
pub trait AdminPages: Send + Sync {
    /// `GET /`: a whole HTML document.
    fn overview(&self) -> Result<String, String>;
    /// `GET /audiences/{id}` (`id` percent-decoded): a whole HTML document, `None` for an
    /// unknown id (answered 404).
    fn audience(&self, id: &str) -> Result<Option<String>, String>;
    /// `GET /api/status`: a JSON document.
    fn status_json(&self) -> Result<String, String>;
}

/// Where the admin listener listens and whom it answers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdminConfig {
    /// The address (port 0: any free port).
    pub listen: SocketAddr,
    /// The key a request must carry (`Authorization: Bearer <key>`, or HTTP basic with the
    /// key as the password and any user name). Without one the listener only starts on a
    /// loopback address, and answers everyone there.
    pub api_key: Option<ApiKey>,
    /// The environment variable the key is read from, named in errors (`None`: no variable
    /// is configured).
    pub api_key_env: Option<String>,
    /// The setting that names that variable, named in errors (`[server] admin_api_key_env`
    /// by default).
    pub api_key_setting: String,
    /// The `Content-Security-Policy` header of every HTML answer.
    pub content_security_policy: String,
    /// The most open connections (default 64).
    pub max_connections: usize,
    /// The longest a client may take to send a request's head (default 10 s).
    pub header_read_timeout: Duration,
    /// How long a stop waits for requests in flight (default 10 s).
    pub shutdown_timeout: Duration,
}

impl AdminConfig {
    /// No key, listening on `listen`, HTML answered with `content_security_policy`.
    pub fn new(listen: SocketAddr, content_security_policy: &str) -> Self {
        AdminConfig {
            listen,
            api_key: None,
            api_key_env: None,
            api_key_setting: "[server] admin_api_key_env".to_owned(),
            content_security_policy: content_security_policy.to_owned(),
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
        }
    }

    /// Requires `key`, which came from the environment variable `env_var`.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>, env_var: &str) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self.api_key_env = Some(env_var.to_owned());
        self
    }

    /// Reads the key from the environment variable `env_var`, when one is configured. An
    /// unset or empty variable leaves no key (and [`bind`] then says so).
    #[must_use]
    pub fn with_api_key_from_env(mut self, env_var: Option<&str>) -> Self {
        self.api_key_env = env_var.map(str::to_owned);
        self.api_key = env_var
            .and_then(|v| std::env::var(v).ok())
            .filter(|key| !key.is_empty())
            .map(ApiKey::new);
        self
    }
}

/// The admin listener, bound and checked, not serving yet.
#[derive(Debug)]
pub struct AdminListener {
    listener: std::net::TcpListener,
    config: AdminConfig,
}

/// Checks `config` without binding anything, so that a process can find every configuration
/// problem before it starts anything ([`bind`] checks again).
///
/// Fails with [`Error::NoAdminKey`] when a variable for the key is configured but unset or
/// empty, or when no key is configured and the address is not loopback;
/// [`Error::InvalidConfig`] for a bound out of range.
pub fn check(config: &AdminConfig) -> Result<(), Error> {
    let no_key = config
        .api_key
        .as_ref()
        .is_none_or(|k| k.expose().is_empty());
    if no_key && (config.api_key_env.is_some() || !config.listen.ip().to_canonical().is_loopback())
    {
        return Err(Error::NoAdminKey {
            addr: config.listen,
            setting: config.api_key_setting.clone(),
            env_var: config.api_key_env.clone(),
        });
    }
    if config.max_connections == 0 || config.max_connections > Semaphore::MAX_PERMITS {
        return Err(Error::InvalidConfig {
            setting: "max_connections",
            reason: format!("must be 1 to {}", Semaphore::MAX_PERMITS),
        });
    }
    if config.header_read_timeout.is_zero() {
        return Err(Error::InvalidConfig {
            setting: "header_read_timeout",
            reason: "must be longer than zero".to_owned(),
        });
    }
    Ok(())
}

/// Checks `config` (as [`check`] does) and binds its address, serving nothing yet; fails
/// with [`Error::Bind`] when the address cannot be listened on.
pub fn bind(config: &AdminConfig) -> Result<AdminListener, Error> {
    check(config)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    Ok(AdminListener {
        listener,
        config: config.clone(),
    })
}

impl AdminListener {
    /// The address bound (the actual port when `listen` had port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(|source| Error::Bind {
            addr: self.config.listen,
            source,
        })
    }

    /// Serves `pages` on the listener's own threads until [`AdminHandle::shutdown`].
    pub fn serve(self, pages: Arc<dyn AdminPages>) -> Result<AdminHandle, Error> {
        let config = self.config;
        let shared = Arc::new(AdminShared {
            pages,
            key_digest: config
                .api_key
                .as_ref()
                .map(|k| digest(k.expose().as_bytes())),
            csp: HeaderValue::from_str(&config.content_security_policy).map_err(|_| {
                Error::InvalidConfig {
                    setting: "content_security_policy",
                    reason: "is not a valid header value (a line break or a control character)"
                        .to_owned(),
                }
            })?,
            renders: Arc::new(Semaphore::new(RENDERS_AT_ONCE)),
        });
        let settings = Settings {
            header_read_timeout: config.header_read_timeout,
            shutdown_timeout: config.shutdown_timeout,
            max_connections: config.max_connections,
        };
        let inner = server::run(
            self.listener,
            config.listen,
            router(shared),
            server::Launch {
                what: "status page",
                threads: "liveramp-admin",
                worker_threads: 1,
                max_blocking_threads: RENDERS_AT_ONCE + 2,
                settings,
                on_stop: Box::new(|| {}),
                ingest: crate::IngestHistory::default(),
            },
        )?;
        Ok(AdminHandle { inner })
    }
}

/// The running admin listener.
///
/// Dropping the handle stops it as [`AdminHandle::shutdown`] does.
#[derive(Debug)]
pub struct AdminHandle {
    inner: ServerHandle,
}

impl AdminHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// A [`Stopper`] for another thread (a signal handler).
    pub fn stopper(&self) -> Stopper {
        self.inner.stopper()
    }

    /// Stops it (requests in flight finish) and returns once it has stopped. Must not be
    /// called from inside an async runtime.
    pub fn shutdown(self) -> Result<(), Error> {
        self.inner.shutdown()
    }
}

struct AdminShared {
    pages: Arc<dyn AdminPages>,
    key_digest: Option<[u8; 32]>,
    csp: HeaderValue,
    renders: Arc<Semaphore>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn router(shared: Arc<AdminShared>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/audiences/{id}", get(audience))
        .route("/api/status", get(status_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .with_state(shared)
}

/// The password of an HTTP basic `Authorization` value (`Basic base64(user:password)`).
fn basic_password(value: &[u8]) -> Option<Vec<u8>> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64_decode(value.get(6..)?.trim_ascii())?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// Standard base64 (padding optional); `None` for anything else.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// Whether the request carries the key (always, when none is configured).
fn authorized(shared: &AdminShared, headers: &HeaderMap) -> bool {
    let Some(expected) = &shared.key_digest else {
        return true;
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
    else {
        return false;
    };
    let candidate = if value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer ") {
        value[7..].trim_ascii().to_vec()
    } else if let Some(password) = basic_password(value) {
        password
    } else {
        return false;
    };
    bool::from(digest(&candidate).ct_eq(expected))
}

/// Authenticates and logs every request (method, known path, status, duration; never the
/// key, never an unknown path).
async fn guard(State(shared): State<Arc<AdminShared>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = if request.method() == Method::GET {
        "GET"
    } else if request.method() == Method::HEAD {
        "HEAD"
    } else {
        "other"
    };
    let path = match request.uri().path() {
        "/" => "/",
        "/api/status" => "/api/status",
        p if p.starts_with("/audiences/") => "/audiences/{id}",
        _ => "other",
    };
    let response = if authorized(&shared, request.headers()) {
        next.run(request).await
    } else {
        let mut response = text(
            StatusCode::UNAUTHORIZED,
            "the status page needs its key: send Authorization: Bearer <key>, or log in with \
             the key as the password\n",
        );
        let headers = response.headers_mut();
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"liveramp status\", charset=\"UTF-8\""),
        );
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"liveramp status\""),
        );
        response
    };
    tracing::debug!(
        method,
        path,
        status = response.status().as_u16(),
        duration_ms = %format_args!("{:.3}", start.elapsed().as_secs_f64() * 1e3),
        "status page request"
    );
    response
}

/// Headers every answer carries.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn with_type(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(response)
}

fn text(status: StatusCode, body: &str) -> Response {
    with_type(status, body.to_owned(), "text/plain; charset=utf-8")
}

fn html(shared: &AdminShared, status: StatusCode, body: String) -> Response {
    let mut response = with_type(status, body, "text/html; charset=utf-8");
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, shared.csp.clone());
    response
}

/// A small HTML page for a status other than 200 (under the same policy as the others).
fn html_message(shared: &AdminShared, status: StatusCode, message: &str) -> Response {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    html(
        shared,
        status,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
             </head><body><p>{escaped}</p><p><a href=\"/\">All audiences</a></p></body></html>\n",
            status.as_u16()
        ),
    )
}

enum Kind {
    Html,
    Json,
}

/// Renders with `render` on a blocking thread, bounded by the render slots.
async fn render(
    shared: Arc<AdminShared>,
    kind: Kind,
    render: impl FnOnce(&dyn AdminPages) -> Result<Option<String>, String> + Send + 'static,
) -> Response {
    let Ok(permit) = Arc::clone(&shared.renders).try_acquire_owned() else {
        let mut response = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many status requests at once: retry\n",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    let pages = Arc::clone(&shared.pages);
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        render(pages.as_ref())
    });
    let failed = |shared: &AdminShared| match kind {
        Kind::Html => html_message(
            shared,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The status could not be gathered: see the server log.",
        ),
        Kind::Json => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"the status could not be gathered: see the server log"}"#.to_owned(),
            "application/json",
        ),
    };
    match task.await {
        Ok(Ok(Some(body))) => match kind {
            Kind::Html => html(&shared, StatusCode::OK, body),
            Kind::Json => with_type(StatusCode::OK, body, "application/json"),
        },
        Ok(Ok(None)) => html_message(
            &shared,
            StatusCode::NOT_FOUND,
            "No audience with this id on this connector.",
        ),
        Ok(Err(reason)) => {
            tracing::error!(%reason, "the status page could not be gathered");
            failed(&shared)
        }
        Err(_) => {
            tracing::error!("rendering the status page panicked");
            failed(&shared)
        }
    }
}

async fn overview(State(shared): State<Arc<AdminShared>>) -> Response {
    render(shared, Kind::Html, |pages| pages.overview().map(Some)).await
}

async fn audience(State(shared): State<Arc<AdminShared>>, Path(id): Path<String>) -> Response {
    render(shared, Kind::Html, move |pages| pages.audience(&id)).await
}

async fn status_json(State(shared): State<Arc<AdminShared>>) -> Response {
    render(shared, Kind::Json, |pages| pages.status_json().map(Some)).await
}

async fn not_found(State(shared): State<Arc<AdminShared>>) -> Response {
    html_message(
        &shared,
        StatusCode::NOT_FOUND,
        "Not found: this server answers GET /, GET /audiences/ID and GET /api/status.",
    )
}

async fn method_not_allowed() -> Response {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: use GET\n",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_passwords() {
        // "operator:k-admin", "x:", "no colon"
        assert_eq!(
            basic_password(b"Basic b3BlcmF0b3I6ay1hZG1pbg==").as_deref(),
            Some(&b"k-admin"[..])
        );
        assert_eq!(
            basic_password(b"basic b3BlcmF0b3I6ay1hZG1pbg").as_deref(),
            Some(&b"k-admin"[..])
        );
        assert_eq!(basic_password(b"Basic eDo=").as_deref(), Some(&b""[..]));
        assert_eq!(basic_password(b"Basic bm8gY29sb24="), None);
        assert_eq!(basic_password(b"Basic !!!!"), None);
        assert_eq!(basic_password(b"Bearer k-admin"), None);
        assert_eq!(base64_decode(b"TWFu").as_deref(), Some(&b"Man"[..]));
        assert_eq!(base64_decode(b"TWE=").as_deref(), Some(&b"Ma"[..]));
        assert_eq!(base64_decode(b"TQ==").as_deref(), Some(&b"M"[..]));
        assert_eq!(base64_decode(b"TWFuT"), None);
    }
}
