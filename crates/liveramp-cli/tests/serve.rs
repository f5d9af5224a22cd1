//! `liveramp serve` as a real process: mParticle's stream posted by concurrent senders with
//! retries, a `kill -9` in the middle, a SIGTERM with requests and a delivery in flight, and
//! a whole night inside the process; the store always ends as the reference model says, and
//! each night's files appear once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use liveramp_test_support::config::TestConfig;
use liveramp_test_support::files::wait_until;
use liveramp_test_support::net::free_port;
use liveramp_test_support::process::signal;
use liveramp_test_support::sender::post_all;
use liveramp_test_support::serve::{self, KEY, Serve};
use liveramp_test_support::store_model::Model;
use liveramp_test_support::stream::{StreamOptions, stream};
use liveramp_test_support::{liveramp, text};

/// Starts `liveramp serve --config CONFIG` on `port` and waits until it answers.
fn start(config: &Path, port: u16) -> Serve {
    let mut command = liveramp!();
    command.args(["serve", "--config"]).arg(config);
    Serve::start(command, port)
}

/// A store configuration serving on `port` (the status page on a free port), the schedule at
/// `time` in UTC.
fn config(dir: &Path, port: u16, time: &str) -> PathBuf {
    let admin = format!("127.0.0.1:{}", free_port());
    serve::config(dir, port, &admin, None, time)
}

/// What `liveramp members` prints for every audience of the model, against the model.
fn assert_store_is(config: &Path, model: &Model) {
    serve::assert_members_are(|| liveramp!(), config, model);
}

