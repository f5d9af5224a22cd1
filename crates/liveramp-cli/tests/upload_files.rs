//! `liveramp upload-files` (hidden, the benchmark's pure upload measurement) against the real
//! OpenSSH `sshd`: every given file arrives byte for byte under its own name, and the JSON line
//! counts them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use liveramp_test_support::config::{Auth, TestConfig};
use liveramp_test_support::files::sha256_file;
use liveramp_test_support::sshd::Sshd;
use liveramp_test_support::{liveramp, text};

#[test]
fn upload_files_publishes_each_file_unchanged_and_reports_bytes() {
    let sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    let work = tempfile::tempdir().unwrap();
    let config = TestConfig::over_sftp(&sshd, sshd.port, &remote)
        .auth(Auth::Key {
            path: sshd.client_key.clone(),
            passphrase_env: None,
        })
        .write(work.path());
    let first = work.path().join("a.csv.pgp");
    let second = work.path().join("b.csv.pgp");
    // 3 MiB and a bit: more than one of the transport's writes; and a small one.
    let big: Vec<u8> = (0..3 * (1u32 << 20) + 17)
        .map(|i| (i % 251) as u8)
        .collect();
    fs::write(&first, &big).unwrap();
    fs::write(&second, b"small file\n").unwrap();

    let out = liveramp!()
        .arg("upload-files")
        .arg("--config")
        .arg(&config)
        .arg(&first)
        .arg(&second)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nsshd: {}",
        text(&out.stdout),
        text(&out.stderr),
        sshd.log_text()
    );
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let total = big.len() as u64 + 11;
    assert_eq!(line["files"], 2);
    assert_eq!(line["bytes"], total);
    assert!(line["seconds"].as_f64().unwrap() > 0.0);
    let mut names: Vec<String> = fs::read_dir(&remote)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.csv.pgp", "b.csv.pgp"]);
    assert_eq!(sha256_file(&remote.join("a.csv.pgp")), sha256_file(&first));
    assert_eq!(fs::read(remote.join("b.csv.pgp")).unwrap(), b"small file\n");
}

#[test]
fn upload_files_of_a_missing_file_fails_with_its_path() {
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let config = work.path().join("connector.toml");
    let toml = TestConfig::directory("out")
        .name("t")
        .encrypt(false)
        .send(true, false)
        .audience("1", "A", Some("m.ndjson"))
        .toml();
    fs::write(&config, toml).unwrap();
    let missing = work.path().join("missing.csv");
    let out = liveramp!()
        .arg("upload-files")
        .arg("--config")
        .arg(&config)
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&missing.display().to_string()),
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 0);
}
