//! Every message type, authentication, bad input, limits and the operations endpoints,
//! against the real server on 127.0.0.1 with a real SQLite store, through a real client.
// Counters are whole numbers, exact as floats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use liveramp_audience_store::{
    ApplySummary, AudienceInfo, AudienceStore, Error as StoreError, Message, PurgeSummary,
    Snapshot, SqliteStore, StoreOptions, StoreStats, SubjectOutcome, SubjectRecord, SubjectRequest,
};
use liveramp_firehose_server::{DsrError, DsrProcessingRequest, ServerConfig, start};
use serde_json::json;

const T0: i64 = 1_767_225_600_000;

fn member_line(mpid: &str, email: &str) -> String {
    format!(
        r#"{{"mpid":"{mpid}","user_identities":[{{"type":"email","encoding":"raw","value":"{email}"}}],"device_identities":[],"user_attributes":{{}}}}"#
    )
}

#[test]
fn registration_answers_the_liveramp_registration() {
    let f = Fixture::with(|c| {
        let mut c = c;
        c.registration_version = "9.8.7".to_owned();
        c
    });
    // No key needed: the registration is public.
    let answer = f.post(&registration("c0ffee00-0000-4000-8000-000000000001"));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let json = answer.json();
    assert_envelope(&json, "module_registration_response");
    let expected = serde_json::to_value(liveramp_firehose::ModuleRegistrationResponse::new(
        json["id"].as_str().unwrap(),
        json["timestamp_ms"].as_i64().unwrap(),
        liveramp_firehose::Registration::liveramp("9.8.7"),
    ))
    .unwrap();
    assert_eq!(json, expected);
    assert_eq!(json["version"], "9.8.7");
    assert_eq!(f.stored(), (0, 0));
    // Each response has its own id.
    let again = f
        .post(&registration("c0ffee00-0000-4000-8000-000000000001"))
        .json();
    assert_ne!(again["id"], json["id"]);
}

