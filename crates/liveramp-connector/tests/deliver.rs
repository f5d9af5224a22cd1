//! Deliveries to a local folder: encryption checked with the real `gpg`, files parsed with
//! Python's `csv`, the ledger, `--force`, malformed members, small files and header changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::Path;

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{
    Audience, Config, Connector, DeliverOptions, FileStatus, MemberError, NdjsonMembers,
};
use liveramp_test_support::config::{DEMO_COLUMNS, TestConfig};
use liveramp_test_support::csv::python_csv;
use liveramp_test_support::files::sha256;
use liveramp_test_support::gpg::Gpg;
use liveramp_test_support::members::{self, member_line, write_lines};
use support::expected_rows;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

fn config(dir: &Path, extra: &str, encrypt: bool) -> Config {
    let text = TestConfig::directory("out")
        .extra(extra)
        .encrypt(encrypt)
        .demo_public_key()
        .hash(true)
        .columns(&DEMO_COLUMNS)
        .toml();
    Config::from_toml_str(&text, dir).unwrap()
}

#[test]
fn encrypted_delivery_decrypts_and_parses_row_for_row_and_the_ledger_makes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(1500, 7);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let config = config(dir.path(), "", true);
    let mapping = config.mapping.clone();
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();

    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector.deliver(&audience, members, date()).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(report.members, 1500);
    assert_eq!(report.malformed_members, 0);

    let out = dir.path().join("out");
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "3242_17095-D_2026-11-28.csv.gpg",
            "3242_17095-PII_2026-11-28.csv.gpg"
        ]
    );

    let gpg = Gpg::with_demo_secret_key();
    let (device, pii) = expected_rows(&mapping, &lines);
    for (file, expected, segment) in [
        (&report.files[0], &device, "High-value customers-D"),
        (&report.files[1], &pii, "High-value customers-PII"),
    ] {
        assert_eq!(file.status, FileStatus::Delivered);
        assert_eq!(file.segment_name, segment);
        let path = out.join(&file.name);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(file.bytes, bytes.len() as u64);
        assert_eq!(file.sha256, sha256(&bytes));
        let plain = gpg.decrypt_file(&path);
        let rows = python_csv(&plain);
        assert_eq!(rows.len() as u64, file.rows + 1);
        assert_eq!(&rows, expected, "{}", file.name);
    }
    assert_eq!(
        report.files[1].rows,
        pii.len() as u64 - 1,
        "every PII row counted"
    );
    // Rejections are counted by reason code, per file.
    assert!(
        report.files[0]
            .rejected
            .contains_key("idfa.limited_ad_tracking")
    );
    assert!(
        report.files[1]
            .rejected
            .contains_key("pii.no_matchable_identifier")
    );
    assert!(
        !report.files[1]
            .rejected
            .contains_key("idfa.limited_ad_tracking")
    );

    // The JSON report has the documented shape.
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["files"][0]["name"], "3242_17095-D_2026-11-28.csv.gpg");
    assert_eq!(json["files"][1]["segment_name"], "High-value customers-PII");
    assert_eq!(json["files"][1]["status"], "delivered");
    assert_eq!(json["files"][1]["attempts"], 1);

    // Nothing else in the folder (no temporary names left) and the spool is gone.
    assert!(
        !fs::read_dir(&out).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.'))
    );

    // Second run: a no-op.
    let before = fs::metadata(out.join(&report.files[0].name))
        .unwrap()
        .modified()
        .unwrap();
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let again = connector.deliver(&audience, members, date()).unwrap();
    assert!(again.succeeded());
    assert!(
        again
            .files
            .iter()
            .all(|f| f.status == FileStatus::AlreadyDelivered)
    );
    assert_eq!(
        fs::metadata(out.join(&report.files[0].name))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );

    // --force: delivered again, replacing the files in place.
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let forced = connector
        .deliver_with(
            &audience,
            members,
            date(),
            &DeliverOptions::new().force(true),
            &mut |_| {},
        )
        .unwrap();
    assert!(
        forced
            .files
            .iter()
            .all(|f| f.status == FileStatus::Delivered)
    );
    assert!(forced.files.iter().all(|f| f.parts[0].replaced));
    assert_eq!(
        python_csv(&gpg.decrypt_file(&out.join(&forced.files[1].name))),
        pii
    );
}

