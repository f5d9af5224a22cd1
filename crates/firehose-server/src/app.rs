//! The routes and what each answers: `POST /firehose`, `GET /healthz`, `GET /readyz`,
//! `GET /metrics`, and JSON errors for everything else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use liveramp_audience_store::AudienceStore;
use liveramp_connector::ingest::{store_message, subject_request};
use liveramp_firehose::{
    AudienceMembershipChangeResponse, AudienceSubscriptionResponse, DsrProcessingResponse, Message,
    ModuleRegistrationResponse, Registration, Response as FirehoseResponse, setting_ids,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::body::{self, BodyError, Budget};
use crate::config::{DsrHandler, ExtraMetrics, ServerConfig};
use crate::metrics::Metrics;

/// What every request handler shares.
pub(crate) struct Shared {
    store: Arc<dyn AudienceStore>,
    /// SHA-256 of the API key: compared in constant time, whatever the length of the guess.
    key_digest: Option<[u8; 32]>,
    max_body_bytes: usize,
    request_timeout: Duration,
    retry_after: HeaderValue,
    registration: Registration,
    dsr_handler: Option<Arc<dyn DsrHandler>>,
    extra_metrics: Option<Arc<dyn ExtraMetrics>>,
    pub(crate) metrics: Metrics,
    requests: Arc<Semaphore>,
    budget: Arc<Budget>,
    pub(crate) shutting_down: AtomicBool,
}

impl Shared {
    pub(crate) fn new(config: &ServerConfig, store: Arc<dyn AudienceStore>) -> Shared {
        let retry_after = config.retry_after.as_secs().max(1);
        Shared {
            store,
            key_digest: config
                .api_key
                .as_ref()
                .map(|key| digest(key.expose().as_bytes())),
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
            retry_after: HeaderValue::from(retry_after),
            registration: Registration::liveramp(&config.registration_version),
            dsr_handler: config.dsr_handler.clone(),
            extra_metrics: config.extra_metrics.clone(),
            metrics: Metrics::default(),
            requests: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            budget: Budget::new(config.max_buffered_bytes),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Whether `candidate` is the API key (always, when none is configured).
    fn key_matches(&self, candidate: &[u8]) -> bool {
        match &self.key_digest {
            None => true,
            Some(expected) => bool::from(digest(candidate).ct_eq(expected)),
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The router of every endpoint.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/firehose", post(firehose))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), observe))
        .with_state(shared)
}

/// What a `POST /firehose` was, for the log line and the request counter.
#[derive(Debug, Clone, Copy)]
struct Handled {
    /// The message type, or `none` when it was refused before its type was known.
    message_type: &'static str,
    /// The user profiles of a membership message.
    profiles: usize,
}

const NOT_PARSED: Handled = Handled {
    message_type: "none",
    profiles: 0,
};

/// Counts and logs every request: one debug line each, with no value of the message.
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    // Only the known paths are logged: an unknown one is whatever the client sent.
    let path = match request.uri().path() {
        "/firehose" => "/firehose",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        _ => "other",
    };
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let handled = response.extensions().get::<Handled>().copied();
    if let Some(handled) = handled {
        shared.metrics.request(handled.message_type, status);
    }
    let handled = handled.unwrap_or(NOT_PARSED);
    tracing::debug!(
        method,
        path,
        r#type = handled.message_type,
        status,
        duration_ms = %format_args!("{:.3}", start.elapsed().as_secs_f64() * 1e3),
        profiles = handled.profiles,
        "request"
    );
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"error": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}

/// `400 {"error": "...", "path": "..."}`.
fn bad_message(message: &str, path: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": message, "path": path }).to_string(),
    )
}

/// `503` with `Retry-After`.
fn unavailable(shared: &Shared, message: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, shared.retry_after.clone());
    response
}

fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn answer(response: impl Into<FirehoseResponse>) -> Response {
    json_response(StatusCode::OK, response.into().to_json())
}

/// A new random UUID (version 4), the ID of a response.
fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------------------
// POST /firehose

/// Keeps `liveramp_firehose_in_flight_requests` right however the handler ends.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.metrics.in_flight.fetch_add(1, Relaxed);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Relaxed);
    }
}