#[test]
fn subscription_is_applied_then_answered_with_its_settings() {
    let f = Fixture::new();
    let answer = f.post(&subscription(
        "5b0e0000-0000-4000-8000-000000000001",
        T0,
        KEY,
        17095,
        "add",
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    let json = answer.json();
    assert_envelope(&json, "audience_subscription_response");
    assert_eq!(
        json["audience_subscription_settings"],
        json!({"externalName": "HVC", "sendPii": "true"})
    );
    assert_eq!(json.as_object().unwrap().len(), 5, "{json}");
    let info = f.store.audience(17095).unwrap().unwrap();
    assert!(info.connected);
    assert_eq!(info.name.as_deref(), Some("High-value customers"));
    assert_eq!(info.first_connected_ms, Some(T0));

    let answer = f.post(&subscription(
        "5b0e0000-0000-4000-8000-000000000002",
        T0 + 1,
        KEY,
        17095,
        "remove",
    ));
    assert_eq!(answer.status, 200);
    assert!(!f.store.audience(17095).unwrap().unwrap().connected);
}

#[test]
fn membership_change_is_durable_when_the_200_arrives() {
    let f = Fixture::new();
    let body = membership(
        "3e3b0000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[
            profile("1001", "ana@example.org", 17095, "add"),
            profile("1002", "bo@example.org", 17095, "add"),
        ],
    );
    let answer = f.post(&body);
    assert_eq!(answer.status, 200, "{answer:?}");
    let json = answer.json();
    assert_envelope(&json, "audience_membership_change_response");
    assert_eq!(json["suspend_subscription"], false);
    assert_eq!(json.as_object().unwrap().len(), 5, "{json}");
    assert_eq!(
        f.snapshot(17095),
        [
            member_line("1001", "ana@example.org"),
            member_line("1002", "bo@example.org")
        ]
    );

    // A retry of the same message is answered the same and changes nothing.
    assert_eq!(f.post(&body).status, 200);
    let leave = membership(
        "3e3b0000-0000-4000-8000-000000000002",
        T0 + 5,
        Some(KEY),
        &[profile("1001", "ana@example.org", 17095, "delete")],
    );
    assert_eq!(f.post(&leave).status, 200);
    assert_eq!(f.snapshot(17095), [member_line("1002", "bo@example.org")]);
    assert_eq!(f.stored(), (1, 2));
}

#[test]
fn empty_membership_is_a_ping_that_changes_nothing() {
    let f = Fixture::new();
    let answer = f.post(&membership(
        "9e9e0000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[],
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    let json = answer.json();
    assert_envelope(&json, "audience_membership_change_response");
    assert_eq!(json["suspend_subscription"], false);
    assert_eq!(f.stored(), (0, 0));
}

#[test]
fn gzip_bodies_are_accepted() {
    let f = Fixture::new();
    let body = membership(
        "6a1b0000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[profile("2001", "cy@example.org", 17095, "add")],
    );
    let answer = post(
        &f.url("/firehose"),
        &gzip(body.as_bytes()),
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Encoding", "gzip"),
        ],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(f.snapshot(17095), [member_line("2001", "cy@example.org")]);
}

#[test]
fn dsr_erasure_is_recorded_in_the_store_then_answered() {
    let f = Fixture::new();
    let mut ana = profile("3001", "ana@example.org", 17095, "add");
    ana = ana.replace(
        r#""action": "add"}]"#,
        r#""action": "add"}, {"audience_id": 17096, "audience_name": "Lapsed", "action": "add"}]"#,
    );
    let body = membership(
        "d5d50000-0000-4000-8000-0000000000a1",
        T0 - 1_000,
        Some(KEY),
        &[ana, profile("3002", "bo@example.org", 17095, "add")],
    );
    assert_eq!(f.post(&body).status, 200);
    assert_eq!(f.snapshot(17096).len(), 1);

    let answer = f.post(&dsr("d5d50000-0000-4000-8000-000000000001", KEY));
    assert_eq!(answer.status, 200, "{answer:?}");
    let json = answer.json();
    assert_envelope(&json, "dsr_processing_response");
    assert_eq!(json.as_object().unwrap().len(), 4, "{json}");
    // Gone from both audiences; the other member stays.
    assert_eq!(f.snapshot(17095), [member_line("3002", "bo@example.org")]);
    assert_eq!(f.snapshot(17096), Vec::<String>::new());
    let records = f.store.subject_requests().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.id, "a1b2c3d4-0000-4000-8000-000000000001");
    assert_eq!(r.kind.as_str(), "erasure");
    assert_eq!(r.regulation.as_deref(), Some("gdpr"));
    assert_eq!(r.identity_types, ["email"]);
    assert_eq!(
        (r.members_matched, r.members_removed, r.memberships_removed),
        (1, 1, 2)
    );
    assert_eq!(r.status(), "erased");

    // mParticle retries: the same request is answered again and changes nothing.
    let again = f.post(&dsr("d5d50000-0000-4000-8000-000000000002", KEY));
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(f.store.subject_requests().unwrap().len(), 1);

    // An older change for her (sent before the request) does not bring her back.
    let late = membership(
        "d5d50000-0000-4000-8000-0000000000a2",
        T0 - 500,
        Some(KEY),
        &[profile("3001", "ana@example.org", 17095, "add")],
    );
    assert_eq!(f.post(&late).status, 200);
    assert_eq!(f.snapshot(17095), [member_line("3002", "bo@example.org")]);

    let metrics = f.get("/metrics").body;
    assert!(
        metrics.contains("liveramp_firehose_subject_requests_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("liveramp_firehose_members_erased_total 1\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("ana@example.org"), "{metrics}");
}

#[test]
fn dsr_is_answered_after_the_handler_returns() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let handler = move |request: &DsrProcessingRequest| {
        assert_eq!(request.subject_identities["email"].value, "ana@example.org");
        match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(()),
            1 => Err(DsrError::transient("the store is busy")),
            _ => Err(DsrError::permanent("cannot erase ana@example.org")),
        }
    };
    let f = Fixture::with(|c| c.with_dsr_handler(Arc::new(handler)));
    let answer = f.post(&dsr("d5d50000-0000-4000-8000-000000000002", KEY));
    assert_eq!(answer.status, 200, "{answer:?}");
    let json = answer.json();
    assert_envelope(&json, "dsr_processing_response");
    assert_eq!(json.as_object().unwrap().len(), 4, "{json}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let answer = f.post(&dsr("d5d50000-0000-4000-8000-000000000003", KEY));
    answer.assert_error(503, None);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    let answer = f.post(&dsr("d5d50000-0000-4000-8000-000000000004", KEY));
    let error = answer.assert_error(500, None);
    assert!(!answer.body.contains("ana@example.org"), "{error}");
    // Without the key the handler is not called.
    f.post(&dsr("d5d50000-0000-4000-8000-000000000005", "wrong"))
        .assert_error(401, None);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// Authentication.

#[test]
fn requests_without_the_key_are_401_and_change_nothing() {
    let f = Fixture::new();
    let profiles = [profile("3001", "di@example.org", 17095, "add")];
    let url = f.url("/firehose");
    let json_type = ("Content-Type", "application/json");
    let basic = format!("Basic {KEY}");
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        // No key at all.
        (
            membership("a0000000-0000-4000-8000-000000000001", T0, None, &profiles),
            vec![json_type],
        ),
        // A wrong key in the body.
        (
            membership(
                "a0000000-0000-4000-8000-000000000002",
                T0,
                Some("k-wrong"),
                &profiles,
            ),
            vec![json_type],
        ),
        // The right key with something after it, and a prefix of it.
        (
            membership(
                "a0000000-0000-4000-8000-000000000003",
                T0,
                Some(&format!("{KEY}x")),
                &profiles,
            ),
            vec![json_type],
        ),
        (
            membership(
                "a0000000-0000-4000-8000-000000000004",
                T0,
                Some(&KEY[..5]),
                &profiles,
            ),
            vec![json_type],
        ),
        // A wrong bearer token.
        (
            membership("a0000000-0000-4000-8000-000000000005", T0, None, &profiles),
            vec![json_type, ("Authorization", "Bearer k-wrong")],
        ),
        // The key in another scheme.
        (
            membership("a0000000-0000-4000-8000-000000000006", T0, None, &profiles),
            vec![json_type, ("Authorization", &basic)],
        ),
    ];
    for (body, headers) in &cases {
        let answer = post(&url, body.as_bytes(), headers);
        let error = answer.assert_error(401, None);
        assert!(error.contains("API key"), "{error}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        assert!(!answer.body.contains(KEY));
    }
    let subscription = subscription(
        "a0000000-0000-4000-8000-000000000007",
        T0,
        "k-wrong",
        17095,
        "add",
    );
    f.post(&subscription).assert_error(401, None);
    assert_eq!(f.stored(), (0, 0));
    assert_eq!(f.snapshot(17095), Vec::<String>::new());

    // The right key either way.
    let ok = post(
        &url,
        membership("a0000000-0000-4000-8000-000000000008", T0, None, &profiles).as_bytes(),
        &[json_type, ("Authorization", &format!("bearer {KEY}"))],
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    let ok = f.post(&membership(
        "a0000000-0000-4000-8000-000000000009",
        T0 + 1,
        Some(KEY),
        &profiles,
    ));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(!ok.body.contains(KEY));
    assert_eq!(f.snapshot(17095), [member_line("3001", "di@example.org")]);
}

#[test]
fn without_a_key_loopback_accepts_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), StoreOptions::default()).unwrap());
    let server = start(
        &ServerConfig::new("127.0.0.1:0".parse().unwrap()),
        store.clone(),
    )
    .unwrap();
    let url = format!("http://{}/firehose", server.local_addr());
    let body = membership(
        "b0000000-0000-4000-8000-000000000001",
        T0,
        None,
        &[profile("4001", "ed@example.org", 17095, "add")],
    );
    let answer = post(
        &url,
        body.as_bytes(),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(store.audience(17095).unwrap().unwrap().members, 1);
    server.shutdown().unwrap();
}

#[test]
fn without_a_key_a_public_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), StoreOptions::default()).unwrap());
    let mut config = ServerConfig::new("0.0.0.0:0".parse().unwrap());
    config.api_key_env = "MY_FIREHOSE_KEY".to_owned();
    let err = start(&config, store.clone()).unwrap_err();
    assert!(
        matches!(&err, liveramp_firehose_server::Error::NoApiKeyOnPublicAddress { env_var, .. } if env_var == "MY_FIREHOSE_KEY"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("set the environment variable MY_FIREHOSE_KEY"),
        "{text}"
    );
    assert!(text.contains("0.0.0.0:0"), "{text}");
    // IPv6 too.
    let err = start(&ServerConfig::new("[::]:0".parse().unwrap()), store.clone()).unwrap_err();
    assert!(matches!(
        err,
        liveramp_firehose_server::Error::NoApiKeyOnPublicAddress { .. }
    ));
    // With a key it starts.
    let server = start(
        &ServerConfig::new("0.0.0.0:0".parse().unwrap()).with_api_key(KEY),
        store,
    )
    .unwrap();
    assert_ne!(server.local_addr().port(), 0);
    server.shutdown().unwrap();
}

