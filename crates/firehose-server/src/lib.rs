//! The HTTP endpoint mParticle's Firehose posts audience messages to: authenticated, bounded,
//! answering only once the changes are durable in the audience store.
//!
//! mParticle sends one JSON message per HTTPS `POST` and retries until it gets a `200`
//! (at-least-once delivery). This crate is that endpoint: it reads each message
//! (`liveramp-firehose`), turns it into the store's values (`liveramp-connector`'s
//! [`ingest::store_message`](liveramp_connector::ingest::store_message)), applies it to an
//! [`AudienceStore`](liveramp_audience_store::AudienceStore), and answers with the Firehose
//! response **after** `apply` returned, so an acknowledged change is on disk and an
//! unacknowledged one is absent or whole (the store applies a batch whole or not at all, and
//! each message id once, so mParticle's retries are harmless).
//!
//! The server runs on its own threads (a tokio runtime inside this crate; no async type is
//! in the API): [`start`] takes a [`ServerConfig`] and a store and returns a
//! [`ServerHandle`], whose blocking [`shutdown`](ServerHandle::shutdown) finishes the
//! requests in flight and returns.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use liveramp_audience_store::{AudienceStore, SqliteStore, StoreOptions};
//! use liveramp_firehose_server::{ServerConfig, start};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(SqliteStore::open(dir.path().join("audiences.db"), StoreOptions::default())?);
//! let config = ServerConfig::new("127.0.0.1:0".parse()?).with_api_key("k-123");
//! let server = start(&config, store.clone())?;
//! let url = format!("http://{}/firehose", server.local_addr());
//!
//! let body = r#"{"type": "audience_membership_change_request",
//!   "id": "5c1e2a3f-6b7d-4c8e-9f01-23456789abcd", "timestamp_ms": 1767225600000,
//!   "firehose_version": "3.3.0",
//!   "account": {"account_id": 4242, "account_settings": {"apiKey": "k-123"}},
//!   "user_profiles": [{"mpid": "8472017",
//!     "user_identities": [{"type": "email", "encoding": "raw", "value": "ana@example.org"}],
//!     "audiences": [{"audience_id": 17095, "audience_name": "High-value customers", "action": "add"}]}]}"#;
//! let mut response = ureq::post(&url).content_type("application/json").send(body)?;
//! assert_eq!(response.status(), 200);
//! let answer: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
//! assert_eq!(answer["type"], "audience_membership_change_response");
//! assert_eq!(answer["suspend_subscription"], false);
//!
//! // The 200 came after the change was durable.
//! assert_eq!(store.audience(17095)?.map(|a| a.members), Some(1));
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Endpoints
//!
//! `POST /firehose` takes one message, `Content-Type: application/json` (parameters such as
//! `; charset=utf-8` allowed), optionally `Content-Encoding: gzip`. Every answer is JSON
//! (`Content-Type: application/json`); a Firehose response has a new random UUID v4 `id`,
//! the current `timestamp_ms` and `firehose_version`:
//!
//! | request | answer |
//! |---|---|
//! | `module_registration_request` | 200 `module_registration_response`: [`Registration::liveramp`](liveramp_firehose::Registration::liveramp) with [`ServerConfig::registration_version`] (needs no key: it is public, and mParticle asks before any account has one) |
//! | `audience_subscription_request` | applied, then 200 `audience_subscription_response` echoing `audience_subscription_settings` |
//! | `audience_membership_change_request` | applied, then 200 `audience_membership_change_response`, `"suspend_subscription": false`; an empty `user_profiles` is a verification ping: 200, nothing changes |
//! | `dsr_processing_request` | recorded in the store (an erasure carried out in the same transaction), then 200 `dsr_processing_response` once durable; a repeated request id is answered 200 again and changes nothing; with a [`DsrHandler`] configured, the handler instead of the store |
//! | no API key, or a wrong one | 401 `{"error": …}` with `WWW-Authenticate: Bearer`; nothing stored |
//! | malformed JSON, a message the parser refuses, an unknown `type`, a message the store cannot take | 400 `{"error": …, "path": "user_profiles[3].audiences[0].action"}` (the parser's message and JSON path, never a value); nothing stored |
//! | invalid gzip | 400 `{"error": …}` |
//! | a body over [`ServerConfig::max_body_bytes`], as sent or decompressed | 413 `{"error": …}` (a gzip bomb is inflated only up to the limit) |
//! | no or another `Content-Type`, another `Content-Encoding` | 415 `{"error": …}` |
//! | a body not received within [`ServerConfig::request_timeout`] | 408 `{"error": …}` |
//! | the store cannot commit now (busy, locked, disk full, I/O, shutting down), too many requests at once, the server stopping, the store slower than the request time limit | 503 `{"error": …}` with `Retry-After` |
//! | the store fails permanently, a DSR handler's permanent error | 500 `{"error": …}` |
//!
//! `GET /healthz` answers 200 `{"status":"ok"}` while the process runs; `GET /readyz` 200
//! `{"status":"ready"}` when the store can be read, 503 `{"status":"shutting down"}` (or
//! `"store unavailable"`, `"busy"`) otherwise. `GET /metrics` is the Prometheus text format:
//! `liveramp_firehose_requests_total{type,status}`,
//! `liveramp_firehose_changes_applied_total{change}` (`add`, `delete`, `attribute_update`,
//! `subscription`), messages applied, duplicates, expired messages, profiles and rejected
//! profiles, the `liveramp_firehose_apply_seconds` histogram, requests in flight,
//! `liveramp_firehose_store_up`, `liveramp_audience_members{audience}` of each connected
//! audience (read from the store at each scrape), then [`ServerConfig::extra_metrics`]
//! (`/readyz` and `/metrics` read the store, so they take a request slot too: 503 when none is
//! free). Any
//! other path is 404, another method 405 (with `Allow`), both with a JSON error.
//!
//! # Authentication
//!
//! A request carries the API key as `account.account_settings.apiKey` (as mParticle sends the
//! customer's connection settings) or as `Authorization: Bearer <key>`; either one matching
//! is enough. Keys are compared in constant time (as SHA-256 digests, so not even the length
//! leaks). The key is never logged, echoed nor shown by `Debug`. Without a key the server
//! refuses to start on anything but a loopback address ([`Error::NoApiKeyOnPublicAddress`]),
//! and on loopback accepts every request (with a warning at start).
//!
//! # Limits
//!
//! Bodies are read as they arrive, counted against [`ServerConfig::max_body_bytes`] before and
//! after decompression and against [`ServerConfig::max_buffered_bytes`] for all requests
//! together, so memory stays bounded whatever clients send. At most
//! [`ServerConfig::max_concurrent_requests`] requests are handled at once (more are answered
//! 503, never queued) and [`ServerConfig::max_connections`] connections are open. A request
//! must arrive within [`ServerConfig::request_timeout`], its head within
//! [`ServerConfig::header_read_timeout`] (which also closes idle kept-alive connections and
//! bounds the TLS handshake). Parsing and the store's `apply` run on a pool of blocking
//! threads, so concurrent requests share the store's group commits.
//!
//! # Logs
//!
//! With `tracing`: one debug line per request (method, path, message type, status, duration
//! in milliseconds, profiles), warnings for transient store errors, errors for permanent
//! ones. No line contains a value of a message or the key.
#![deny(missing_docs)]

pub mod admin;
mod app;
mod body;
mod config;
mod error;
mod metrics;
mod server;
mod tls;

pub use config::{
    ApiKey, DEFAULT_API_KEY_ENV, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_REQUESTS, DsrError,
    DsrHandler, ExtraMetrics, ServerConfig, TlsFiles,
};
pub use error::Error;
pub use liveramp_firehose::DsrProcessingRequest;
pub use metrics::{IngestHistory, IngestedMinute};
pub use server::{ServerHandle, Stopper, start, start_with_listener};