async fn firehose(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let in_flight = InFlight::new(&shared);
    let (mut response, handled) = handle(&shared, request).await;
    drop(in_flight);
    response.extensions_mut().insert(handled);
    response
}

/// How the body of a request is encoded.
fn gzip_encoded(headers: &HeaderMap) -> Option<bool> {
    let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return Some(false);
    };
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
        Some(true)
    } else if value.eq_ignore_ascii_case("identity") {
        Some(false)
    } else {
        None
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The declared `Content-Length`, if any and valid.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Some(true)` for `Authorization: Bearer <the key>`, `Some(false)` for another bearer token,
/// `None` without a bearer token.
fn bearer_matches(shared: &Shared, headers: &HeaderMap) -> Option<bool> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value.get(7..)?.trim_ascii();
    Some(shared.key_matches(token))
}

/// How much of a refused body is read (and dropped) when its `Content-Length` is already too
/// large: enough for the client to read the answer instead of a reset connection.
const DRAIN_DECLARED_TOO_LARGE: usize = 64 << 10;

async fn handle(shared: &Arc<Shared>, request: Request) -> (Response, Handled) {
    let deadline = Instant::now() + shared.request_timeout;
    let (parts, mut body) = request.into_parts();
    let limit = shared.max_body_bytes;
    let declared_too_large = content_length(&parts.headers).is_some_and(|n| n > limit as u64);
    // A refused request's body is read and dropped (up to a limit), so that a client still
    // sending reads the answer rather than a connection reset.
    let refuse = async |mut body: Body, response: Response| {
        let drain = if declared_too_large {
            DRAIN_DECLARED_TOO_LARGE
        } else {
            limit
        };
        body::drain(&mut body, drain, deadline).await;
        (response, NOT_PARSED)
    };
    if shared.shutting_down.load(Relaxed) {
        let response = unavailable(shared, "the server is shutting down: retry");
        return refuse(body, close(response)).await;
    }
    let Ok(permit) = Arc::clone(&shared.requests).try_acquire_owned() else {
        let response = unavailable(shared, "too many requests at once: retry");
        return refuse(body, response).await;
    };
    if !is_json(&parts.headers) {
        let response = error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be a Firehose message in JSON: send Content-Type: application/json",
        );
        return refuse(body, response).await;
    }
    let Some(gzip) = gzip_encoded(&parts.headers) else {
        let response = error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Encoding: send the body as it is or with Content-Encoding: gzip",
        );
        return refuse(body, response).await;
    };
    let too_large = || {
        close(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {limit} bytes (after decompression)"),
        ))
    };
    if declared_too_large {
        return refuse(body, too_large()).await;
    }
    let bearer = bearer_matches(shared, &parts.headers);
    let (bytes, held) = match body::read(&mut body, gzip, limit, deadline, &shared.budget).await {
        Ok(read) => read,
        Err(e) => {
            let response = match e {
                BodyError::TooLarge => too_large(),
                BodyError::Busy => unavailable(shared, "too many request bytes at once: retry"),
                BodyError::BadGzip => error(
                    StatusCode::BAD_REQUEST,
                    "the body is not valid gzip (Content-Encoding: gzip)",
                ),
                BodyError::TimedOut => close(error(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request did not arrive within {} s",
                        shared.request_timeout.as_secs_f64()
                    ),
                )),
                BodyError::Broken => close(error(
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                )),
            };
            return match e {
                BodyError::TimedOut | BodyError::Broken => (response, NOT_PARSED),
                _ => refuse(body, response).await,
            };
        }
    };
    drop(body);
    let worker = Arc::clone(shared);
    let task = tokio::task::spawn_blocking(move || {
        let answer = process(&worker, &bytes, bearer);
        drop((held, permit));
        answer
    });
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => {
            tracing::error!("a Firehose request's handler panicked");
            (
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error: see the server log",
                ),
                NOT_PARSED,
            )
        }
        Err(_) => {
            tracing::warn!(
                "the store did not answer within the request time limit ({} s): answered 503",
                shared.request_timeout.as_secs_f64()
            );
            (
                unavailable(shared, "the store did not answer in time: retry"),
                NOT_PARSED,
            )
        }
    }
}

/// Whether the message may be acted on: the bearer token or the message's `apiKey` setting
/// is the key (or no key is configured).
fn authorized(shared: &Shared, message: &Message, bearer: Option<bool>) -> bool {
    if shared.key_digest.is_none() || bearer == Some(true) {
        return true;
    }
    message
        .account()
        .and_then(|account| account.setting(setting_ids::API_KEY))
        .is_some_and(|key| shared.key_matches(key.as_bytes()))
}

/// Reads, authenticates and carries out one message, on a blocking thread.
fn process(shared: &Shared, bytes: &[u8], bearer: Option<bool>) -> (Response, Handled) {
    let message = match Message::from_json(bytes) {
        Ok(message) => message,
        Err(e) => return (bad_message(&e.message(), e.path()), NOT_PARSED),
    };
    let mut handled = Handled {
        message_type: message.message_type().as_str(),
        profiles: 0,
    };
    if let Message::AudienceMembershipChange(m) = &message {
        handled.profiles = m.user_profiles.len();
    }
    // The registration is public (mParticle asks for it before any account has a key).
    let public = matches!(message, Message::ModuleRegistration(_));
    if !public && !authorized(shared, &message, bearer) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key: send the key as account.account_settings.apiKey or as \
             Authorization: Bearer",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return (response, handled);
    }
    let response = match &message {
        Message::ModuleRegistration(_) => answer(ModuleRegistrationResponse::new(
            new_id(),
            now_ms(),
            shared.registration.clone(),
        )),
        Message::AudienceSubscription(s) => match apply(shared, &message) {
            Ok(()) => {
                let mut response = AudienceSubscriptionResponse::new(new_id(), now_ms());
                response
                    .audience_subscription_settings
                    .clone_from(&s.audience_subscription_settings);
                answer(response)
            }
            Err(response) => *response,
        },
        Message::AudienceMembershipChange(_) => match apply(shared, &message) {
            Ok(()) => answer(AudienceMembershipChangeResponse::new(new_id(), now_ms())),
            Err(response) => *response,
        },
        Message::DsrProcessing(dsr) => {
            let result = match &shared.dsr_handler {
                Some(dsr_handler) => dsr_handler.handle(dsr),
                None => record_subject_request(shared, dsr),
            };
            match result {
                Ok(()) => answer(DsrProcessingResponse::new(new_id(), now_ms())),
                Err(e) if e.is_transient() => {
                    tracing::warn!(
                        request = %dsr.subject_request_id,
                        error = %e,
                        "a data subject request failed; answered 503"
                    );
                    unavailable(
                        shared,
                        "the data subject request cannot be processed now: retry",
                    )
                }
                Err(e) => {
                    tracing::error!(
                        request = %dsr.subject_request_id,
                        error = %e,
                        "a data subject request failed"
                    );
                    error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the data subject request failed: see the server log",
                    )
                }
            }
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "this message type is not handled by this server",
        ),
    };
    (response, handled)
}

/// Records a data subject request in the store (an erasure is carried out in the same
/// transaction); `Ok` once durable. Logs the request id, type and counts, never an identity.
fn record_subject_request(
    shared: &Shared,
    dsr: &liveramp_firehose::DsrProcessingRequest,
) -> Result<(), crate::DsrError> {
    let request = subject_request(dsr);
    match shared.store.record_subject_request(&request) {
        Ok(outcome) => {
            let r = &outcome.record;
            tracing::info!(
                request = %r.id,
                kind = r.kind.as_str(),
                regulation = r.regulation.as_deref().unwrap_or("none"),
                identity_types = %r.identity_types.join(","),
                members_removed = r.members_removed,
                memberships_removed = r.memberships_removed,
                repeated = outcome.duplicate,
                "data subject request recorded"
            );
            shared.metrics.subject_request(&outcome);
            Ok(())
        }
        Err(e) if e.is_transient() => Err(crate::DsrError::transient(e.to_string())),
        Err(e) => Err(crate::DsrError::permanent(e.to_string())),
    }
}

/// Converts the message for the store and applies it; `Ok` once it is durable (or when there
/// is nothing to apply: a verification ping).
fn apply(shared: &Shared, message: &Message) -> Result<(), Box<Response>> {
    let converted = match store_message(message) {
        Ok(Some(converted)) => converted,
        Ok(None) => return Ok(()),
        Err(unusable) => return Err(Box::new(bad_message(&unusable.reason, &unusable.path))),
    };
    let start = std::time::Instant::now();
    let result = shared.store.apply(std::slice::from_ref(&converted));
    shared.metrics.apply_time(start.elapsed());
    match result {
        Ok(summary) => {
            shared.metrics.applied(&summary);
            Ok(())
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %e, "the store could not commit a Firehose message; answered 503");
            Err(Box::new(unavailable(
                shared,
                "the store cannot commit right now: retry",
            )))
        }
        Err(e) => {
            tracing::error!(error = %e, "the store refused a Firehose message; answered 500");
            Err(Box::new(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store failed: see the server log",
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.

async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let not_ready = |status: &str| {
        let mut response = json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": status }).to_string(),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, shared.retry_after.clone());
        response
    };
    if shared.shutting_down.load(Relaxed) {
        return not_ready("shutting down");
    }
    let Ok(permit) = Arc::clone(&shared.requests).try_acquire_owned() else {
        return not_ready("busy");
    };
    let store = Arc::clone(&shared.store);
    let check = tokio::task::spawn_blocking(move || {
        let result = store.audience(0);
        drop(permit);
        result
    });
    match check.await {
        Ok(Ok(_)) => json_response(StatusCode::OK, r#"{"status":"ready"}"#.to_owned()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check: the store cannot be read");
            not_ready("store unavailable")
        }
        Err(_) => not_ready("store unavailable"),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    // A scrape reads the store on a blocking thread: it takes a request slot like a message.
    let Ok(permit) = Arc::clone(&shared.requests).try_acquire_owned() else {
        return unavailable(&shared, "too many requests at once: retry");
    };
    let worker = Arc::clone(&shared);
    let render = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let audiences = match worker.store.audiences() {
            Ok(audiences) => Some(audiences),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store cannot be read");
                None
            }
        };
        let mut text = worker.metrics.render(audiences.as_deref());
        if let Some(extra) = &worker.extra_metrics {
            text.push_str(&extra.render());
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    });
    match render.await {
        Ok(text) => {
            let mut response = Response::new(Body::from(text));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: see the server log",
        ),
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not found: this server answers POST /firehose, GET /healthz, GET /readyz and GET /metrics",
    )
}

async fn method_not_allowed(request: Request) -> Response {
    let allowed = if request.uri().path() == "/firehose" {
        "POST"
    } else {
        "GET, HEAD"
    };
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed here: use {allowed}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        let b = id.as_bytes();
        assert_eq!(
            (b[8], b[13], b[14], b[18], b[23]),
            (b'-', b'-', b'4', b'-', b'-')
        );
        assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(new_id(), id);
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        assert_eq!(gzip_encoded(&h), Some(false));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jsonx"),
        );
        assert!(!is_json(&h));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        assert_eq!(gzip_encoded(&h), Some(true));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(gzip_encoded(&h), None);
        h.append(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(gzip_encoded(&h), None);
    }
}