#[test]
fn the_key_never_prints() {
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap()).with_api_key(KEY);
    let debug = format!("{config:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: each answered exactly, and nothing stored.

#[test]
fn bad_messages_are_400_with_the_path() {
    let f = Fixture::new();
    let secret_email = "zed.secret@example.org";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            membership(
                "c0000000-0000-4000-8000-000000000001",
                T0,
                Some(KEY),
                &[
                    profile("1", "a@example.org", 17095, "add"),
                    profile("2", "b@example.org", 17095, "add"),
                    profile("3", "c@example.org", 17095, "add"),
                    profile("4", secret_email, 17095, "remove"),
                ],
            ),
            "user_profiles[3].audiences[0].action",
            r#""remove" is not add, delete or attribute_update"#,
        ),
        (
            r#"{"type": "audience_membership_change_request", "id": "c0000000-0000-4000-8000-000000000002""#
                .to_owned(),
            "",
            "invalid JSON: EOF while parsing an object at line 1 column 91",
        ),
        (
            r#"{"type": "event_processing_request", "id": "x", "timestamp_ms": 1}"#.to_owned(),
            "type",
            r#""event_processing_request" is not module_registration_request, audience_subscription_request, audience_membership_change_request or dsr_processing_request"#,
        ),
        (
            format!(
                r#"{{"type": "audience_membership_change_request", "id": "c0000000-0000-4000-8000-000000000003", {},
                     "user_profiles": []}}"#,
                account(KEY)
            ),
            "timestamp_ms",
            "required field is missing",
        ),
        (
            format!(
                r#"{{"type": "audience_membership_change_request", "id": "c0000000-0000-4000-8000-000000000004",
                    "timestamp_ms": 1, {}, "user_profiles": [{{"user_identities": [{{"type": "email", "value": 42}}],
                    "audiences": []}}]}}"#,
                account(KEY)
            ),
            "user_profiles[0].user_identities[0].value",
            "invalid type: integer (value withheld), expected a string",
        ),
        ("[]".to_owned(), "", "invalid type: array, expected a Firehose message (a JSON object)"),
        (String::new(), "", "invalid JSON: EOF while parsing a value at line 1 column 0"),
    ];
    for (body, path, message) in &cases {
        let answer = f.post(body);
        let error = answer.assert_error(400, Some(path));
        assert_eq!(&error, message, "{body}");
        assert!(!answer.body.contains(secret_email));
    }
    assert_eq!(f.stored(), (0, 0));
}