#[test]
fn kill_9_in_the_middle_of_a_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config(dir.path(), port, &serve::quiet_time());
    let stream = stream(&StreamOptions {
        members: 6_000,
        profiles_per_message: 10,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let model = Model::replay(&stream.messages);
    let serve = Mutex::new(Some(start(&config, port)));
    let url = Mutex::new(serve.lock().unwrap().as_ref().unwrap().url());
    let sent = std::thread::scope(|s| {
        let posting = s.spawn(|| post_all(&url, &stream.lines, 6, None, Duration::from_secs(120)));
        // Kill it once some messages are in (most still to come), then start it again on the
        // same port.
        assert!(wait_until(
            Duration::from_secs(60),
            Duration::from_millis(2),
            || serve::acknowledged_changes(port) >= 30
        ));
        let mut guard = serve.lock().unwrap();
        let mut victim = guard.take().unwrap();
        signal(victim.child.id(), "KILL");
        let _ = victim.child.wait();
        drop(victim);
        std::thread::sleep(Duration::from_millis(300));
        *guard = Some(start(&config, port));
        drop(guard);
        posting.join().unwrap()
    });
    assert!(sent.refused.is_empty(), "{:?}", sent.refused);
    assert_eq!(
        sent.acked.len(),
        stream.lines.len(),
        "every message acknowledged in the end"
    );
    assert!(
        sent.broken > 0,
        "the kill happened while messages were being posted"
    );
    let serve = serve.lock().unwrap().take().unwrap();
    signal(serve.child.id(), "TERM");
    drop(serve);
    assert_store_is(&config, &model);
}

#[test]
fn sigterm_with_requests_and_a_delivery_in_flight_exits_0_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The night is now: a catch-up delivery of a large audience starts at once.
    let config = config(dir.path(), port, "00:00:00");
    let big = stream(&StreamOptions {
        members: 40_000,
        profiles_per_message: 500,
        repeats_percent: 0,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(
                child.stdin.as_mut().unwrap(),
                (big.lines.join("\n") + "\n").as_bytes(),
            )?;
            drop(child.stdin.take());
            child.wait()
        })
        .unwrap();
    assert!(out.success());
    let mut serve = start(&config, port);
    let more = stream(&StreamOptions {
        seed: 7,
        members: 2_000,
        profiles_per_message: 5,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let url = Mutex::new(serve.url());
    let sent = std::thread::scope(|s| {
        let posting = s.spawn(|| post_all(&url, &more.lines, 4, None, Duration::from_secs(8)));
        // Once the delivery has started and requests are being acknowledged, stop the
        // process (so that some requests are committed and others are in flight).
        let metrics = format!("http://127.0.0.1:{}/metrics", serve.port);
        let acknowledged = || {
            liveramp_test_support::serve::get(&metrics, None)
                .body
                .lines()
                .filter(|l| {
                    l.starts_with("liveramp_firehose_requests_total{")
                        && l.contains("audience_membership_change_request")
                        && l.contains("status=\"200\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        };
        assert!(
            wait_until(Duration::from_secs(20), Duration::from_millis(10), || {
                serve.stderr().contains("delivering") && acknowledged() >= 3
            }),
            "{}",
            serve.stderr()
        );
        signal(serve.child.id(), "TERM");
        let status = serve.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{}", serve.stderr());
        posting.join().unwrap()
    });
    assert!(
        serve.stderr().contains("liveramp serve: stopped"),
        "{}",
        serve.stderr()
    );
    // Nothing acknowledged is lost: the acknowledged messages of the second stream are in the
    // store (each is applied whole: replaying exactly those gives the same members).
    let acked: Vec<_> = more
        .messages
        .iter()
        .filter(|m| {
            sent.acked
                .iter()
                .any(|&i| more.lines[i].contains(&format!("\"id\":\"{}\"", m.id)))
        })
        .cloned()
        .collect();
    assert!(
        !acked.is_empty(),
        "{:?} broken {}\n{}",
        sent.statuses,
        sent.broken,
        serve.stderr()
    );
    let mut all = big.messages.clone();
    all.extend(acked);
    assert_store_is(&config, &Model::replay(&all));
    // The ledger is consistent: every attempt has an outcome, and nothing half-written.
    let (entries, torn) = liveramp_test_support::files::ledger_entries(&dir.path().join("state"));
    assert!(!torn);
    let started = entries.iter().filter(|e| e["event"] == "started").count();
    let finished = entries.iter().filter(|e| e["event"] != "started").count();
    assert_eq!(started, finished, "{entries:#?}");
    let left: Vec<String> = fs::read_dir(dir.path().join("out"))
        .map(|e| {
            e.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.iter().all(|name| !name.starts_with('.')),
        "no temporary file left: {left:?}"
    );
}

#[test]
fn a_night_inside_serve_delivers_each_connected_audience_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(8);
    let config = config(dir.path(), port, &at.format("%H:%M:%S").to_string());
    let serve = start(&config, port);
    let s = stream(&StreamOptions {
        members: 600,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let url = Mutex::new(serve.url());
    let sent = post_all(&url, &s.lines, 4, None, Duration::from_secs(60));
    assert_eq!(sent.acked.len(), s.lines.len());
    // The night of `at` comes; then a little more, to see nothing is sent again.
    let today = at.date_naive();
    let expected: BTreeSet<String> = ["30001", "30002"]
        .iter()
        .flat_map(|a| {
            ["D", "PII"]
                .iter()
                .map(move |t| format!("3242_{a}-{t}_{today}.csv"))
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(40), Duration::from_millis(100), || {
            expected.is_subset(&serve::visible_files_in(&dir.path().join("out")))
        }),
        "{:?}\n{}",
        serve::visible_files_in(&dir.path().join("out")),
        serve.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    let files = serve::visible_files_in(&dir.path().join("out"));
    assert!(
        files.iter().all(|f| !f.contains("31001")),
        "the disconnected audience gets no file: {files:?}"
    );
    let (entries, _) = liveramp_test_support::files::ledger_entries(&dir.path().join("state"));
    for name in &expected {
        let delivered = entries
            .iter()
            .filter(|e| e["event"] == "delivered")
            .filter(|e| {
                e["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"] == name.as_str())
            })
            .count();
        assert_eq!(delivered, 1, "{name} delivered once");
    }
    // /metrics shows the deliveries and the store.
    let metrics = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let model = Model::replay(&s.messages);
    let members = model.audiences()[0].members;
    assert!(
        metrics.contains(&format!(
            "liveramp_audience_members{{audience=\"30001\"}} {members}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("liveramp_last_night_delivered{audience=\"30001\",data_type=\"pii\"} 1"),
        "{metrics}"
    );
    let started = Instant::now();
    drop(serve);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn serve_needs_a_store_and_a_key_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let plain = TestConfig::directory("out").write(dir.path());
    let out = liveramp!()
        .args(["serve", "--config"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no [store]"),
        "{}",
        text(&out.stderr)
    );
    let other = tempfile::tempdir().unwrap();
    let public = TestConfig::directory("out")
        .with_store()
        .section("[server]\nlisten = \"0.0.0.0:0\"")
        .write(other.path());
    let out = liveramp!()
        .args(["serve", "--config"])
        .arg(&public)
        .env_remove("LIVERAMP_FIREHOSE_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("LIVERAMP_FIREHOSE_API_KEY"),
        "{}",
        text(&out.stderr)
    );
}

/// The mpids of an audience's members, from `liveramp members`.
fn mpids_of(config: &Path, audience: u64) -> BTreeSet<String> {
    let out = liveramp!()
        .args(["members", "--config"])
        .arg(config)
        .args(["--audience", &audience.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["mpid"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The recorded data subject requests, from `liveramp dsr list --json`:
/// `id -> (members removed, memberships removed)`.
fn recorded(config: &Path) -> std::collections::BTreeMap<String, (u64, u64)> {
    let out = liveramp!()
        .args(["dsr", "list", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                (
                    r["members_removed"].as_u64().unwrap(),
                    r["memberships_removed"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn kill_9_while_erasures_are_posted_leaves_each_whole_or_unanswered() {
    const PEOPLE: u64 = 1_500;
    const ERASED: u64 = 300;
    const AUDIENCES: [u64; 3] = [30001, 30002, 30003];
    let t0: i64 = 1_795_737_600_000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config(dir.path(), port, &serve::quiet_time());

    // Everyone in three audiences, through `liveramp ingest`.
    let mut lines: Vec<String> = AUDIENCES
        .iter()
        .map(|a| {
            format!(
                r#"{{"type":"audience_subscription_request","id":"sub-{a}","timestamp_ms":{t0},"audience_id":{a},"audience_name":"A{a}","action":"add"}}"#
            )
        })
        .collect();
    let audiences: Vec<String> = AUDIENCES
        .iter()
        .map(|a| format!(r#"{{"audience_id":{a},"action":"add"}}"#))
        .collect();
    for chunk in (1..=PEOPLE).collect::<Vec<_>>().chunks(100) {
        let profiles: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    r#"{{"mpid":"{i}","user_identities":[{{"type":"email","encoding":"raw","value":"person{i}@example.org"}}],"device_identities":[{{"type":"ios_advertising_id","encoding":"raw","value":"00000000-0000-4000-8000-{i:012}"}}],"audiences":[{}]}}"#,
                    audiences.join(",")
                )
            })
            .collect();
        lines.push(format!(
            r#"{{"type":"audience_membership_change_request","id":"m-{}","timestamp_ms":{t0},"user_profiles":[{}]}}"#,
            chunk[0],
            profiles.join(",")
        ));
    }
    let input = dir.path().join("people.ndjson");
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // One erasure per person 1..=ERASED, by email.
    let request_id = |i: u64| format!("e0000000-0000-4000-8000-{i:012}");
    let erasures: Vec<String> = (1..=ERASED)
        .map(|i| {
            format!(
                r#"{{"type":"dsr_processing_request","id":"dsr-msg-{i}","timestamp_ms":{},"subject_request_id":"{}","subject_request_type":"erasure","regulation":"gdpr","subject_identities":{{"email":{{"encoding":"raw","value":"Person{i}@Example.org"}}}}}}"#,
                t0 + 60_000,
                request_id(i)
            )
        })
        .collect();

    // Posted once each by four senders; the server is killed once 20 are answered.
    let serve = start(&config, port);
    let url = serve.url();
    let answered: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
    let unanswered: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .new_agent();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(line) = erasures.get(i) else { break };
                    match agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .header("Authorization", &format!("Bearer {KEY}"))
                        .send(line.as_bytes())
                    {
                        Ok(r) if r.status().as_u16() == 200 => {
                            answered.lock().unwrap().insert(i);
                        }
                        Ok(r) => panic!("line {i}: {}", r.status()),
                        Err(_) => {
                            unanswered.lock().unwrap().insert(i);
                        }
                    }
                }
            });
        }
        assert!(
            wait_until(Duration::from_secs(60), Duration::from_millis(1), || {
                answered.lock().unwrap().len() >= 20
            }),
            "{}",
            serve.stderr()
        );
        signal(serve.child.id(), "KILL");
    });
    drop(serve);
    let answered = answered.into_inner().unwrap();
    let unanswered = unanswered.into_inner().unwrap();
    assert!(!unanswered.is_empty());
    assert_eq!(answered.len() + unanswered.len(), erasures.len());

    // Each request is recorded whole (the person gone from all three audiences, the record
    // counting it) or not at all (the person everywhere); every answered one is recorded.
    let records = recorded(&config);
    let members: Vec<BTreeSet<String>> = AUDIENCES.iter().map(|a| mpids_of(&config, *a)).collect();
    for i in 1..=ERASED {
        let line = usize::try_from(i - 1).unwrap();
        let mpid = i.to_string();
        let present = members.iter().filter(|m| m.contains(&mpid)).count();
        if let Some(&counts) = records.get(&request_id(i)) {
            assert_eq!(counts, (1, 3), "request {i}");
            assert_eq!(
                present, 0,
                "person {i} recorded as erased but still a member"
            );
        } else {
            assert!(
                !answered.contains(&line),
                "request {i} answered, not recorded"
            );
            assert_eq!(present, 3, "person {i} half-erased without a record");
        }
    }
    for m in &members {
        assert!(m.contains(&PEOPLE.to_string()), "the others stay");
    }

    // mParticle retries the unanswered ones: in the end every person asked for is gone, each
    // request recorded once, nobody else touched.
    let serve = start(&config, port);
    let url = Mutex::new(serve.url());
    let retry: Vec<String> = unanswered.iter().map(|i| erasures[*i].clone()).collect();
    let sent = post_all(&url, &retry, 4, Some(KEY), Duration::from_secs(120));
    assert_eq!(sent.acked.len(), retry.len(), "{:?}", sent.refused);
    signal(serve.child.id(), "TERM");
    drop(serve);
    let records = recorded(&config);
    assert_eq!(records.len(), usize::try_from(ERASED).unwrap());
    assert!(records.values().all(|c| *c == (1, 3)), "{records:?}");
    for a in AUDIENCES {
        let m = mpids_of(&config, a);
        assert_eq!(m.len(), usize::try_from(PEOPLE - ERASED).unwrap());
        assert!(m.iter().all(|id| id.parse::<u64>().unwrap() > ERASED));
    }
}
