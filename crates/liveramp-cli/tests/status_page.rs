//! The operators' status page of `liveramp serve`, against real peers: a real `serve` process
//! that has ingested a stream (posted by a real HTTP client) and delivered a night, read with
//! a real HTTP client and with headless Chromium under the page's Content-Security-Policy;
//! and the admin listener's key rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use liveramp_test_support::browser::Chromium;
use liveramp_test_support::csv::python_csv;
use liveramp_test_support::files::{sha256_file, wait_until};
use liveramp_test_support::net::free_port;
use liveramp_test_support::sender::post_all;
use liveramp_test_support::serve::{self, KEY, Serve, get};
use liveramp_test_support::store_model::Model;
use liveramp_test_support::stream::{StreamOptions, stream};
use liveramp_test_support::{liveramp, text};
use serde_json::Value;

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
const ADMIN_KEY: &str = "admin-test-key-not-secret";
const ADMIN_KEY_ENV: &str = "LIVERAMP_ADMIN_TEST_KEY";

/// `1234567` as `1,234,567`, as the page shows counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A file delivered last night, as read back from the output folder and the saved report.
#[derive(Debug)]
struct Delivered {
    data_type: &'static str,
    name: String,
    rows: u64,
    bytes: u64,
    sha256: String,
}

/// What the page must show for one connected audience.
#[derive(Debug)]
struct Expected {
    id: i64,
    members: u64,
    newest_change: String,
    files: Vec<Delivered>,
    rejected: BTreeMap<String, u64>,
}

/// A `serve` that has ingested a stream and delivered a night; what the page must show.
struct Night {
    _dir: tempfile::TempDir,
    serve: Serve,
    admin: u16,
    today: chrono::NaiveDate,
    expected: Vec<Expected>,
    /// The disconnected audience: (id, members).
    disconnected: (i64, u64),
    /// Membership changes the Firehose endpoint applied (from its /metrics).
    changes: u64,
}

fn metric(metrics: &str, sample: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in {metrics}"))
}

/// Starts `serve`, posts a stream of 600 members' changes for three audiences (two stay
/// connected) and lets the night come (15 s after the start), then waits until the status
/// says both connected audiences were delivered.
fn a_night() -> Night {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = free_port();
    // The night comes once the whole stream is in (checked below), so the page's numbers are
    // those of the whole stream.
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(15);
    let config = serve::config(
        dir.path(),
        port,
        &format!("127.0.0.1:{admin}"),
        None,
        &at.format("%H:%M:%S").to_string(),
    );
    let mut command = liveramp!();
    command.args(["serve", "--config"]).arg(&config);
    let serve = Serve::start(command, port);
    let s = stream(&StreamOptions {
        members: 600,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let sent = post_all(
        &Mutex::new(serve.url()),
        &s.lines,
        4,
        None,
        Duration::from_secs(60),
    );
    assert_eq!(sent.acked.len(), s.lines.len(), "{}", serve.stderr());
    assert!(
        chrono::Utc::now() < at,
        "posting the stream took longer than the 15 s before the night: the machine is too busy"
    );
    let status_url = format!("http://127.0.0.1:{admin}/api/status");
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            let answer = get(&status_url, None);
            serde_json::from_str::<Value>(&answer.body)
                .is_ok_and(|v| v["delivered_last_night"] == 2)
        }),
        "the night was not delivered: {}\n{}",
        get(&status_url, None).body,
        serve.stderr()
    );
    let today = at.date_naive();
    let model = Model::replay(&s.messages);
    let out = dir.path().join("out");
    let mut expected = Vec::new();
    let mut disconnected = None;
    for info in model.audiences() {
        if !info.connected {
            disconnected = Some((info.id, info.members));
            continue;
        }
        let files = [("device", "D"), ("pii", "PII")]
            .into_iter()
            .map(|(data_type, suffix)| {
                let name = format!("3242_{}-{suffix}_{today}.csv", info.id);
                let path = out.join(&name);
                let bytes = fs::read(&path).unwrap();
                Delivered {
                    data_type,
                    rows: python_csv(&bytes).len() as u64 - 1,
                    bytes: bytes.len() as u64,
                    sha256: sha256_file(&path),
                    name,
                }
            })
            .collect();
        // The rejections of the night, as the delivery saved them.
        let report: Value = serde_json::from_slice(
            &fs::read(
                dir.path()
                    .join(format!("state/reports/{today}/{}.json", info.id)),
            )
            .unwrap(),
        )
        .unwrap();
        let mut rejected = BTreeMap::new();
        for file in report["files"].as_array().unwrap() {
            for (code, n) in file["rejected"].as_object().unwrap() {
                *rejected.entry(code.clone()).or_default() += n.as_u64().unwrap();
            }
        }
        assert!(!rejected.is_empty(), "the messy members have rejections");
        expected.push(Expected {
            id: info.id,
            members: info.members,
            newest_change: chrono::DateTime::from_timestamp_millis(info.newest_change_ms.unwrap())
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files,
            rejected,
        });
    }
    assert_eq!(expected.len(), 2);
    let metrics = get(&format!("http://127.0.0.1:{port}/metrics"), None).body;
    let changes = ["add", "delete", "attribute_update"]
        .iter()
        .map(|c| {
            metric(
                &metrics,
                &format!("liveramp_firehose_changes_applied_total{{change=\"{c}\"}}"),
            )
        })
        .sum();
    Night {
        _dir: dir,
        serve,
        admin,
        today,
        expected,
        disconnected: disconnected.unwrap(),
        changes,
    }
}

