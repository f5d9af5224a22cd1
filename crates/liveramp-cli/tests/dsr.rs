//! Data subject requests through the command line: a person in three audiences, with email,
//! phone and IDFA, erased by email, by its SHA-256 and by IDFA (`liveramp dsr erase`, and an
//! erasure that arrives in the Firehose stream): gone from `members`, from the next night's
//! files and from the SQLite file's bytes; an older `add` does not bring them back, a newer one
//! does; `dsr list` and `dsr export` print exactly what was done and what is held, and no
//! command prints an identity of the request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use liveramp_pii_normalize::{Email, HashAlgorithm, Phone};
use liveramp_test_support::config::TestConfig;
use liveramp_test_support::csv::python_csv;
use liveramp_test_support::{liveramp, text};

/// 2026-11-27T00:00:00Z: the stream's time, before the run dates below.
const T0: i64 = 1_795_737_600_000;
const ANA_EMAIL: &str = "Ana.Lopez@Example.org";
const ANA_PHONE: &str = "+1 (415) 555-0134";
const ANA_IDFA: &str = "AEBE52E7-03EE-455A-B3C4-E57283966239";
const BO_EMAIL: &str = "bo@example.org";
const BO_AAID: &str = "38400000-8cf0-11bd-b23e-10b96e40000d";
const AUDIENCES: [u64; 3] = [40001, 40002, 40003];

fn config(dir: &Path) -> PathBuf {
    TestConfig::directory("out")
        .extra("allow_small_files = true")
        .with_store()
        .hash(true)
        .columns(&["FIRSTNAME", "EMAIL", "PHONE"])
        .write(dir)
}

fn subscription(n: u64, audience: u64) -> String {
    format!(
        r#"{{"type":"audience_subscription_request","id":"5b000000-0000-4000-8000-{n:012}","timestamp_ms":{T0},"audience_id":{audience},"audience_name":"Audience {audience}","action":"add"}}"#
    )
}

