//! SFTP parts are streamed to the server while they are built; when the stream's connection is
//! cut mid-upload, the part is uploaded again from the 0600 spool (real `sshd`, a cutting TCP
//! proxy in front of it), nothing is lost, and the spool is empty afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{Config, Connector, DeliverOptions, FileStatus};
use liveramp_test_support::config::{HostKey, Retry, Sftp, TestConfig};
use liveramp_test_support::csv::python_csv;
use liveramp_test_support::files::{names_in, sha256};
use liveramp_test_support::gpg::Gpg;
use liveramp_test_support::members::{self, write_lines};
use liveramp_test_support::net::CuttingProxy;
use liveramp_test_support::sshd::Sshd;
use support::expected_rows;

#[test]
fn a_cut_stream_falls_back_to_the_spool_and_delivers_every_byte() {
    let sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    // The first connection (the PII file's stream, opened while the file is built) is cut
    // after 150 kB from the client; later ones (the device file's upload from the spool, then
    // the PII file's) pass.
    let proxy = CuttingProxy::start(sshd.port, 1, 150_000);
    let dir = tempfile::tempdir().unwrap();
    let lines = members::lines(3000, 5);
    write_lines(&dir.path().join("members.ndjson"), &lines);
    let text = TestConfig::sftp(
        Sftp::new(
            proxy.port,
            &remote,
            HostKey::Fingerprint(sshd.fingerprint()),
        )
        .connect_timeout(10)
        .retry(Retry::new(3, "20ms", "100ms")),
    )
    .name("sftp stream")
    .encrypt(true)
    .demo_public_key()
    .gzip(false)
    .hash(true)
    .audience("17095", "High-value customers", None)
    .toml();
    let config = Config::from_toml_str(&text, dir.path()).unwrap();
    let mapping = config.mapping.clone();
    let audience = config.audiences[0].clone();
    let connector = Connector::new(config).unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let file = fs::File::open(dir.path().join("members.ndjson")).unwrap();
    let report = connector
        .deliver_ndjson(
            &audience,
            std::io::BufReader::new(file),
            date,
            &DeliverOptions::new().threads(2),
            &mut |_| {},
        )
        .unwrap();
    assert!(report.succeeded(), "{report:#?}\n{}", sshd.log_text());
    assert_eq!(
        names_in(&remote),
        [
            "3242_17095-D_2026-11-28.csv.gpg",
            "3242_17095-PII_2026-11-28.csv.gpg"
        ]
    );
    let attempts: Vec<u32> = report.files.iter().map(|f| f.attempts).collect();
    assert_eq!(
        attempts,
        [1, 2],
        "the PII stream was cut, then sent from the spool"
    );
    let gpg = Gpg::with_demo_secret_key();
    let (device, pii) = expected_rows(&mapping, &lines);
    for (file, expected) in report.files.iter().zip([&device, &pii]) {
        assert_eq!(file.status, FileStatus::Delivered);
        let on_server = fs::read(remote.join(&file.name)).unwrap();
        assert_eq!(file.bytes, on_server.len() as u64);
        assert_eq!(file.sha256, sha256(&on_server));
        let plain = gpg.decrypt_file(&remote.join(&file.name));
        assert_eq!(&python_csv(&plain), expected, "{}", file.name);
    }
    assert!(report.files[1].bytes > 300_000, "{}", report.files[1].bytes);
    assert_eq!(
        fs::read_dir(dir.path().join("state/spool"))
            .unwrap()
            .count(),
        0
    );
}