impl Night {
    fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }
}

/// The audience `id` of `/api/status`.
fn audience(status: &Value, id: i64) -> &Value {
    let id_text = id.to_string();
    status["audiences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"].as_str() == Some(id_text.as_str()))
        .unwrap_or_else(|| panic!("no audience {id} in {status:#}"))
}

#[test]
fn the_status_api_and_pages_show_last_night_exactly() {
    let night = a_night();
    // GET /api/status: the model as JSON.
    let answer = get(&night.admin_url("/api/status"), None);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/json");
    let status: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(status["configuration_name"], "test");
    assert_eq!(status["delivered_last_night"], 2);
    assert_eq!(status["needing_attention"], 0);
    assert_eq!(status["never_delivered"], 1);
    assert_eq!(status["ingest_last_hour"], night.changes);
    assert_eq!(status["ingest_per_minute"].as_array().unwrap().len(), 60);
    assert_eq!(
        status["retention"],
        serde_json::json!({"report_nights": 31, "store_days": 30, "ledger_forever": true})
    );
    assert_eq!(status["audiences"].as_array().unwrap().len(), 3);
    let today = night.today.to_string();
    for e in &night.expected {
        let a = audience(&status, e.id);
        assert_eq!(a["connected"], true);
        assert_eq!(a["members"], e.members);
        assert_eq!(a["newest_change"], e.newest_change.as_str());
        assert_eq!(a["last_delivered"], today.as_str());
        let last = &a["last_night"];
        assert_eq!(last["run_date"], today.as_str());
        assert_eq!(last["outcome"], "delivered");
        assert_eq!(last["error"], Value::Null);
        let files: Vec<Value> = e
            .files
            .iter()
            .map(|f| serde_json::json!([f.data_type, f.rows, "delivered"]))
            .collect();
        assert_eq!(last["files"], Value::Array(files));
        assert_eq!(last["rejected"], serde_json::to_value(&e.rejected).unwrap());
        let nights = a["nights"].as_array().unwrap();
        assert_eq!(nights.len(), 1);
        assert_eq!(nights[0]["members"], e.members);
        assert_eq!(
            nights[0]["delivered_rows"],
            e.files.iter().map(|f| f.rows).sum::<u64>()
        );
        assert_eq!(
            nights[0]["rejected_total"],
            e.rejected.values().sum::<u64>()
        );
        for (shown, f) in nights[0]["files"].as_array().unwrap().iter().zip(&e.files) {
            assert_eq!(shown["data_type"], f.data_type);
            assert_eq!(shown["name"], f.name.as_str());
            assert_eq!(shown["outcome"], "delivered");
            assert_eq!(shown["rows"], f.rows);
            assert_eq!(shown["bytes"], f.bytes);
            assert_eq!(shown["sha256"], f.sha256.as_str());
            assert_eq!(shown["attempts"], 1);
        }
    }
    let (gone, gone_members) = night.disconnected;
    let a = audience(&status, gone);
    assert_eq!(a["connected"], false);
    assert_eq!(a["members"], gone_members);
    assert_eq!(a["last_night"], Value::Null);
    assert_eq!(a["nights"], serde_json::json!([]));

    // GET /: the overview, under the policy, refreshing itself.
    let page = get(&night.admin_url("/"), None);
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["content-security-policy"], CSP);
    assert_eq!(page.headers["cache-control"], "no-store");
    let html = &page.body;
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
    assert!(html.contains(&format!(
        "id=\"ingest\" data-changes=\"{}\">ingest: {} changes in the last hour",
        night.changes,
        thousands(night.changes)
    )));
    assert!(html.contains("3 audiences: <span class=\"delivered\">2 delivered</span> last night"));
    for e in &night.expected {
        let row = row_of(html, e.id);
        assert!(row.contains("data-outcome=\"delivered\""), "{row}");
        assert!(
            row.contains(&format!(
                "<td class=\"num members\">{}</td>",
                thousands(e.members)
            )),
            "{row}"
        );
        for f in &e.files {
            assert!(
                row.contains(&format!(
                    "<span data-file=\"{t}\" data-rows=\"{r}\">{t}: {} </span>",
                    thousands(f.rows),
                    t = f.data_type,
                    r = f.rows
                )),
                "{row}"
            );
        }
        for (code, n) in &e.rejected {
            assert!(
                row.contains(&format!(
                    "<li data-reason=\"{code}\"><code>{code}</code> {}</li>",
                    thousands(*n)
                )),
                "{row}"
            );
        }
    }
    assert!(row_of(html, gone).contains("data-outcome=\"never\""));

    // GET /audiences/ID: the history with each file.
    let e = &night.expected[0];
    let page = get(&night.admin_url(&format!("/audiences/{}", e.id)), None);
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-security-policy"], CSP);
    for f in &e.files {
        assert!(
            page.body.contains(&format!(
                "<tr class=\"file\" data-date=\"{today}\" data-type=\"{}\" data-rows=\"{}\">",
                f.data_type, f.rows
            )),
            "{}",
            page.body
        );
        assert!(page.body.contains(&format!("<code>{}</code>", f.name)));
        assert!(page.body.contains(&format!(
            "<td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">1</td>",
            thousands(f.bytes),
            f.sha256
        )));
    }
    let unknown = get(&night.admin_url("/audiences/99999"), None);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.headers["content-security-policy"], CSP);
    assert!(unknown.body.contains("No audience with this id"));

    // The Firehose port serves no status page.
    for path in ["/", "/api/status", "/audiences/30001"] {
        let answer = get(
            &format!("http://127.0.0.1:{}{path}", night.serve.port),
            None,
        );
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.headers["content-type"], "application/json");
        assert!(!answer.body.contains("<html"), "{}", answer.body);
        assert!(!answer.body.contains("30001"), "{}", answer.body);
    }
}