fn ana(ts: i64, id: &str, action: &str) -> String {
    let audiences: Vec<String> = AUDIENCES
        .iter()
        .map(|a| format!(r#"{{"audience_id":{a},"audience_name":"Audience {a}","action":"{action}","user_attributes":[{{"key":"$firstname","value":"Ana","action":"upsert"}}]}}"#))
        .collect();
    format!(
        r#"{{"type":"audience_membership_change_request","id":"{id}","timestamp_ms":{ts},"user_profiles":[{{"mpid":"5001","user_identities":[{{"type":"email","encoding":"raw","value":"{ANA_EMAIL}"}},{{"type":"mobile_number","encoding":"raw","value":"{ANA_PHONE}"}}],"device_identities":[{{"type":"ios_advertising_id","encoding":"raw","value":"{ANA_IDFA}"}}],"audiences":[{}]}}]}}"#,
        audiences.join(",")
    )
}

fn bo() -> String {
    format!(
        r#"{{"type":"audience_membership_change_request","id":"b0000000-0000-4000-8000-000000000001","timestamp_ms":{T0},"user_profiles":[{{"mpid":"5002","user_identities":[{{"type":"email","encoding":"raw","value":"{BO_EMAIL}"}}],"device_identities":[{{"type":"google_advertising_id","encoding":"raw","value":"{BO_AAID}"}}],"audiences":[{{"audience_id":40001,"audience_name":"Audience 40001","action":"add","user_attributes":[{{"key":"$firstname","value":"Bo","action":"upsert"}}]}}]}}]}}"#
    )
}

fn write_stream(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn cli(args: &[&str], config: &Path) -> Output {
    let out = liveramp!()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "liveramp {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn ingest(config: &Path, stream: &Path) -> String {
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(config)
        .arg(stream)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "every line is a usable message");
    text(&out.stdout)
}

fn members(config: &Path, audience: u64) -> Vec<String> {
    let out = cli(&["members", "--audience", &audience.to_string()], config);
    text(&out.stdout).lines().map(str::to_owned).collect()
}

/// Every value of every file delivered for `date`.
fn delivered(dir: &Path, date: &str) -> Vec<String> {
    let mut values = Vec::new();
    for entry in fs::read_dir(dir.join("out")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains(date) {
            for row in python_csv(&fs::read(&path).unwrap()) {
                values.extend(row);
            }
        }
    }
    values
}

/// What identifies Ana in a delivered file: her email's SHA-256, her phone's SHA-1 (the
/// hashes LiveRamp's columns take), her IDFA as sent.
fn ana_in_files() -> [String; 3] {
    [
        Email::parse(ANA_EMAIL)
            .unwrap()
            .hashed(HashAlgorithm::Sha256),
        Phone::parse(ANA_PHONE).unwrap().hashed(HashAlgorithm::Sha1),
        ANA_IDFA.to_owned(),
    ]
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A store with Ana in three audiences and Bo in one, and the night of 2026-11-28 delivered
/// with Ana in its files.
fn ana_and_bo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut lines: Vec<String> = AUDIENCES
        .iter()
        .zip(1..)
        .map(|(a, n)| subscription(n, *a))
        .collect();
    lines.push(ana(T0, "a0000000-0000-4000-8000-000000000001", "add"));
    lines.push(bo());
    let stream = write_stream(dir.path(), "stream.ndjson", &lines);
    ingest(&config, &stream);
    for a in AUDIENCES {
        assert!(
            members(&config, a).iter().any(|l| l.contains("\"5001\"")),
            "{a}"
        );
    }
    cli(&["run", "--date", "2026-11-28"], &config);
    let files = delivered(dir.path(), "2026-11-28");
    for value in ana_in_files() {
        assert!(files.contains(&value), "{value} not in {files:?}");
    }
    (dir, config)
}

/// After an erasure of Ana: in no audience, not in the next night's files (Bo is), nowhere in
/// the SQLite file.
fn assert_ana_is_gone(dir: &Path, config: &Path, date: &str) {
    for a in AUDIENCES {
        let lines = members(config, a);
        assert!(!lines.iter().any(|l| l.contains("5001")), "{a}: {lines:?}");
    }
    assert_eq!(members(config, 40001).len(), 1, "Bo stays");
    cli(&["run", "--date", date], config);
    let files = delivered(dir, date);
    for value in ana_in_files() {
        assert!(!files.contains(&value), "{value} still delivered");
    }
    assert!(files.contains(&BO_AAID.to_owned()), "{files:?}");
    // The store's file, its WAL and anything else beside it.
    for entry in fs::read_dir(dir.join("state")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            for needle in [ANA_EMAIL, ANA_IDFA, "415) 555-0134", "4155550134"] {
                assert!(!contains(&bytes, needle), "{needle} in {}", path.display());
            }
        }
    }
}

#[test]
fn erase_by_email_removes_her_everywhere_and_the_audit_says_so() {
    let (dir, config) = ana_and_bo();
    let out = cli(
        &[
            "dsr",
            "erase",
            "--email",
            " ana.lopez@EXAMPLE.org ",
            "--regulation",
            "gdpr",
            "--request-id",
            "11111111-0000-4000-8000-000000000001",
        ],
        &config,
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "erasure 11111111-0000-4000-8000-000000000001: 1 member(s) removed, 3 membership(s) in \
         3 audience(s); identity types: email"
    );
    assert!(
        lines[1].starts_with("  changes for this person older than 2026-"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(!stdout.to_lowercase().contains("ana.lopez"), "{stdout}");
    assert_ana_is_gone(dir.path(), &config, "2026-11-29");

    // The same request again changes nothing, and says so.
    let out = cli(
        &[
            "dsr",
            "erase",
            "--email",
            ANA_EMAIL,
            "--request-id",
            "11111111-0000-4000-8000-000000000001",
        ],
        &config,
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "erasure 11111111-0000-4000-8000-000000000001 was already recorded on 2026-"
        ),
        "{stdout}"
    );

    // The audit: exactly one record, no identity.
    let out = cli(&["dsr", "list"], &config);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "REQUEST",
            "TYPE",
            "REGULATION",
            "STATUS",
            "RECORDED",
            "MEMBERS",
            "MEMBERSHIPS",
            "AUDIENCES",
            "IDENTITY",
            "TYPES"
        ]
    );
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(fields.len(), 9, "{stdout}");
    assert_eq!(
        [fields[0], fields[1], fields[2], fields[3]],
        [
            "11111111-0000-4000-8000-000000000001",
            "erasure",
            "gdpr",
            "erased"
        ]
    );
    assert!(fields[4].starts_with("2026-") && fields[4].ends_with('Z'));
    assert_eq!(&fields[5..], ["1", "3", "3", "email"]);
    let out = cli(&["dsr", "list", "--json"], &config);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let record = &json[0];
    assert_eq!(record["id"], "11111111-0000-4000-8000-000000000001");
    assert_eq!(record["type"], "erasure");
    assert_eq!(record["status"], "erased");
    assert_eq!(record["members_removed"], 1);
    assert_eq!(record["memberships_removed"], 3);
    assert_eq!(record["identity_types"], serde_json::json!(["email"]));
    assert!(!text(&out.stdout).to_lowercase().contains("ana"));

    // What is held for her now: nothing.
    let out = cli(
        &[
            "dsr",
            "export",
            "--request",
            "11111111-0000-4000-8000-000000000001",
        ],
        &config,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["members"], serde_json::json!([]));
    assert_eq!(json["request"]["type"], "erasure");

    // The status page's data and the saved reports hold no identity of hers either.
    let status = liveramp!()
        .args(["status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let everything = [
        text(&status.stdout),
        text(&status.stderr),
        reports_text(dir.path()),
    ]
    .concat()
    .to_lowercase();
    for value in ana_in_files() {
        assert!(!everything.contains(&value.to_lowercase()), "{value}");
    }
    assert!(!everything.contains("ana.lopez"));
}

/// Every file under `state/` but the store itself: the ledger and the saved reports.
fn reports_text(dir: &Path) -> String {
    let mut all = String::new();
    let mut stack = vec![dir.join("state")];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.to_string_lossy().contains("audiences.sqlite") {
                all.push_str(&String::from_utf8_lossy(&fs::read(&path).unwrap()));
            }
        }
    }
    all
}

