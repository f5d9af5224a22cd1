//! `liveramp map-only` (hidden; the benchmark's compute ceiling): parses, maps, normalises and
//! hashes the members as `liveramp run` does and counts exactly the rows `run` writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::Output;

use liveramp_test_support::config::{DEMO_COLUMNS, TestConfig};
use liveramp_test_support::{liveramp, members, text};

/// The benchmark's configuration: both files, hashing on, the demo's PII columns, no
/// compression, no encryption.
fn config() -> TestConfig {
    TestConfig::directory("out")
        .name("map-only test")
        .compression("none")
        .hash(true)
        .columns(&DEMO_COLUMNS)
        .audience("17095", "Map-only test", Some("members.ndjson"))
}

/// 400 generated members (seed 9) and three malformed lines, with the configuration above.
fn setup(dir: &Path) {
    fs::write(dir.join("connector.toml"), config().toml()).unwrap();
    let members = dir.join("members.ndjson");
    members::write_file(&members, 400, 9);
    let mut lines = fs::read_to_string(&members).unwrap();
    lines.push_str("not json\n\n{\"mpid\": \"7\", \"user_identities\": 5}\n");
    fs::write(&members, lines).unwrap();
}

fn map_only(dir: &Path) -> Output {
    liveramp!()
        .arg("map-only")
        .arg("--config")
        .arg(dir.join("connector.toml"))
        .arg("--members")
        .arg(dir.join("members.ndjson"))
        .output()
        .unwrap()
}

#[test]
fn map_only_counts_exactly_the_rows_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());

    let out = map_only(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"members\":400,\"malformed\":3,\"device_rows\":153,\"pii_rows\":350}\n"
    );
    assert_eq!(text(&out.stderr), "");
    // Nothing delivered, nothing recorded: no destination folder, and the state folder (the
    // connector opens its ledger there) holds no record.
    assert!(!dir.path().join("out").exists(), "map-only writes no file");
    let ledger = dir.path().join("state/ledger.jsonl");
    assert_eq!(
        fs::read_to_string(&ledger).unwrap_or_default(),
        "",
        "map-only records nothing"
    );
    assert!(
        !dir.path().join("state/spool").exists(),
        "map-only spools nothing"
    );

    // `run` on the same members writes exactly those rows.
    let report = dir.path().join("report.json");
    let out = liveramp!()
        .arg("run")
        .arg("--config")
        .arg(dir.path().join("connector.toml"))
        .args(["--date", "2026-11-28", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let audience = &report[0];
    assert_eq!(audience["members"], 400);
    assert_eq!(audience["malformed_members"], 3);
    assert_eq!(audience["files"][0]["data_type"], "device");
    assert_eq!(audience["files"][0]["rows"], 153);
    assert_eq!(audience["files"][1]["data_type"], "pii");
    assert_eq!(audience["files"][1]["rows"], 350);
}

#[test]
fn map_only_reports_a_missing_member_file_and_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());

    let out = liveramp!()
        .arg("map-only")
        .arg("--config")
        .arg(dir.path().join("connector.toml"))
        .arg("--members")
        .arg(dir.path().join("absent.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot read the members from ")
            && stderr.contains("absent.ndjson")
            && stderr.contains("No such file or directory"),
        "{stderr}"
    );

    let mut columns = DEMO_COLUMNS;
    columns[0] = "SHOE_SIZE"; // was FIRSTNAME
    fs::write(
        dir.path().join("connector.toml"),
        config().columns(&columns).toml(),
    )
    .unwrap();
    let out = map_only(dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains("SHOE_SIZE"),
        "{}",
        text(&out.stderr)
    );
}
