//! `SftpTransport` against the real OpenSSH server (`/usr/sbin/sshd`) on 127.0.0.1.
//!
//! Needs the test account: run `cargo xtask test-env` (as root) once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use liveramp_sftp_transport::{Error, RetryPolicy, SftpSettings, SftpTransport, Transport};
use liveramp_test_support::files::{Watcher, data, names_in, sha256};
use liveramp_test_support::net::{CuttingProxy, SilentServer, free_port};
use liveramp_test_support::sshd::{Sshd, TEST_PASSWORD, keygen, ssh_keygen_fingerprint};
use liveramp_test_support::transport_suite;

fn transport(settings: SftpSettings) -> SftpTransport {
    SftpTransport::new(settings).unwrap()
}

#[test]
fn sftp_transport_passes_the_shared_suite() {
    let sshd = Sshd::start();
    transport_suite::run_all(|name| {
        let folder = sshd.upload_dir(name);
        (
            Box::new(transport(sshd.settings(&folder))) as Box<dyn Transport>,
            folder,
        )
    });
}

#[test]
fn password_auth_and_one_session_for_many_files() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let mut t = transport(sshd.settings(&folder));
    let report = t.check().unwrap();
    assert_eq!(report.host_key_fingerprint, Some(sshd.fingerprint()));
    assert!(
        report.host_key_verified_by.starts_with("known_hosts"),
        "{report:?}"
    );
    assert!(report.warnings.is_empty());
    for i in 0..3 {
        t.upload_with(&format!("f{i}.csv"), &mut |out| out.write_all(b"x\n"))
            .unwrap();
    }
    assert_eq!(names_in(&folder), vec!["f0.csv", "f1.csv", "f2.csv"]);
    // Replacing uses OpenSSH's atomic posix-rename.
    let receipt = t
        .upload_with("f0.csv", &mut |out| out.write_all(b"y\n"))
        .unwrap();
    assert!(receipt.replaced);
    assert_eq!(fs::read(folder.join("f0.csv")).unwrap(), b"y\n");
    t.close().unwrap();
    // One login for the check and all three files.
    let log = sshd.log_text();
    assert_eq!(
        log.matches("Accepted password for liveramp-sftp-test")
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn key_auth_with_and_without_passphrase() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let mut s = sshd.settings(&folder);
    s.password = None;
    s.private_key_path = Some(sshd.client_key.clone());
    transport(s.clone()).check().unwrap();

    s.private_key_path = Some(sshd.client_key_with_passphrase.clone());
    s.private_key_passphrase = Some(Sshd::KEY_PASSPHRASE.into());
    let mut t = transport(s.clone());
    t.upload_with("k.csv", &mut |out| out.write_all(b"key"))
        .unwrap();
    assert_eq!(fs::read(folder.join("k.csv")).unwrap(), b"key");

    s.private_key_passphrase = Some("wrong passphrase".into());
    let err = transport(s).check().unwrap_err();
    assert!(
        matches!(err, Error::PrivateKey { .. } | Error::Authentication { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong passphrase"), "{err}");
    assert_eq!(sshd.log_text().matches("Accepted publickey").count(), 2);
}

#[test]
fn wrong_password_fails_fast_without_retries() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let mut s = sshd.settings(&folder);
    s.password = Some("not-the-password".into());
    // Were it retried, this test would sleep for minutes.
    s.retry = RetryPolicy::new(5, Duration::from_secs(60), Duration::from_secs(120));
    let mut t = transport(s);
    let err = t
        .upload_with("a.csv", &mut |out| out.write_all(b"x"))
        .unwrap_err();
    match &err {
        Error::Authentication {
            username, method, ..
        } => {
            assert_eq!(username, "liveramp-sftp-test");
            assert_eq!(method, "password");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("not-the-password"), "{err}");
    assert!(!format!("{t:?}").contains("not-the-password"));
    assert_eq!(sshd.log_text().matches("Failed password").count(), 1);
    assert_eq!(names_in(&folder), Vec::<String>::new());
}

#[test]
fn hashed_known_hosts_entry_matches() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    // Hash the entry with the real ssh-keygen.
    let status = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    assert!(status.status.success());
    let text = fs::read_to_string(&sshd.known_hosts).unwrap();
    assert!(
        text.contains("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    let report = transport(sshd.settings(&folder)).check().unwrap();
    assert_eq!(report.host_key_fingerprint, Some(sshd.fingerprint()));
}

#[test]
fn pinned_fingerprint_matches() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let mut s = sshd.settings(&folder);
    s.known_hosts_path = None;
    s.host_key_fingerprint = Some(sshd.fingerprint());
    let report = transport(s).check().unwrap();
    assert_eq!(report.host_key_verified_by, "pinned fingerprint");
}

fn assert_refused_before_auth(sshd: &Sshd) {
    let log = sshd.log_text();
    assert!(
        !log.contains("Accepted") && !log.contains("Failed"),
        "{log}"
    );
}

#[test]
fn unknown_host_is_refused_before_any_credential() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("k"), "");
    let key = fs::read_to_string(other.path().join("k.pub")).unwrap();
    let known_hosts = other.path().join("known_hosts");
    fs::write(&known_hosts, format!("files.liveramp.com {key}")).unwrap();
    let mut s = sshd.settings(&folder);
    s.known_hosts_path = Some(known_hosts);
    let err = transport(s)
        .upload_with("a.csv", &mut |o| o.write_all(b"x"))
        .unwrap_err();
    let fingerprint = sshd.fingerprint();
    match &err {
        Error::HostKeyUnknown {
            host,
            fingerprint: shown,
            key_type,
            ..
        } => {
            assert_eq!(host, &format!("[127.0.0.1]:{}", sshd.port));
            assert_eq!(shown, &fingerprint);
            assert_eq!(key_type, "ssh-ed25519");
        }
        other => panic!("expected HostKeyUnknown, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("host_key_fingerprint = \"{fingerprint}\"")),
        "{message}"
    );
    assert_refused_before_auth(&sshd);
}

