//! Pathological member files (issue 10): a 100 MB single line, deep nesting, 10,000
//! identities in one profile, invalid UTF-8, NUL bytes, a file truncated mid-line and an
//! empty file. Nothing panics, memory stays bounded, and the report names every rejected line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{Config, Connector, DeliverOptions, FileStatus, Report};
use liveramp_test_support::config::TestConfig;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

fn connector(dir: &Path, extra: &str) -> Connector {
    let text = TestConfig::directory("out")
        .extra("allow_small_files = true")
        .extra(extra)
        .hash(true)
        .columns(&["FIRSTNAME", "LASTNAME", "ZIP", "EMAIL", "PHONE"])
        .audience("17095", "High-value customers", None)
        .toml();
    Connector::new(Config::from_toml_str(&text, dir).unwrap()).unwrap()
}

const GOOD: &str =
    r#"{"mpid": "7", "user_identities": [{"type": "email", "value": "a@example.com"}]}"#;

fn deliver(connector: &Connector, input: impl Read + Send) -> Report {
    let audience = connector.config().audiences[0].clone();
    connector
        .deliver_ndjson(
            &audience,
            BufReader::with_capacity(1 << 20, input),
            date(),
            &DeliverOptions::new().force(true).threads(2),
            &mut |_| {},
        )
        .unwrap()
}

fn malformed(report: &Report) -> Vec<(u64, String)> {
    report
        .malformed
        .iter()
        .map(|m| (m.line, m.error.clone()))
        .collect()
}

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs the 100 MB line in a child process of this test binary, alone, so its peak memory is
/// its own (tests of one binary share a process).
#[test]
fn a_100_mb_line_is_rejected_by_number_without_being_held_in_memory() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_100_mb_line_child", "--test-threads=1"])
        .env("PATHOLOGICAL_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn a_100_mb_line_child() {
    if std::env::var_os("PATHOLOGICAL_CHILD").is_none() {
        return; // only as the child of the test above
    }
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path(), "");
    // Generated while read: the 100 MB line never exists in memory, here or in the connector.
    let huge = 100_000_000u64;
    let input = Cursor::new(format!("{GOOD}\n{{\"mpid\": \"").into_bytes())
        .chain(std::io::repeat(b'a').take(huge))
        .chain(Cursor::new(format!("\"}}\n{GOOD}\n").into_bytes()));
    let report = deliver(&connector, input);
    assert_eq!(report.members, 2);
    assert_eq!(
        malformed(&report),
        [(
            2,
            format!(
                "the line has {} bytes, more than max_member_line_bytes (1048576): it \
                 was skipped without being read into memory; fix the export, or raise \
                 max_member_line_bytes if such profiles are real",
                huge + 12
            )
        )]
    );
    assert_eq!(report.files[1].rows, 2);
    // The whole test process, threads and buffers included; buffering the line would be
    // over 100 MB.
    let peak = peak_rss_kib();
    assert!(
        peak < 40 * 1024,
        "peak RSS {peak} KiB: the line was buffered"
    );
}

