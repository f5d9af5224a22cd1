//! The admin listener against a real client on 127.0.0.1: routes, headers, the key (bearer and
//! basic), errors from the caller's pages, bounds on the address, a graceful stop; and the
//! ingest history of the Firehose endpoint after real posts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use liveramp_firehose_server::Error;
use liveramp_firehose_server::admin::{self, AdminConfig, AdminPages};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The caller's pages: fixed documents, one audience (`17095`), and a failing one (`broken`).
#[derive(Default)]
struct Pages {
    calls: AtomicUsize,
}

impl AdminPages for Pages {
    fn overview(&self) -> Result<String, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok("<!DOCTYPE html><title>all</title><p>all audiences".to_owned())
    }

    fn audience(&self, id: &str) -> Result<Option<String>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match id {
            "17095" => Ok(Some(format!("<!DOCTYPE html><p>audience {id}"))),
            "broken" => Err("the ledger cannot be read: secret-detail".to_owned()),
            _ => Ok(None),
        }
    }

    fn status_json(&self) -> Result<String, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(r#"{"audiences":[]}"#.to_owned())
    }
}

struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn request(method: &str, url: &str, auth: Option<&str>) -> Page {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .build()
        .new_agent();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let mut response = agent.run(req.body(()).unwrap()).unwrap();
    Page {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(url: &str, auth: Option<&str>) -> Page {
    request("GET", url, auth)
}

#[test]
fn routes_answer_with_the_callers_pages_and_the_policy() {
    let pages = Arc::new(Pages::default());
    let config = AdminConfig::new("127.0.0.1:0".parse().unwrap(), CSP);
    let server = admin::bind(&config).unwrap().serve(pages.clone()).unwrap();
    let base = format!("http://{}", server.local_addr());

    let overview = get(&format!("{base}/"), None);
    assert_eq!(overview.status, 200);
    assert_eq!(
        overview.body,
        "<!DOCTYPE html><title>all</title><p>all audiences"
    );
    assert_eq!(
        overview.header("content-type"),
        ["text/html; charset=utf-8"]
    );
    assert_eq!(overview.header("content-security-policy"), [CSP]);
    assert_eq!(overview.header("cache-control"), ["no-store"]);
    assert_eq!(overview.header("x-content-type-options"), ["nosniff"]);
    assert_eq!(overview.header("x-frame-options"), ["DENY"]);
    assert_eq!(overview.header("referrer-policy"), ["no-referrer"]);

    let one = get(&format!("{base}/audiences/17095"), None);
    assert_eq!(
        (one.status, one.body.as_str()),
        (200, "<!DOCTYPE html><p>audience 17095")
    );
    assert_eq!(one.header("content-security-policy"), [CSP]);

    let json = get(&format!("{base}/api/status"), None);
    assert_eq!(
        (json.status, json.body.as_str()),
        (200, r#"{"audiences":[]}"#)
    );
    assert_eq!(json.header("content-type"), ["application/json"]);
    assert_eq!(json.header("content-security-policy"), Vec::<&str>::new());

    // Unknown audiences and paths: HTML 404 under the same policy.
    for path in ["/audiences/99", "/nothing", "/audiences/", "/api/status/x"] {
        let answer = get(&format!("{base}{path}"), None);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.header("content-security-policy"), [CSP], "{path}");
    }
    // The caller's error is logged, not shown.
    let broken = get(&format!("{base}/audiences/broken"), None);
    assert_eq!(broken.status, 500);
    assert!(!broken.body.contains("secret-detail"), "{}", broken.body);
    assert!(
        broken.body.contains("could not be gathered"),
        "{}",
        broken.body
    );

    let head = request("HEAD", &format!("{base}/"), None);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let post = request("POST", &format!("{base}/"), None);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), ["GET, HEAD"]);

    let calls = pages.calls.load(Ordering::SeqCst);
    server.shutdown().unwrap();
    assert_eq!(
        calls, 6,
        "overview twice (GET, HEAD), audience 3 times, JSON once"
    );
}