#[test]
fn changed_host_key_is_refused_before_any_credential() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("k"), "");
    let key = fs::read_to_string(other.path().join("k.pub")).unwrap();
    let known_hosts = other.path().join("known_hosts");
    fs::write(&known_hosts, format!("[127.0.0.1]:{} {key}", sshd.port)).unwrap();
    let mut s = sshd.settings(&folder);
    s.known_hosts_path = Some(known_hosts);
    let err = transport(s.clone()).check().unwrap_err();
    assert!(
        matches!(&err, Error::HostKeyMismatch { fingerprint, .. } if *fingerprint == sshd.fingerprint()),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&ssh_keygen_fingerprint(&other.path().join("k.pub")))
    );

    // A wrong pin is refused the same way.
    s.known_hosts_path = None;
    s.host_key_fingerprint = Some(ssh_keygen_fingerprint(&other.path().join("k.pub")));
    let err = transport(s).check().unwrap_err();
    assert!(matches!(err, Error::HostKeyMismatch { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_refused_before_auth(&sshd);
}

#[test]
fn insecure_skip_is_reported() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let mut s = sshd.settings(&folder);
    s.known_hosts_path = None;
    s.insecure_skip_host_key_check = true;
    let report = transport(s).check().unwrap();
    assert_eq!(report.host_key_verified_by, "NOT VERIFIED");
    assert_eq!(report.warnings.len(), 1);
    assert!(
        report.warnings[0].contains(&sshd.fingerprint()),
        "{report:?}"
    );
}

#[test]
fn missing_remote_folder_and_create_remote_dir() {
    let sshd = Sshd::start();
    let root = sshd.upload_dir("root");
    let folder = root.join("uploads/x");
    let mut s = sshd.settings(&folder);
    let err = transport(s.clone())
        .upload_with("a.csv", &mut |o| o.write_all(b"x"))
        .unwrap_err();
    assert!(matches!(err, Error::RemoteDirMissing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "remote folder `{}` does not exist: create it or set `create_remote_dir = true`",
            folder.display()
        )
    );
    s.create_remote_dir = true;
    let receipt = transport(s)
        .upload_with("a.csv", &mut |o| o.write_all(b"x"))
        .unwrap();
    assert_eq!(receipt.remote_path, format!("{}/a.csv", folder.display()));
    assert_eq!(names_in(&folder), vec!["a.csv"]);
}

#[test]
fn permission_denied_is_permanent() {
    let sshd = Sshd::start();
    // Owned by root, not writable by the test account.
    let folder = sshd.dir.path().join("root-only");
    fs::create_dir(&folder).unwrap();
    let mut s = sshd.settings(&folder);
    s.retry = RetryPolicy::new(5, Duration::from_secs(60), Duration::from_secs(120));
    let err = transport(s.clone())
        .upload_with("a.csv", &mut |o| o.write_all(b"x"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    let err = transport(s).check().unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert_eq!(names_in(&folder), Vec::<String>::new());
}

#[test]
fn connection_cut_mid_upload_is_retried_and_never_exposes_a_partial_file() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    // Cut the first two connections after 3 MiB sent; the third gets through.
    let proxy = CuttingProxy::start(sshd.port, 2, 3 << 20);
    let mut s = sshd.settings(&folder);
    s.url = format!("sftp://127.0.0.1:{}", proxy.port);
    s.port = 22;
    // The known_hosts entry names the real port: pin instead.
    s.known_hosts_path = None;
    s.host_key_fingerprint = Some(sshd.fingerprint());
    let content = data(12 << 20, 7);
    let local_dir = tempfile::tempdir().unwrap();
    let local = local_dir.path().join("big.csv");
    fs::write(&local, &content).unwrap();

    // A first, complete version is present while the faulty uploads of the second run.
    fs::write(folder.join("big.csv"), &content).unwrap();
    let watcher = Watcher::start(&folder, "big.csv", content.len() as u64);
    let receipt = transport(s).upload_file(&local, "big.csv").unwrap();
    let (polls, seen) = watcher.stop();
    assert!(polls > 0 && seen > 0);
    assert_eq!(receipt.attempts, 3);
    assert!(receipt.replaced);
    assert_eq!(receipt.bytes, content.len() as u64);
    assert_eq!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert_eq!(
        sha256(&fs::read(folder.join("big.csv")).unwrap()),
        sha256(&content)
    );
    assert_eq!(names_in(&folder), vec!["big.csv"]);
}

#[test]
fn cut_connection_on_every_attempt_leaves_no_partial_file() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let proxy = CuttingProxy::start(sshd.port, 2, 2 << 20);
    let mut s = sshd.settings(&folder);
    s.port = proxy.port;
    s.known_hosts_path = None;
    s.host_key_fingerprint = Some(sshd.fingerprint());
    s.retry = RetryPolicy::new(2, Duration::from_millis(10), Duration::from_millis(10));
    let content = data(8 << 20, 8);
    let watcher = Watcher::start(&folder, "x.csv", content.len() as u64);
    let err = transport(s)
        .upload_with("x.csv", &mut |out| out.write_all(&content))
        .unwrap_err();
    let (_, seen) = watcher.stop();
    assert_eq!(seen, 0);
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.root().is_transient());
    // The server is reachable again (the proxy passes the third connection): the `.part`
    // was removed.
    assert_eq!(names_in(&folder), Vec::<String>::new());
}