#[test]
fn malformed_member_lines_are_counted_by_line_and_the_rest_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = members::lines(60, 3);
    lines.insert(4, "{\"mpid\": \"broken\", ".to_owned());
    lines.insert(10, "not json at all".to_owned());
    lines.insert(20, String::new());
    lines.insert(30, "[1, 2, 3]".to_owned());
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let config = config(dir.path(), "", false);
    let mapping = config.mapping.clone();
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector.deliver(&audience, members, date()).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(report.members, 60);
    assert_eq!(report.malformed_members, 4);
    let lines_reported: Vec<u64> = report.malformed.iter().map(|m| m.line).collect();
    assert_eq!(lines_reported, [5, 11, 21, 31]);
    assert!(
        report.malformed[2].error.contains("empty line"),
        "{}",
        report.malformed[2].error
    );
    let (_, pii) = expected_rows(&mapping, &lines);
    let plain = fs::read(dir.path().join("out").join(&report.files[1].name)).unwrap();
    assert_eq!(python_csv(&plain), pii);
}

#[test]
fn any_iterator_is_a_member_source_and_errors_are_reported_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", false);
    let connector = Connector::new(config).unwrap();
    let audience = Audience::new("42", "Small");
    let items = (0..40).map(|i| {
        if i == 2 {
            Err(MemberError::malformed(3, "bad"))
        } else {
            liveramp_identity_mapping::Profile::from_json_line(&member_line(9, i))
                .map_err(|e| MemberError::malformed(i + 1, e.to_string()))
        }
    });
    let report = connector.deliver(&audience, items, date()).unwrap();
    assert_eq!(report.malformed_members, 1);
    assert_eq!(report.malformed[0].line, 3);
    assert_eq!(report.malformed[0].error, "bad");
}

#[test]
fn small_files_are_held_back_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(10, 5);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let small = config(dir.path(), "", false);
    let audience = small.audiences[0].clone();
    let connector = Connector::new(small).unwrap();
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector.deliver(&audience, members, date()).unwrap();
    assert!(!report.succeeded());
    for file in &report.files {
        assert_eq!(file.status, FileStatus::BelowMinimumRows);
        let rows = file.rows;
        assert_eq!(
            file.error.as_deref(),
            Some(
                format!(
                    "{} has {}, fewer than LiveRamp's minimum of 25: LiveRamp would not process \
                     it, so it was not uploaded (to send it anyway, set `allow_small_files = \
                     true` at the top level of the configuration, before any [section])",
                    file.name,
                    if rows == 1 {
                        "1 row".to_owned()
                    } else {
                        format!("{rows} rows")
                    }
                )
                .as_str()
            ),
        );
    }
    // Said once, as each file's error, not again as a warning.
    assert_eq!(report.warnings, Vec::<String>::new());
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 0);

    let dir = tempfile::tempdir().unwrap();
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let allowed = config(dir.path(), "allow_small_files = true", false);
    let connector = Connector::new(allowed).unwrap();
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector.deliver(&audience, members, date()).unwrap();
    assert!(report.succeeded());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("allow_small_files = true"))
    );
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 2);
}

#[test]
fn a_changed_header_is_refused_unless_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(200, 11);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let first = config(dir.path(), "", false);
    let audience = first.audiences[0].clone();
    let report = Connector::new(first)
        .unwrap()
        .deliver(
            &audience,
            NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap(),
            date(),
        )
        .unwrap();
    assert!(report.succeeded());

    // The next night, with a different PII column list.
    let text = fs::read_to_string(dir.path().join("members.ndjson")).unwrap();
    assert!(!text.is_empty());
    let changed = |accept: &str| {
        let text = TestConfig::directory("out")
            .extra(accept)
            .hash(true)
            .columns(&["EMAIL", "PHONE", "ZIP"])
            .demo_public_key()
            .no_audiences()
            .toml();
        Config::from_toml_str(&text, dir.path()).unwrap()
    };
    let next = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let report = Connector::new(changed(""))
        .unwrap()
        .deliver(
            &audience,
            NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap(),
            next,
        )
        .unwrap();
    assert!(!report.succeeded());
    assert_eq!(
        report.files[0].status,
        FileStatus::Delivered,
        "{:?}",
        report.files[0].error
    );
    assert_eq!(report.files[1].status, FileStatus::Failed);
    assert_eq!(
        report.files[1].error.as_deref(),
        Some(
            "the pii header differs from the one last delivered for audience 17095: LiveRamp \
             would pause this file until someone re-maps it, so it was not sent; restore the \
             previous columns, or set accept_header_change = true and update the mapping in \
             LiveRamp"
        )
    );
    assert!(
        !dir.path()
            .join("out/3242_17095-PII_2026-11-29.csv")
            .exists()
    );

    let report = Connector::new(changed("accept_header_change = true"))
        .unwrap()
        .deliver(
            &audience,
            NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap(),
            next,
        )
        .unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("LiveRamp will pause this file"))
    );
}