#[test]
fn the_line_limit_is_configurable_and_exact() {
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path(), "max_member_line_bytes = 100");
    let exactly = format!(r#"{{"mpid": "{}"}}"#, "x".repeat(100 - 12));
    assert_eq!(exactly.len(), 100);
    let over = format!(r#"{{"mpid": "{}"}}"#, "x".repeat(101 - 12));
    let report = deliver(&connector, Cursor::new(format!("{exactly}\n{over}\n")));
    assert_eq!(report.members, 1);
    let lines: Vec<u64> = report.malformed.iter().map(|m| m.line).collect();
    assert_eq!(lines, [2]);
    assert!(
        report.malformed[0]
            .error
            .starts_with("the line has 101 bytes, more than max_member_line_bytes (100)"),
        "{:?}",
        report.malformed
    );

    let bad = Config::from_toml_str(
        "configuration_name = \"t\"\norg_id = \"1\"\nmax_member_line_bytes = 0\n\
         [directory]\npath = \"out\"\n[data]\nsend_pii = true\n",
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(
        bad.problems,
        [
            "max_member_line_bytes: 0 leaves no room for a profile; use a number of bytes such as \
          1048576 (1 MiB, the default)"
        ]
    );
}

#[test]
fn deep_nesting_invalid_utf8_nul_bytes_and_a_truncated_last_line_are_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path(), "");
    let mut input = Vec::new();
    input.extend_from_slice(GOOD.as_bytes());
    input.push(b'\n');
    // 2: nested 100,000 deep inside an attribute (refused: serde_json's recursion limit);
    // 3: 50,000 nested objects in a field the connector ignores (skipped without recursion:
    // a valid member with nothing to send).
    input.extend_from_slice(br#"{"user_attributes": {"deep": "#);
    input.extend_from_slice(&b"[".repeat(100_000));
    input.push(b'\n');
    input.extend_from_slice(&b"{\"a\":".repeat(50_000));
    input.push(b'1');
    input.extend_from_slice(&b"}".repeat(50_000));
    input.push(b'\n');
    // 4: invalid UTF-8 inside a string; 5: a NUL byte inside a string; 6: a NUL outside.
    input.extend_from_slice(b"{\"mpid\": \"\xff\xfe\"}\n");
    input.extend_from_slice(b"{\"mpid\": \"a\0b\"}\n");
    input.extend_from_slice(b"\0{\"mpid\": \"c\"}\n");
    input.extend_from_slice(GOOD.as_bytes());
    input.push(b'\n');
    // 8: the file ends mid-line.
    input.extend_from_slice(br#"{"mpid": "8", "user_identities": [{"type": "em"#);
    let report = deliver(&connector, Cursor::new(input));
    assert_eq!(report.members, 3);
    assert_eq!(report.malformed_members, 5);
    let got = malformed(&report);
    let lines: Vec<u64> = got.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 4, 5, 6, 8]);
    let tail = "; each line must be one JSON object with optional `mpid`, `user_identities`, \
                `device_identities`, `user_attributes` and `calculated_attributes`";
    let expected = [
        "not a valid mParticle profile: recursion limit exceeded (at column 155)",
        "not a valid mParticle profile: invalid unicode code point (at column 11)",
        "not a valid mParticle profile: control character (\\u0000-\\u001F) found \
         while parsing a string (at column 12)",
        "not a valid mParticle profile: expected value (at column 1)",
        "not a valid mParticle profile: EOF while parsing a string (at column 46)",
    ];
    for ((_, error), want) in got.iter().zip(expected) {
        assert_eq!(error, &format!("{want}{tail}"));
    }
    assert_eq!(report.files[1].rows, 2);
    assert_eq!(
        report.files[1].rejected.get("pii.no_matchable_identifier"),
        Some(&1)
    );
}

#[test]
fn ten_thousand_identities_in_one_profile_fill_the_columns_and_count_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path(), "");
    let mut line = String::from(r#"{"mpid": "big", "user_identities": ["#);
    for i in 0..5_000 {
        if i > 0 {
            line.push_str(", ");
        }
        let _ = write!(
            line,
            r#"{{"type": "email", "value": "person{i}@example.com"}}"#
        );
    }
    line.push_str(r#"], "device_identities": ["#);
    for i in 0..5_000 {
        if i > 0 {
            line.push_str(", ");
        }
        let _ = write!(
            line,
            r#"{{"type": "google_advertising_id", "value": "38400000-8cf0-11bd-b23e-{i:012}"}}"#
        );
    }
    line.push_str("]}\n");
    assert!(line.len() < 1 << 20);
    let report = deliver(&connector, Cursor::new(line));
    assert_eq!(report.members, 1);
    assert_eq!(report.malformed_members, 0);
    // Every distinct device ID is a row; the emails fill the PII row's one email column.
    assert_eq!(report.files[0].rows, 5_000);
    assert_eq!(report.files[1].rows, 1);
    assert_eq!(
        report.files[1].rejected.get("email.over_column_limit"),
        Some(&4_999)
    );
}

#[test]
fn an_empty_file_delivers_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = TestConfig::directory("out")
        .audience("17095", "High-value customers", None)
        .toml();
    let connector = Connector::new(Config::from_toml_str(&text, dir.path()).unwrap()).unwrap();
    let report = deliver(&connector, Cursor::new(Vec::new()));
    assert_eq!(report.members, 0);
    assert_eq!(report.malformed_members, 0);
    let statuses: Vec<FileStatus> = report.files.iter().map(|f| f.status).collect();
    assert_eq!(
        statuses,
        [FileStatus::BelowMinimumRows, FileStatus::BelowMinimumRows]
    );
    assert!(!report.succeeded());
    assert!(
        !dir.path()
            .join("out/3242_17095-PII_2026-11-28.csv")
            .exists(),
        "nothing is published"
    );
    let summary = connector
        .map_only(Cursor::new(Vec::new()), &DeliverOptions::new())
        .unwrap();
    assert_eq!((summary.members, summary.malformed_members), (0, 0));
}