#[test]
fn a_key_is_needed_as_bearer_or_basic_password() {
    let config = AdminConfig::new("127.0.0.1:0".parse().unwrap(), CSP)
        .with_api_key("k-admin", "LIVERAMP_ADMIN_KEY");
    assert!(!format!("{config:?}").contains("k-admin"));
    let server = admin::bind(&config)
        .unwrap()
        .serve(Arc::new(Pages::default()))
        .unwrap();
    let url = format!("http://{}/api/status", server.local_addr());
    // base64("ops:k-admin"), base64("ops:k-admin2"), base64("k-admin") (no colon).
    for auth in [
        None,
        Some("Bearer k-admi"),
        Some("Bearer k-admin2"),
        Some("k-admin"),
        Some("Basic b3BzOmstYWRtaW4y"),
        Some("Basic ay1hZG1pbg=="),
        Some("Basic !!!!"),
        Some("Digest k-admin"),
    ] {
        let answer = get(&url, auth);
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(
            answer.header("www-authenticate"),
            [
                "Basic realm=\"liveramp status\", charset=\"UTF-8\"",
                "Bearer realm=\"liveramp status\""
            ]
        );
        assert!(!answer.body.contains("k-admin"));
    }
    for auth in [
        "Bearer k-admin",
        "bearer  k-admin ",
        "Basic b3BzOmstYWRtaW4=",
    ] {
        assert_eq!(get(&url, Some(auth)).status, 200, "{auth}");
    }
    server.shutdown().unwrap();
}

#[test]
fn no_key_off_loopback_or_an_unset_key_variable_binds_nothing() {
    let public = AdminConfig::new("0.0.0.0:0".parse().unwrap(), CSP);
    let e = admin::bind(&public).unwrap_err();
    assert!(matches!(e, Error::NoAdminKey { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the status page on 0.0.0.0:0 has no key: 0.0.0.0:0 is not a loopback address, so \
         [server] admin_api_key_env must name an environment variable holding the key \
         operators will send (or listen on 127.0.0.1)"
    );
    let unset = AdminConfig::new("127.0.0.1:0".parse().unwrap(), CSP)
        .with_api_key_from_env(Some("LIVERAMP_ADMIN_KEY_NEVER_SET_IN_TESTS"));
    let e = admin::bind(&unset).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the status page on 127.0.0.1:0 has no key: [server] admin_api_key_env names the \
         environment variable LIVERAMP_ADMIN_KEY_NEVER_SET_IN_TESTS, which is not set or \
         empty; set it to the key operators will send (as a bearer token or HTTP basic \
         password)"
    );
    // With a key, any address.
    let keyed = AdminConfig::new("0.0.0.0:0".parse().unwrap(), CSP).with_api_key("k", "K");
    let listener = admin::bind(&keyed).unwrap();
    assert!(listener.local_addr().unwrap().port() > 0);
}

#[test]
fn the_firehose_endpoint_counts_changes_per_minute_and_serves_no_status_page() {
    let f = Fixture::new();
    let history = f.server.as_ref().unwrap().ingest_history();
    assert_eq!(
        history.last_hour().iter().map(|m| m.changes).sum::<u64>(),
        0
    );
    let adds: Vec<String> = ["m1", "m2", "m3"]
        .iter()
        .map(|m| profile(m, &format!("{m}@example.org"), 17095, "add"))
        .collect();
    let first = membership(
        "c0ffee00-0000-4000-8000-0000000000a1",
        1_767_225_600_000,
        Some(KEY),
        &adds,
    );
    assert_eq!(f.post(&first).status, 200);
    let leave = membership(
        "c0ffee00-0000-4000-8000-0000000000a2",
        1_767_225_601_000,
        Some(KEY),
        &[profile("m1", "m1@example.org", 17095, "delete")],
    );
    assert_eq!(f.post(&leave).status, 200);
    // A retry of the same message changes nothing more.
    assert_eq!(f.post(&leave).status, 200);
    let hour = history.last_hour();
    assert_eq!(hour.len(), 60);
    assert_eq!(hour.iter().map(|m| m.changes).sum::<u64>(), 4);
    // All in the last minute or two (a minute may have turned meanwhile).
    assert_eq!(hour[59].changes + hour[58].changes, 4);
    let root = get(&f.url("/"), None);
    assert_eq!(root.status, 404);
    assert_eq!(root.header("content-type"), ["application/json"]);
}