#[test]
fn dry_run_builds_plain_files_locally_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(100, 13);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let config = config(dir.path(), "", false);
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector
        .deliver_with(
            &audience,
            members,
            date(),
            &DeliverOptions::new().dry_run(true),
            &mut |_| {},
        )
        .unwrap();
    assert!(report.succeeded());
    assert_eq!(report.warnings, Vec::<String>::new());
    assert!(report.files.iter().all(|f| f.status == FileStatus::DryRun));
    assert_eq!(
        report.files[1].preview[0],
        "FIRSTNAME,LASTNAME,CITY,STATE,ZIP,COUNTRY,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,PHONE1_SHA-1,PHONE2_SHA-1"
    );
    assert_eq!(report.files[1].preview.len(), 6);
    assert!(
        !dir.path().join("out").exists()
            || fs::read_dir(dir.path().join("out")).unwrap().count() == 0
    );
    assert!(
        dir.path()
            .join("state/dry-run/3242_17095-PII_2026-11-28.csv")
            .exists()
    );
    // Not recorded: a real run delivers.
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector.deliver(&audience, members, date()).unwrap();
    assert!(
        report
            .files
            .iter()
            .all(|f| f.status == FileStatus::Delivered)
    );
}

/// With encryption on, a dry run previews the same rows but leaves no plaintext behind, and
/// says so.
#[test]
fn dry_run_with_encryption_on_leaves_no_plaintext_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(100, 13);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let config = config(dir.path(), "", true);
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();
    let members = NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector
        .deliver_with(
            &audience,
            members,
            date(),
            &DeliverOptions::new().dry_run(true),
            &mut |_| {},
        )
        .unwrap();
    assert!(report.succeeded());
    assert!(report.files.iter().all(|f| f.status == FileStatus::DryRun));
    assert_eq!(
        report.files[1].preview[0],
        "FIRSTNAME,LASTNAME,CITY,STATE,ZIP,COUNTRY,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,PHONE1_SHA-1,PHONE2_SHA-1"
    );
    assert_eq!(report.files[1].preview.len(), 6);
    let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "3242_17095-D_2026-11-28.csv",
            "3242_17095-PII_2026-11-28.csv"
        ]
    );
    for file in &report.files {
        for part in &file.parts {
            assert_eq!(part.location, "(removed: encryption is on)");
        }
    }
    assert_eq!(
        report.warnings,
        [
            "encryption is on, so the dry run's plain CSV files were removed as soon as their \
          first rows were read for this preview: nothing unencrypted is left in the state \
          folder (a delivery writes only encrypted files); turn encryption off to keep them \
          for inspection"
        ]
    );
    let left: Vec<_> = walk(&dir.path().join("state"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    assert_eq!(left, Vec::<std::path::PathBuf>::new());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn cancellation_publishes_nothing_and_records_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", false);
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();
    connector.cancel_handle().cancel();
    let items =
        (0..10_000).map(|i| liveramp_identity_mapping::Profile::from_json_line(&member_line(1, i)));
    let err = connector.deliver(&audience, items, date()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the delivery of audience 17095 was cancelled before it finished"
    );
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 0);
}

/// Yields its data, then fails like a disk read error would.
struct FailingReader {
    data: std::io::Cursor<Vec<u8>>,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        if n == 0 {
            return Err(std::io::Error::other("device went away"));
        }
        Ok(n)
    }
}

/// A member file that fails to be read part-way (an I/O error, not a malformed line) must not
/// be published truncated: the delivery stops, nothing is in the folder, and the ledger
/// records the failure so the next run tries again.
#[test]
fn a_source_that_fails_part_way_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", false);
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();

    let mut data = Vec::new();
    for i in 0..100 {
        data.extend_from_slice(member_line(5, i).as_bytes());
        data.push(b'\n');
    }
    let members = NdjsonMembers::from_reader(FailingReader {
        data: std::io::Cursor::new(data),
    });

    let err = connector.deliver(&audience, members, date()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "reading the members of audience 17095 failed at member 101 (line 101: could not read \
         the member file: device went away); nothing was published (fix the source and run again)"
    );
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 0);
}