#[test]
fn stalled_transfer_times_out_and_the_retry_completes() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let proxy = CuttingProxy::stalling(sshd.port, 1, 2 << 20);
    let mut s = sshd.settings(&folder);
    s.port = proxy.port;
    s.known_hosts_path = None;
    s.host_key_fingerprint = Some(sshd.fingerprint());
    s.operation_timeout = Duration::from_secs(1);
    let content = data(6 << 20, 10);
    let receipt = transport(s)
        .upload_with("t.csv", &mut |out| out.write_all(&content))
        .unwrap();
    assert_eq!(receipt.attempts, 2);
    assert_eq!(fs::read(folder.join("t.csv")).unwrap(), content);
    assert_eq!(names_in(&folder), vec!["t.csv"]);
}

#[test]
fn silent_server_times_out_within_the_configured_timeout() {
    let silent = SilentServer::start();
    let mut s = SftpSettings::new(format!("127.0.0.1:{}", silent.port), "u");
    s.password = Some("p".into());
    s.insecure_skip_host_key_check = true;
    s.connect_timeout = Duration::from_millis(500);
    s.retry = RetryPolicy::new(2, Duration::from_millis(10), Duration::from_millis(10));
    let started = Instant::now();
    let err = transport(s).check().unwrap_err();
    let elapsed = started.elapsed();
    match &err {
        Error::Timeout { after, .. } => assert_eq!(*after, Duration::from_millis(500)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(err.is_transient());
    // Generous bound: one attempt of 0.5 s, not the 30 s default.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn closed_port_is_refused_after_the_retries() {
    let port = free_port();
    let mut s = SftpSettings::new("127.0.0.1", "u");
    s.port = port;
    s.password = Some("p".into());
    s.insecure_skip_host_key_check = true;
    s.retry = RetryPolicy::new(3, Duration::from_millis(10), Duration::from_millis(20));
    let err = transport(s)
        .upload_with("a.csv", &mut |o| o.write_all(b"x"))
        .unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, last } => {
            assert_eq!(*attempts, 3);
            assert!(matches!(**last, Error::Connect { .. }), "{last:?}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(err.to_string().contains("refused"), "{err}");
}

#[test]
fn streaming_upload_is_not_retried_by_the_transport() {
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("up");
    let proxy = CuttingProxy::start(sshd.port, 1, 1 << 20);
    let mut s = sshd.settings(&folder);
    s.port = proxy.port;
    s.known_hosts_path = None;
    s.host_key_fingerprint = Some(sshd.fingerprint());
    let mut t = transport(s);
    let content = data(16 << 20, 9);
    let err = {
        let mut stream = t.begin("s.csv").unwrap();
        let failed = stream.write_all(&content).and_then(|()| stream.flush());
        match failed {
            Err(_) => stream.take_error().unwrap(),
            Ok(()) => stream.commit().unwrap_err(),
        }
    };
    assert!(err.is_transient(), "{err:?}");
    // The caller retries by producing again; the transport reconnects.
    let mut stream = t.begin("s.csv").unwrap();
    stream.write_all(&content).unwrap();
    let receipt = stream.commit().unwrap();
    assert_eq!(receipt.bytes, content.len() as u64);
    assert_eq!(names_in(&folder), vec!["s.csv"]);
    assert_eq!(fs::read(folder.join("s.csv")).unwrap(), content);
}

#[test]
fn settings_from_the_seed_table() {
    let s: SftpSettings = serde_json::from_str(&format!(
        r#"{{"url": "sftp://127.0.0.1", "port": "{}", "username": "liveramp-sftp-test",
            "password": "{}", "insecure_skip_host_key_check": true}}"#,
        12345, TEST_PASSWORD
    ))
    .unwrap();
    let t = transport(s);
    assert_eq!(
        t.describe(),
        "sftp://liveramp-sftp-test@127.0.0.1:12345/uploads"
    );
    assert!(!format!("{t:?}").contains(TEST_PASSWORD));
    let _ = Path::new("");
}
