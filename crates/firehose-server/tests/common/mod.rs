//! What the server's tests share: a server on 127.0.0.1 with a real SQLite store in a temp
//! folder, a real HTTP client (ureq), raw sockets for what a client library will not send,
//! and Firehose messages.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use liveramp_audience_store::{AudienceStore, SqliteStore, StoreOptions};
use liveramp_firehose_server::{ServerConfig, ServerHandle, start};
use serde_json::Value;

pub const KEY: &str = "k-7f3a9c2e-test-key";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub server: Option<ServerHandle>,
    pub addr: SocketAddr,
}

impl Fixture {
    /// A server with [`KEY`] and the default limits.
    pub fn new() -> Fixture {
        Fixture::with(|c| c)
    }

    pub fn with(configure: impl FnOnce(ServerConfig) -> ServerConfig) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(dir.path().join("audiences.db"), StoreOptions::default()).unwrap(),
        );
        let config = configure(ServerConfig::new("127.0.0.1:0".parse().unwrap()).with_api_key(KEY));
        let server = start(&config, store.clone()).unwrap();
        let addr = server.local_addr();
        Fixture {
            dir,
            store,
            server: Some(server),
            addr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /firehose` with `application/json`.
    pub fn post(&self, body: &str) -> Answer {
        post(
            &self.url("/firehose"),
            body.as_bytes(),
            &[("Content-Type", "application/json")],
        )
    }

    pub fn get(&self, path: &str) -> Answer {
        let mut response = agent().get(&self.url(path)).call().unwrap();
        Answer::from(&mut response)
    }

    /// Every audience's snapshot lines.
    pub fn snapshot(&self, audience: i64) -> Vec<String> {
        snapshot(&*self.store, audience)
    }

    /// Counts of what the store holds (audiences, message ids).
    pub fn stored(&self) -> (u64, u64) {
        let stats = self.store.stats().unwrap();
        (stats.audiences, stats.message_ids)
    }

    pub fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().unwrap();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn snapshot(store: &dyn AudienceStore, audience: i64) -> Vec<String> {
    // Not `snapshot` of an unknown audience: SqliteStore then gives its reader connection back
    // to the pool inside the read transaction it began, and later reads see that old state.
    if store.audience(audience).unwrap().is_none() {
        return Vec::new();
    }
    let mut snapshot = store.snapshot(audience).unwrap();
    let mut out = Vec::new();
    while snapshot.read_into(&mut out, 1 << 20).unwrap() > 0 {}
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A client that returns 4xx and 5xx answers instead of errors, and never retries.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// An answer: status, the headers that matter, the body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON error body, checked to be exactly `{"error": ...}` (and `path` if given).
    pub fn assert_error(&self, status: u16, path: Option<&str>) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/json"),
            "{self:?}"
        );
        let json = self.json();
        let object = json.as_object().unwrap();
        let error = object["error"].as_str().unwrap().to_owned();
        assert!(!error.is_empty());
        match path {
            Some(path) => {
                assert_eq!(object["path"], path, "{self:?}");
                assert_eq!(object.len(), 2, "{self:?}");
            }
            None => assert_eq!(object.len(), 1, "{self:?}"),
        }
        error
    }
}

impl From<&mut ureq::http::Response<ureq::Body>> for Answer {
    fn from(response: &mut ureq::http::Response<ureq::Body>) -> Answer {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        Answer {
            status: response.status().as_u16(),
            content_type: header("content-type"),
            retry_after: header("retry-after"),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .unwrap(),
        }
    }
}

/// `POST` with these headers.
pub fn post(url: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    try_post(url, body, headers).unwrap()
}

pub fn try_post(url: &str, body: &[u8], headers: &[(&str, &str)]) -> Result<Answer, ureq::Error> {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body)?;
    Ok(Answer::from(&mut response))
}

/// Sends raw bytes on a new connection and reads the answer until the server closes it (or
/// `timeout`); `None` when the connection failed or nothing came back.
pub fn raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(bytes).ok()?;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    (!out.is_empty()).then(|| String::from_utf8_lossy(&out).into_owned())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Messages.

pub fn account(key: &str) -> String {
    format!(r#""account": {{"account_id": 4242, "account_settings": {{"apiKey": "{key}"}}}}"#)
}

/// A membership change of `profiles` (JSON objects) with the `apiKey` `key` (none: no account).
pub fn membership(id: &str, ts: i64, key: Option<&str>, profiles: &[String]) -> String {
    let account = key.map(|k| format!("{},", account(k))).unwrap_or_default();
    format!(
        r#"{{"type": "audience_membership_change_request", "id": "{id}", "timestamp_ms": {ts},
            "firehose_version": "3.3.0", {account} "user_profiles": [{}]}}"#,
        profiles.join(",")
    )
}

/// A profile with an mpid, an email and one audience entry.
pub fn profile(mpid: &str, email: &str, audience: u64, action: &str) -> String {
    format!(
        r#"{{"mpid": "{mpid}", "user_identities": [{{"type": "email", "encoding": "raw", "value": "{email}"}}],
            "audiences": [{{"audience_id": {audience}, "audience_name": "High-value customers", "action": "{action}"}}]}}"#
    )
}

pub fn subscription(id: &str, ts: i64, key: &str, audience: u64, action: &str) -> String {
    format!(
        r#"{{"type": "audience_subscription_request", "id": "{id}", "timestamp_ms": {ts},
            "firehose_version": "3.3.0", {}, "audience_id": {audience},
            "audience_name": "High-value customers", "action": "{action}",
            "audience_subscription_settings": {{"externalName": "HVC", "sendPii": "true"}}}}"#,
        account(key)
    )
}

pub fn registration(id: &str) -> String {
    format!(
        r#"{{"type": "module_registration_request", "id": "{id}", "timestamp_ms": 1767225600000, "firehose_version": "3.3.0"}}"#
    )
}

pub fn dsr(id: &str, key: &str) -> String {
    format!(
        r#"{{"type": "dsr_processing_request", "id": "{id}", "timestamp_ms": 1767225600000,
            "firehose_version": "3.3.0", {},
            "subject_request_id": "a1b2c3d4-0000-4000-8000-000000000001",
            "subject_request_type": "erasure", "regulation": "gdpr", "submitted_time": 1767225600.5,
            "api_version": "3.0",
            "subject_identities": {{"email": {{"encoding": "raw", "value": "ana@example.org"}}}}}}"#,
        account(key)
    )
}

/// Checks the Firehose response envelope: `type`, a fresh UUID v4 `id`, a current
/// `timestamp_ms`, `firehose_version`.
pub fn assert_envelope(json: &Value, ty: &str) {
    assert_eq!(json["type"], ty, "{json}");
    let id = json["id"].as_str().unwrap();
    assert!(is_uuid_v4(id), "{id}");
    let ts = json["timestamp_ms"].as_i64().unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!((now - 60_000..=now + 1_000).contains(&ts), "{ts} vs {now}");
    assert_eq!(json["firehose_version"], "3.3.0");
}

pub fn is_uuid_v4(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && id.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
            }
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Parses the Prometheus text: (name with labels, value) per sample.
pub fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (
                name.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("bad value {l:?}")),
            )
        })
        .collect()
}

pub fn metric(samples: &[(String, f64)], name: &str) -> Option<f64> {
    samples.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}
