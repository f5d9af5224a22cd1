//! The log: one line per request with what matters, and never the key or a value of a
//! message. (Its own test binary: it installs the process-wide `tracing` subscriber.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use liveramp_audience_store::{SqliteStore, StoreOptions};
use liveramp_firehose_server::{ServerConfig, start};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

#[test]
fn one_line_per_request_without_the_key_or_values() {
    let buffer = Buffer::default();
    // Everything at every level, but the test's own HTTP client (whose trace shows the
    // headers it sends, the bearer token included).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,ureq=off,ureq_proto=off",
        ))
        .with_ansi(false)
        .with_writer(buffer.clone())
        .init();

    let f = Fixture::new();
    let email = "secret.person@example.org";
    let mpid = "88442211";
    let good = membership(
        "1a1a0000-0000-4000-8000-000000000001",
        1_767_225_600_000,
        Some(KEY),
        &[
            profile(mpid, email, 17095, "add"),
            profile("2", "b@example.org", 17095, "add"),
        ],
    );
    assert_eq!(f.post(&good).status, 200);
    let bearer = membership(
        "1a1a0000-0000-4000-8000-000000000002",
        1_767_225_600_000,
        None,
        &[profile(mpid, email, 17095, "delete")],
    );
    let url = f.url("/firehose");
    let ok = post(
        &url,
        bearer.as_bytes(),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {KEY}")),
        ],
    );
    assert_eq!(ok.status, 200);
    // Wrong keys that look like the right one.
    let wrong = membership(
        "1a1a0000-0000-4000-8000-000000000003",
        1_767_225_600_000,
        Some(&format!("{KEY}-not")),
        &[profile(mpid, email, 17095, "add")],
    );
    assert_eq!(f.post(&wrong).status, 401);
    let bad = good.replace(r#""action": "add""#, r#""action": "remove""#);
    assert_eq!(f.post(&bad).status, 400);
    let ping = membership("1a1a0000-0000-4000-8000-000000000004", 1, Some(KEY), &[]);
    assert_eq!(f.post(&ping).status, 200);
    // An erasure of the other person, by raw email: logged by request id and counts only.
    let erasure = dsr("1a1a0000-0000-4000-8000-000000000005", KEY)
        .replace("ana@example.org", "b@example.org");
    assert_eq!(f.post(&erasure).status, 200);
    assert_eq!(f.snapshot(17095), Vec::<String>::new());
    let metrics = f.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(!metrics.body.contains("b@example.org"), "{}", metrics.body);
    assert_eq!(f.get("/no/such/path/secret.person@example.org").status, 404);
    let mut f = f;
    f.shutdown();
    // A server without a key warns.
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), StoreOptions::default()).unwrap());
    start(&ServerConfig::new("127.0.0.1:0".parse().unwrap()), store)
        .unwrap()
        .shutdown()
        .unwrap();

    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(!log.contains(KEY), "{log}");
    assert!(!log.contains(email), "{log}");
    assert!(!log.contains(mpid), "{log}");
    assert!(!log.contains("b@example.org"), "{log}");
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("app: request "))
        .collect();
    assert_eq!(requests.len(), 8, "{log}");
    assert!(requests.iter().all(|l| l.contains(" DEBUG ")), "{log}");
    let first = requests[0];
    for part in [
        "DEBUG",
        "method=\"POST\"",
        "path=\"/firehose\"",
        "type=\"audience_membership_change_request\"",
        "status=200",
        "duration_ms=",
        "profiles=2",
    ] {
        assert!(first.contains(part), "{part} not in {first}");
    }
    assert!(requests[2].contains("status=401"), "{}", requests[2]);
    assert!(requests[3].contains("status=400") && requests[3].contains("type=\"none\""));
    assert!(
        requests[5].contains("type=\"dsr_processing_request\"")
            && requests[5].contains("status=200")
    );
    assert!(requests[7].contains("path=\"other\"") && requests[7].contains("status=404"));
    assert!(
        log.contains("data subject request recorded")
            && log.contains("request=a1b2c3d4-0000-4000-8000-000000000001")
            && log.contains("identity_types=email")
            && log.contains("members_removed=1"),
        "{log}"
    );
    assert!(log.contains("no API key configured"), "{log}");
}