#[test]
fn erase_by_the_sha256_of_her_email_or_by_her_idfa() {
    let sha = Email::parse(ANA_EMAIL)
        .unwrap()
        .hashed(HashAlgorithm::Sha256);
    for (flag, value, types) in [
        ("--email", format!("sha256:{sha}"), "email"),
        (
            "--idfa",
            ANA_IDFA.to_ascii_lowercase(),
            "ios_advertising_id",
        ),
    ] {
        let (dir, config) = ana_and_bo();
        let out = cli(&["dsr", "erase", flag, &value], &config);
        let stdout = text(&out.stdout);
        let first = stdout.lines().next().unwrap();
        assert!(
            first.ends_with(&format!(
                ": 1 member(s) removed, 3 membership(s) in 3 audience(s); identity types: {types}"
            )),
            "{first}"
        );
        let id = first
            .strip_prefix("erasure ")
            .unwrap()
            .split(':')
            .next()
            .unwrap();
        assert_eq!(id.len(), 36, "a generated UUID: {id}");
        assert_ana_is_gone(dir.path(), &config, "2026-11-29");
    }
}

#[test]
fn an_erasure_in_the_stream_holds_against_older_changes_and_yields_to_newer_ones() {
    let (dir, config) = ana_and_bo();
    let erasure_ts = T0 + 3_600_000;
    let dsr = format!(
        r#"{{"type":"dsr_processing_request","id":"d0000000-0000-4000-8000-000000000001","timestamp_ms":{erasure_ts},"subject_request_id":"22222222-0000-4000-8000-000000000002","subject_request_type":"erasure","regulation":"ccpa","submitted_time":{},"subject_identities":{{"email":{{"encoding":"raw","value":"{ANA_EMAIL}"}}}}}}"#,
        erasure_ts / 1000
    );
    // The erasure, then an add mParticle sent before it (late, retried): ignored.
    let late = ana(
        erasure_ts - 1_000,
        "a0000000-0000-4000-8000-000000000002",
        "add",
    );
    let stream = write_stream(dir.path(), "dsr.ndjson", &[dsr.clone(), late]);
    let stdout = ingest(&config, &stream);
    assert!(
        stdout.contains(
            "  data subject requests: 1 recorded, 1 members erased (older changes for them \
             ignored: 1)\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.to_lowercase().contains("ana"), "{stdout}");
    assert_ana_is_gone(dir.path(), &config, "2026-11-29");

    // The same request once more (mParticle retries): a repeat, nothing new.
    let again = write_stream(dir.path(), "again.ndjson", &[dsr]);
    let stdout = ingest(&config, &again);
    assert!(
        stdout.contains("  data subject requests: 1 recorded, 0 members erased"),
        "{stdout}"
    );
    let out = cli(&["dsr", "list", "--json"], &config);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["regulation"], "ccpa");
    assert_eq!(json[0]["members_removed"], 1);

    // She signs up again after the request: applied, in every audience, and delivered.
    let newer = ana(
        erasure_ts + 1_000,
        "a0000000-0000-4000-8000-000000000003",
        "add",
    );
    let stream = write_stream(dir.path(), "newer.ndjson", &[newer]);
    ingest(&config, &stream);
    for a in AUDIENCES {
        assert!(
            members(&config, a).iter().any(|l| l.contains("\"5001\"")),
            "{a}"
        );
    }
    cli(&["run", "--date", "2026-11-30"], &config);
    let files = delivered(dir.path(), "2026-11-30");
    for value in ana_in_files() {
        assert!(files.contains(&value), "{value} not delivered again");
    }
}

#[test]
fn an_access_request_is_exported_for_the_operator() {
    let (dir, config) = ana_and_bo();
    let access = format!(
        r#"{{"type":"dsr_processing_request","id":"d0000000-0000-4000-8000-000000000009","timestamp_ms":{},"subject_request_id":"33333333-0000-4000-8000-000000000003","subject_request_type":"access","regulation":"gdpr","subject_identities":{{"android_advertising_id":{{"encoding":"raw","value":"{}"}}}}}}"#,
        T0 + 1,
        BO_AAID.to_ascii_uppercase()
    );
    let stream = write_stream(dir.path(), "access.ndjson", &[access]);
    ingest(&config, &stream);
    let output = dir.path().join("export/bo.json");
    fs::create_dir_all(output.parent().unwrap()).unwrap();
    let out = liveramp!()
        .args([
            "dsr",
            "export",
            "--request",
            "33333333-0000-4000-8000-000000000003",
            "--output",
        ])
        .arg(&output)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "wrote what the store holds for request 33333333-0000-4000-8000-000000000003 (1 \
             member(s)) to {}\n",
            output.display()
        )
    );
    assert_eq!(
        fs::metadata(&output).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&output).unwrap()).unwrap();
    assert_eq!(
        json["request"]["id"],
        "33333333-0000-4000-8000-000000000003"
    );
    assert_eq!(json["request"]["type"], "access");
    let members = json["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{json}");
    assert_eq!(members[0]["mpid"], "5002");
    assert_eq!(members[0]["user_identities"][0]["value"], BO_EMAIL);
    assert_eq!(members[0]["audiences"][0]["audience_id"], 40001);
    assert_eq!(
        members[0]["audiences"][0]["user_attributes"]["$firstname"],
        "Bo"
    );
    // Access removes nothing.
    assert_eq!(members_of_40001(&config), 2);
    let out = cli(&["dsr", "list"], &config);
    let row = text(&out.stdout).lines().nth(1).unwrap().to_owned();
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        [fields[1], fields[2], fields[3], fields[5], fields[6]],
        ["access", "gdpr", "recorded", "1", "0"]
    );

    // An unknown request is a usage error that says where to look.
    let out = liveramp!()
        .args(["dsr", "export", "--request", "nosuch", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: no data subject request \"nosuch\" in the membership store; `liveramp dsr \
             list --config {}` shows the recorded ones\n",
            config.display()
        )
    );
}

fn members_of_40001(config: &Path) -> usize {
    members(config, 40001).len()
}

#[test]
fn erase_without_an_identity_or_with_a_bad_regulation_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    for (args, message) in [
        (
            vec!["dsr", "erase"],
            "error: no identity given: name the person with --email, --phone, --idfa, --aaid or \
             --mpid (each repeatable)\n",
        ),
        (
            vec![
                "dsr",
                "erase",
                "--email",
                "a@b.org",
                "--regulation",
                "hipaa",
            ],
            "error: --regulation \"hipaa\": use gdpr or ccpa\n",
        ),
        (
            vec!["dsr", "erase", "--phone", " "],
            "error: --phone was given an empty value; each identity needs one\n",
        ),
    ] {
        let out = liveramp!()
            .args(&args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), message);
    }
    // Nothing was recorded (the store was not even created).
    let out = cli(&["dsr", "list"], &config);
    assert_eq!(
        text(&out.stdout),
        "the membership store holds no data subject request (records are kept 365 days)\n"
    );
}
