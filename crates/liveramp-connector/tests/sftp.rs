//! End to end against the real OpenSSH `sshd` and the real `gpg`: a generated audience
//! delivered over SFTP with encryption on, decrypted with `gpg`, parsed with Python's `csv`
//! and checked row for row; the ledger makes the second run a no-op; `force` re-delivers and
//! replaces the files atomically.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{Config, Connector, DeliverOptions, FileStatus, NdjsonMembers};
use liveramp_test_support::config::{HostKey, Retry, Sftp, TestConfig};
use liveramp_test_support::csv::python_csv;
use liveramp_test_support::files::{names_in, sha256};
use liveramp_test_support::gpg::Gpg;
use liveramp_test_support::members::{self, write_lines};
use liveramp_test_support::sshd::Sshd;
use support::expected_rows;

#[test]
fn encrypted_audience_over_sftp_once_then_forced() {
    let sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(1000, 21);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let text = TestConfig::sftp(
        Sftp::new(sshd.port, &remote, HostKey::known_hosts(&sshd, sshd.port))
            .connect_timeout(10)
            .retry(Retry::new(3, "20ms", "100ms")),
    )
    .name("sftp e2e")
    .encrypt(true)
    .demo_public_key()
    .gzip(true)
    .hash(true)
    .toml();
    let config = Config::from_toml_str(&text, dir.path()).unwrap();
    let mapping = config.mapping.clone();
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let open = || NdjsonMembers::open(dir.path().join("members.ndjson")).unwrap();

    let report = connector.deliver(&audience, open(), date).unwrap();
    assert!(report.succeeded(), "{report:#?}\n{}", sshd.log_text());
    assert_eq!(
        names_in(&remote),
        [
            "3242_17095-D_2026-11-28.csv.gz.gpg",
            "3242_17095-PII_2026-11-28.csv.gz.gpg"
        ]
    );
    let gpg = Gpg::with_demo_secret_key();
    let (device, pii) = expected_rows(&mapping, &lines);
    let check = |name: &str, expected: &Vec<Vec<String>>| {
        let gz = gpg.decrypt_file(&remote.join(name));
        let mut child = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&gz).unwrap();
        }
        let plain = child.wait_with_output().unwrap().stdout;
        assert_eq!(&python_csv(&plain), expected, "{name}");
    };
    check(&report.files[0].name, &device);
    check(&report.files[1].name, &pii);
    for file in &report.files {
        assert_eq!(file.status, FileStatus::Delivered);
        assert_eq!(file.attempts, 1);
        let on_server = fs::read(remote.join(&file.name)).unwrap();
        assert_eq!(file.bytes, on_server.len() as u64);
        assert_eq!(file.sha256, sha256(&on_server));
        assert_eq!(
            file.parts[0].location,
            format!("{}/{}", remote.display(), file.name)
        );
    }
    // The spool held only ciphertext and is gone.
    assert_eq!(
        fs::read_dir(dir.path().join("state/spool"))
            .unwrap()
            .count(),
        0
    );

    // Second run: the ledger makes it a no-op (nothing uploaded).
    let again = connector.deliver(&audience, open(), date).unwrap();
    assert!(
        again
            .files
            .iter()
            .all(|f| f.status == FileStatus::AlreadyDelivered)
    );

    // Forced: delivered again, each file replaced in one step, no temporary name left.
    let forced = connector
        .deliver_with(
            &audience,
            open(),
            date,
            &DeliverOptions::new().force(true),
            &mut |_| {},
        )
        .unwrap();
    assert!(forced.succeeded(), "{forced:#?}");
    assert!(forced.files.iter().all(|f| f.parts[0].replaced));
    assert_eq!(names_in(&remote).len(), 2);
    check(&forced.files[1].name, &pii);
}
