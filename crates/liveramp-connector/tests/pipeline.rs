//! The parallel NDJSON pipeline: the delivered bytes are the same for 1, 2 and 4 threads and
//! the same as the single-threaded `Profile` iterator path; `map_only` counts what a delivery
//! writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufReader, Cursor};
use std::path::Path;

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{Config, Connector, DeliverOptions, MalformedMember, NdjsonMembers};
use liveramp_test_support::config::{DEMO_COLUMNS, TestConfig};
use liveramp_test_support::members::member_line;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

fn config(dir: &Path, compression: &str) -> Config {
    let text = TestConfig::directory("out")
        .encrypt(false)
        .compression(compression)
        .hash(true)
        .columns(&DEMO_COLUMNS)
        .audience("17095", "High-value customers", None)
        .toml();
    Config::from_toml_str(&text, dir).unwrap()
}

/// 12,000 generated members (several chunks) with malformed lines at known places: an empty
/// line, broken JSON, a CRLF line ending (valid), invalid UTF-8, and a last line without `\n`.
fn member_file() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..12_000u64 {
        match i {
            10 => data.extend_from_slice(b"\n"),
            11 => data.extend_from_slice(b"{\"mpid\": \n"),
            12 => {
                data.extend_from_slice(member_line(3, i).as_bytes());
                data.extend_from_slice(b"\r\n");
            }
            8_000 => data.extend_from_slice(b"{\"mpid\": \"\xff\xfe\"}\n"),
            _ => {
                data.extend_from_slice(member_line(3, i).as_bytes());
                data.push(b'\n');
            }
        }
    }
    data.extend_from_slice(b"{\"mpid\": \"truncated");
    data
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_files_are_byte_identical_for_any_thread_count_and_equal_to_the_iterator_path() {
    for compression in ["none", "gzip"] {
        let data = member_file();
        let dir = tempfile::tempdir().unwrap();
        let connector = Connector::new(config(dir.path(), compression)).unwrap();
        let audience = connector.config().audiences[0].clone();
        let options = DeliverOptions::new().force(true);

        let members = NdjsonMembers::from_reader(Cursor::new(data.clone()));
        let reference = connector
            .deliver_with(&audience, members, date(), &options, &mut |_| {})
            .unwrap();
        assert!(reference.succeeded(), "{reference:#?}");
        let expected = files(dir.path());
        assert_eq!(expected.len(), 2);
        assert!(expected[1].1.len() > 200_000, "{}", expected[1].1.len());

        for threads in [1, 2, 4] {
            let report = connector
                .deliver_ndjson(
                    &audience,
                    BufReader::new(Cursor::new(data.clone())),
                    date(),
                    &options.clone().threads(threads),
                    &mut |_| {},
                )
                .unwrap();
            assert!(report.succeeded(), "{report:#?}");
            assert_eq!(report.members, reference.members, "{threads} threads");
            assert_eq!(report.members, 11_997);
            assert_eq!(report.malformed_members, 4);
            assert_eq!(report.malformed, reference.malformed);
            let lines: Vec<u64> = report.malformed.iter().map(|m| m.line).collect();
            assert_eq!(lines, [11, 12, 8_001, 12_001]);
            for (a, b) in report.files.iter().zip(&reference.files) {
                assert_eq!(a.rows, b.rows);
                assert_eq!(a.sha256, b.sha256, "{threads} threads, {}", a.name);
                assert_eq!(a.rejected, b.rejected);
            }
            assert_eq!(files(dir.path()), expected, "{threads} threads");
        }
    }
}

#[test]
fn malformed_lines_keep_their_line_numbers_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let connector = Connector::new(config(dir.path(), "none")).unwrap();
    let data = b"\n{\"mpid\": \n{\"mpid\": \"ok\"}\r\n{\"mpid\": \"x\"".to_vec();
    let summary = connector
        .map_only(
            BufReader::new(Cursor::new(data)),
            &DeliverOptions::new().threads(2),
        )
        .unwrap();
    assert_eq!(summary.members, 1);
    assert_eq!(summary.malformed_members, 3);
    let audience = connector.config().audiences[0].clone();
    let report = connector
        .deliver_ndjson(
            &audience,
            BufReader::new(Cursor::new(
                b"\n{\"mpid\": \n{\"mpid\": \"ok\"}\r\n{\"mpid\": \"x\"".to_vec(),
            )),
            date(),
            &DeliverOptions::new().dry_run(true),
            &mut |_| {},
        )
        .unwrap();
    let malformed: Vec<(u64, &str)> = report
        .malformed
        .iter()
        .map(|MalformedMember { line, error, .. }| (*line, error.as_str()))
        .collect();
    assert_eq!(
        malformed,
        [
            (1, "empty line: each line must be one profile JSON object"),
            (
                2,
                "not a valid mParticle profile: EOF while parsing a value (at column 9); \
                 each line must be one JSON object with optional `mpid`, `user_identities`, \
                 `device_identities`, `user_attributes` and `calculated_attributes`"
            ),
            (
                4,
                "not a valid mParticle profile: EOF while parsing an object (at column \
                 12); each line must be one JSON object with optional `mpid`, \
                 `user_identities`, `device_identities`, `user_attributes` and \
                 `calculated_attributes`"
            ),
        ]
    );
}

#[test]
fn map_only_counts_what_a_delivery_writes() {
    let data = member_file();
    let dir = tempfile::tempdir().unwrap();
    let connector = Connector::new(config(dir.path(), "none")).unwrap();
    let audience = connector.config().audiences[0].clone();
    let report = connector
        .deliver_ndjson(
            &audience,
            BufReader::new(Cursor::new(data.clone())),
            date(),
            &DeliverOptions::new(),
            &mut |_| {},
        )
        .unwrap();
    for threads in [1, 2] {
        let summary = connector
            .map_only(
                BufReader::new(Cursor::new(data.clone())),
                &DeliverOptions::new().threads(threads),
            )
            .unwrap();
        assert_eq!(summary.members, report.members);
        assert_eq!(summary.malformed_members, report.malformed_members);
        assert_eq!(summary.device_rows, report.files[0].rows);
        assert_eq!(summary.pii_rows, report.files[1].rows);
        let mut rejected = report.files[0].rejected.clone();
        for (code, n) in &report.files[1].rejected {
            *rejected.entry(code.clone()).or_default() += n;
        }
        assert_eq!(summary.rejected, rejected);
        let csv: u64 = report.files.iter().map(|f| f.parts[0].csv_bytes).sum();
        let headers: usize = files(dir.path())
            .iter()
            .map(|(_, bytes)| bytes.iter().position(|&b| b == b'\n').unwrap() + 1)
            .sum();
        assert_eq!(summary.csv_bytes, csv - headers as u64);
    }
}