#[test]
fn a_message_the_store_cannot_take_is_400_with_the_path() {
    let f = Fixture::new();
    let body = membership(
        "c1000000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[
            profile("1", "a@example.org", 17095, "add"),
            profile("2", "b@example.org", 9_223_372_036_854_775_808, "add"),
        ],
    );
    let answer = f.post(&body);
    let error = answer.assert_error(400, Some("user_profiles[1].audiences[0].audience_id"));
    assert!(
        error.contains("larger than the largest audience id"),
        "{error}"
    );
    assert_eq!(f.stored(), (0, 0));
}

#[test]
fn content_type_and_encoding_are_checked() {
    let f = Fixture::new();
    let url = f.url("/firehose");
    let body = membership(
        "c2000000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[profile("1", "a@example.org", 17095, "add")],
    );
    for headers in [
        vec![],
        vec![("Content-Type", "text/plain")],
        vec![("Content-Type", "application/jsonl")],
        vec![("Content-Type", "application/x-www-form-urlencoded")],
    ] {
        let answer = post(&url, body.as_bytes(), &headers);
        let error = answer.assert_error(415, None);
        assert!(error.contains("Content-Type: application/json"), "{error}");
    }
    for encoding in ["br", "deflate", "gzip, gzip", "compress"] {
        let answer = post(
            &url,
            body.as_bytes(),
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", encoding),
            ],
        );
        let error = answer.assert_error(415, None);
        assert!(error.contains("Content-Encoding"), "{error}");
    }
    // Not gzip although it says so.
    let answer = post(
        &url,
        body.as_bytes(),
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
    );
    answer.assert_error(400, None);
    assert_eq!(f.stored(), (0, 0));
    // Upper case and parameters are fine.
    let answer = post(
        &url,
        body.as_bytes(),
        &[("Content-Type", "Application/JSON;charset=UTF-8")],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[test]
fn too_large_bodies_are_413() {
    let f = Fixture::with(|mut c| {
        c.max_body_bytes = 4096;
        c
    });
    let url = f.url("/firehose");
    let profiles: Vec<String> = (0..100)
        .map(|i| profile(&i.to_string(), &format!("m{i}@example.org"), 17095, "add"))
        .collect();
    let body = membership(
        "c3000000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &profiles,
    );
    assert!(body.len() > 4096);
    let answer = post(
        &url,
        body.as_bytes(),
        &[("Content-Type", "application/json")],
    );
    let error = answer.assert_error(413, None);
    assert_eq!(
        error,
        "the body is larger than 4096 bytes (after decompression)"
    );
    // Chunked, without a Content-Length: counted as it arrives.
    let chunked = format!(
        "POST /firehose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let raw_answer = raw(f.addr, chunked.as_bytes(), Duration::from_secs(10)).unwrap();
    assert!(raw_answer.starts_with("HTTP/1.1 413 "), "{raw_answer}");
    // Small when compressed, too large once decompressed.
    let compressed = gzip(body.as_bytes());
    assert!(compressed.len() < 4096);
    let answer = post(
        &url,
        &compressed,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
    );
    answer.assert_error(413, None);
    assert_eq!(f.stored(), (0, 0));
}

#[test]
fn a_gzip_bomb_is_refused_quickly() {
    let f = Fixture::new();
    // 1 GiB of spaces is about 1 MiB of gzip.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        std::io::Write::write_all(&mut encoder, &spaces).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(
        bomb.len() < 2 << 20 && bomb.len() > 512 << 10,
        "{}",
        bomb.len()
    );
    let start = Instant::now();
    let answer = post(
        &f.url("/firehose"),
        &bomb,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
    );
    answer.assert_error(413, None);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // The server is fine afterwards.
    assert_eq!(f.get("/healthz").status, 200);
}

#[test]
fn other_paths_and_methods_are_json_errors() {
    let f = Fixture::new();
    let answer = f.get("/nope?x=1");
    answer.assert_error(404, None);
    let answer = f.get("/firehose");
    answer.assert_error(405, None);
    assert_eq!(answer.header("allow"), Some("POST"));
    let answer = post(
        &f.url("/healthz"),
        b"{}",
        &[("Content-Type", "application/json")],
    );
    answer.assert_error(405, None);
    let answer = post(
        &f.url("/firehose/x"),
        b"{}",
        &[("Content-Type", "application/json")],
    );
    answer.assert_error(404, None);
    let mut put = agent().put(&f.url("/firehose")).send("{}").unwrap();
    Answer::from(&mut put).assert_error(405, None);
}

// ---------------------------------------------------------------------------------------------
// The store failing.

/// A store that fails every apply with the given error (and every read too, when `reads`).
struct Failing(SqliteStore, StoreError, bool);

impl AudienceStore for Failing {
    fn apply(&self, _: &[Message]) -> Result<ApplySummary, StoreError> {
        Err(self.1.clone())
    }
    fn audiences(&self) -> Result<Vec<AudienceInfo>, StoreError> {
        if self.2 {
            return Err(self.1.clone());
        }
        self.0.audiences()
    }
    fn audience(&self, id: i64) -> Result<Option<AudienceInfo>, StoreError> {
        if self.2 {
            return Err(self.1.clone());
        }
        self.0.audience(id)
    }
    fn snapshot(&self, id: i64) -> Result<Box<dyn Snapshot + Send>, StoreError> {
        self.0.snapshot(id)
    }
    fn purge(&self, now_ms: i64) -> Result<PurgeSummary, StoreError> {
        self.0.purge(now_ms)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.0.stats()
    }
    fn record_subject_request(&self, _: &SubjectRequest) -> Result<SubjectOutcome, StoreError> {
        Err(self.1.clone())
    }
    fn subject_requests(&self) -> Result<Vec<SubjectRecord>, StoreError> {
        self.0.subject_requests()
    }
    fn export_subject(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.0.export_subject(id)
    }
}

#[test]
fn store_errors_are_503_when_transient_and_500_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let body = membership(
        "d0000000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[profile("1", "a@example.org", 17095, "add")],
    );
    for (error, status) in [
        (
            StoreError::Busy {
                path: path.clone(),
                detail: "database is locked".into(),
            },
            503,
        ),
        (
            StoreError::DiskFull {
                path: path.clone(),
                detail: "disk full".into(),
            },
            503,
        ),
        (StoreError::ShuttingDown { path: path.clone() }, 503),
        (
            StoreError::Corrupt {
                path: path.clone(),
                detail: "malformed".into(),
            },
            500,
        ),
    ] {
        let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
        let server = start(
            &ServerConfig::new("127.0.0.1:0".parse().unwrap()).with_api_key(KEY),
            Arc::new(Failing(store, error, false)),
        )
        .unwrap();
        let answer = post(
            &format!("http://{}/firehose", server.local_addr()),
            body.as_bytes(),
            &[("Content-Type", "application/json")],
        );
        let text = answer.assert_error(status, None);
        assert!(!text.contains(path.to_str().unwrap()), "{text}");
        if status == 503 {
            assert_eq!(answer.retry_after.as_deref(), Some("5"));
        } else {
            assert_eq!(answer.retry_after, None);
        }
        server.shutdown().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.

#[test]
fn health_readiness_and_metrics() {
    let extra = || {
        "# TYPE liveramp_last_delivery_timestamp_seconds gauge\nliveramp_last_delivery_timestamp_seconds{audience=\"17095\"} 1767225600\n".to_owned()
    };
    let f = Fixture::with(|c| c.with_extra_metrics(Arc::new(extra)));
    let health = f.get("/healthz");
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    assert_eq!(health.content_type.as_deref(), Some("application/json"));
    let ready = f.get("/readyz");
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (200, r#"{"status":"ready"}"#)
    );

    f.post(&subscription(
        "e0000000-0000-4000-8000-000000000001",
        T0,
        KEY,
        17095,
        "add",
    ));
    f.post(&membership(
        "e0000000-0000-4000-8000-000000000002",
        T0 + 1,
        Some(KEY),
        &[
            profile("1", "a@example.org", 17095, "add"),
            profile("2", "b@example.org", 17095, "add"),
            profile("3", "c@example.org", 17096, "add"),
        ],
    ));
    f.post(&membership(
        "e0000000-0000-4000-8000-000000000003",
        T0 + 2,
        Some(KEY),
        &[profile("2", "b@example.org", 17095, "delete")],
    ));
    f.post(&membership(
        "e0000000-0000-4000-8000-000000000003",
        T0 + 2,
        Some(KEY),
        &[],
    ));
    f.post(&membership(
        "e0000000-0000-4000-8000-000000000009",
        T0,
        Some("wrong"),
        &[],
    ));
    f.post("{");

    let metrics = f.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse_metrics(&metrics.body);
    let get = |name: &str| {
        metric(&samples, name).unwrap_or_else(|| panic!("no {name} in\n{}", metrics.body))
    };
    assert_eq!(
        get(
            r#"liveramp_firehose_requests_total{type="audience_subscription_request",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            r#"liveramp_firehose_requests_total{type="audience_membership_change_request",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        get(
            r#"liveramp_firehose_requests_total{type="audience_membership_change_request",status="401"}"#
        ),
        1.0
    );
    assert_eq!(
        get(r#"liveramp_firehose_requests_total{type="none",status="400"}"#),
        1.0
    );
    assert_eq!(
        get(r#"liveramp_firehose_changes_applied_total{change="add"}"#),
        3.0
    );
    assert_eq!(
        get(r#"liveramp_firehose_changes_applied_total{change="delete"}"#),
        1.0
    );
    assert_eq!(
        get(r#"liveramp_firehose_changes_applied_total{change="attribute_update"}"#),
        0.0
    );
    assert_eq!(
        get(r#"liveramp_firehose_changes_applied_total{change="subscription"}"#),
        1.0
    );
    assert_eq!(get("liveramp_firehose_messages_applied_total"), 3.0);
    assert_eq!(get("liveramp_firehose_apply_seconds_count"), 3.0);
    assert_eq!(
        get(r#"liveramp_firehose_apply_seconds_bucket{le="+Inf"}"#),
        3.0
    );
    assert!(get("liveramp_firehose_apply_seconds_sum") > 0.0);
    assert_eq!(get("liveramp_firehose_in_flight_requests"), 0.0);
    assert_eq!(get("liveramp_firehose_store_up"), 1.0);
    // Connected audiences only.
    assert_eq!(get(r#"liveramp_audience_members{audience="17095"}"#), 1.0);
    assert_eq!(
        metric(&samples, r#"liveramp_audience_members{audience="17096"}"#),
        None
    );
    assert_eq!(
        get(r#"liveramp_last_delivery_timestamp_seconds{audience="17095"}"#),
        1_767_225_600.0
    );
    // Buckets are cumulative.
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|(n, _)| n.starts_with("liveramp_firehose_apply_seconds_bucket"))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(!metrics.body.contains(KEY));
}

#[test]
fn too_many_requests_at_once_are_503() {
    // One request at a time; the first stalls while sending its body.
    let f = Fixture::with(|mut c| {
        c.max_concurrent_requests = 1;
        c.request_timeout = Duration::from_secs(2);
        c
    });
    let mut stalled = std::net::TcpStream::connect(f.addr).unwrap();
    std::io::Write::write_all(
        &mut stalled,
        b"POST /firehose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let answer = f.post(&membership(
        "f0000000-0000-4000-8000-000000000001",
        T0,
        Some(KEY),
        &[],
    ));
    answer.assert_error(503, None);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    // The stalled client is cut at the request time limit, with a 408.
    let mut rest = String::new();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = std::io::Read::read_to_string(&mut stalled, &mut rest);
    assert!(rest.starts_with("HTTP/1.1 408 "), "{rest}");
    // Then there is room again.
    let answer = f.post(&membership(
        "f0000000-0000-4000-8000-000000000002",
        T0,
        Some(KEY),
        &[],
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[test]
fn clients_that_send_nothing_are_cut() {
    let f = Fixture::with(|mut c| {
        c.header_read_timeout = Duration::from_millis(500);
        c
    });
    let start = Instant::now();
    // Half a request head, then nothing.
    let answer = raw(
        f.addr,
        b"POST /firehose HTTP/1.1\r\nHost:",
        Duration::from_secs(10),
    );
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        answer
            .as_deref()
            .is_none_or(|a| a.starts_with("HTTP/1.1 408")),
        "{answer:?}"
    );
    // An idle connection is closed too.
    let start = Instant::now();
    let answer = raw(f.addr, b"", Duration::from_secs(10));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        answer
            .as_deref()
            .is_none_or(|a| a.starts_with("HTTP/1.1 408")),
        "{answer:?}"
    );
}

#[test]
fn a_store_that_cannot_be_read_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    let error = StoreError::Io {
        path: path.clone(),
        detail: "disk I/O error".into(),
    };
    let server = start(
        &ServerConfig::new("127.0.0.1:0".parse().unwrap()).with_api_key(KEY),
        Arc::new(Failing(store, error, true)),
    )
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let mut response = agent().get(&format!("{base}/readyz")).call().unwrap();
    let ready = Answer::from(&mut response);
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (503, r#"{"status":"store unavailable"}"#)
    );
    assert_eq!(ready.retry_after.as_deref(), Some("5"));
    // Alive all the same, and the metrics say the store is down.
    let mut response = agent().get(&format!("{base}/healthz")).call().unwrap();
    assert_eq!(Answer::from(&mut response).status, 200);
    let mut response = agent().get(&format!("{base}/metrics")).call().unwrap();
    let metrics = Answer::from(&mut response);
    assert_eq!(metrics.status, 200);
    let samples = parse_metrics(&metrics.body);
    assert_eq!(metric(&samples, "liveramp_firehose_store_up"), Some(0.0));
    server.shutdown().unwrap();
}