/// The `<tr>` of audience `id` in the overview's HTML (as served, or as Chromium serialises
/// it).
fn row_of(html: &str, id: i64) -> &str {
    let start = html
        .find(&format!("<tr id=\"audience-{id}\""))
        .unwrap_or_else(|| panic!("no row of audience {id}: {html}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

/// The workspace's `target/` folder.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

#[test]
fn chromium_renders_the_status_page_under_its_policy_without_console_errors() {
    let chromium = Chromium::find();
    // The console check sees a violation of the same policy when there is one.
    let control = chromium.dump_dom(&format!(
        "data:text/html,<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
         <p>control</p><script>document.title='ran'</script>"
    ));
    assert!(
        control
            .console_problems()
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "Chromium logged no violation for an inline script: {}",
        control.stderr
    );
    let night = a_night();
    let dom = chromium.dump_dom(&night.admin_url("/"));
    assert_eq!(
        dom.console_problems(),
        Vec::<String>::new(),
        "{}",
        dom.stderr
    );
    for e in &night.expected {
        let row = row_of(&dom.stdout, e.id);
        assert!(row.contains("data-outcome=\"delivered\""), "{row}");
        assert!(
            row.contains(&format!(
                "<td class=\"num members\">{}</td>",
                thousands(e.members)
            )),
            "{row}"
        );
        for f in &e.files {
            assert!(
                row.contains(&format!(
                    "data-file=\"{}\" data-rows=\"{}\">",
                    f.data_type, f.rows
                )),
                "{row}"
            );
        }
        for (code, n) in &e.rejected {
            assert!(
                row.contains(&format!("<code>{code}</code> {}</li>", thousands(*n))),
                "{row}"
            );
        }
        // The chart's bar of last night.
        assert!(
            dom.stdout.contains(&format!(
                "data-date=\"{}\" data-rows=\"{}\" data-rejected=\"{}\"",
                night.today,
                e.files.iter().map(|f| f.rows).sum::<u64>(),
                e.rejected.values().sum::<u64>()
            )),
            "{}",
            dom.stdout
        );
    }
    assert!(row_of(&dom.stdout, night.disconnected.0).contains("data-outcome=\"never\""));
    let history =
        chromium.dump_dom(&night.admin_url(&format!("/audiences/{}", night.expected[1].id)));
    assert_eq!(
        history.console_problems(),
        Vec::<String>::new(),
        "{}",
        history.stderr
    );
    for f in &night.expected[1].files {
        assert!(history.stdout.contains(&f.sha256), "{}", history.stdout);
    }
    // A screenshot for people to look at (docs/status-page.png is one of these).
    let png = target_dir().join("status-page.png");
    let shot = chromium.screenshot(&night.admin_url("/"), &png, 1280, 900);
    assert_eq!(
        shot.console_problems(),
        Vec::<String>::new(),
        "{}",
        shot.stderr
    );
    let bytes = fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
}

#[test]
fn a_status_page_off_loopback_needs_a_key_and_then_asks_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let quiet = (chrono::Utc::now() + chrono::TimeDelta::hours(12))
        .format("%H:%M:%S")
        .to_string();
    let public = format!("0.0.0.0:{admin}");
    // No key configured: refused before anything listens.
    let config = serve::config(dir.path(), port, &public, None, &quiet);
    let out = liveramp!()
        .args(["serve", "--config"])
        .arg(&config)
        .env("LIVERAMP_FIREHOSE_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: the status page on {public} has no key: {public} is not a loopback \
             address, so [server] admin_api_key_env must name an environment variable holding \
             the key operators will send (or listen on 127.0.0.1)\n"
        )
    );
    // A variable named but not set: refused, naming it.
    let config = serve::config(dir.path(), port, &public, Some(ADMIN_KEY_ENV), &quiet);
    let out = liveramp!()
        .args(["serve", "--config"])
        .arg(&config)
        .env("LIVERAMP_FIREHOSE_API_KEY", KEY)
        .env_remove(ADMIN_KEY_ENV)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "[server] admin_api_key_env names the environment variable {ADMIN_KEY_ENV}, which \
             is not set or empty"
        )),
        "{}",
        text(&out.stderr)
    );
    // With the key: 401 without it, 200 with it as a bearer token or a basic password.
    let mut command = liveramp!();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env(ADMIN_KEY_ENV, ADMIN_KEY);
    let serve = Serve::start(command, port);
    let url = format!("http://127.0.0.1:{admin}");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            serve.stderr().contains("status page on")
        }),
        "{}",
        serve.stderr()
    );
    for path in ["/", "/api/status", "/audiences/30001"] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic b3BlcmF0b3I6d3Jvbmc="), // operator:wrong
            Some(ADMIN_KEY),
        ] {
            let answer = get(&format!("{url}{path}"), auth);
            assert_eq!(answer.status, 401, "{path} {auth:?}");
            assert_eq!(
                answer.headers["www-authenticate"],
                "Basic realm=\"liveramp status\", charset=\"UTF-8\", Bearer realm=\"liveramp status\""
            );
        }
    }
    let bearer = format!("Bearer {ADMIN_KEY}");
    // operator:admin-test-key-not-secret
    let basic = "Basic b3BlcmF0b3I6YWRtaW4tdGVzdC1rZXktbm90LXNlY3JldA==";
    for auth in [bearer.as_str(), basic] {
        let page = get(&format!("{url}/"), Some(auth));
        assert_eq!(page.status, 200, "{auth}");
        assert_eq!(page.headers["content-security-policy"], CSP);
        assert!(page.body.contains("No audience yet"), "{}", page.body);
        let status = get(&format!("{url}/api/status"), Some(auth));
        assert_eq!(status.status, 200);
        let status: Value = serde_json::from_str(&status.body).unwrap();
        assert_eq!(status["audiences"], serde_json::json!([]));
        assert_eq!(get(&format!("{url}/audiences/1"), Some(auth)).status, 404);
    }
    // The Firehose port serves no status page, whatever the key.
    let firehose = get(&format!("http://127.0.0.1:{port}/"), Some(&bearer));
    assert_eq!(firehose.status, 404);
    let log = serve.stderr();
    assert!(
        log.contains(&format!("status page on http://{public}/")),
        "{log}"
    );
    assert!(!log.contains(ADMIN_KEY), "{log}");
}
