//! Secrets and PII hygiene of the `liveramp` binary against the real OpenSSH `sshd` and the
//! real `gpg`: with tracing at `trace`, no password, key passphrase or private key line
//! appears in any output (stdout, stderr, report, ledger, state folder), for every way of
//! logging in and for failed logins; with hashing on, no raw or normalised email or phone
//! reaches the delivered files (decrypted with `gpg`), the logs or the report; files holding
//! plaintext PII are 0600, live only in the spool folder, are removed on success and failure,
//! and are never created when encryption is on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use liveramp_test_support::config::{Auth, Retry, TestConfig};
use liveramp_test_support::files::{FileWatcher, files_under, names_in_or_empty, wait_until};
use liveramp_test_support::gpg::Gpg;
use liveramp_test_support::net::Throttle;
use liveramp_test_support::sshd::{Sshd, TEST_PASSWORD};
use liveramp_test_support::{liveramp, members, text};

/// Everything a run left readable: stdout, stderr, the report and every file of the state
/// folder, as one labelled text per source.
fn outputs(out: &Output, report: Option<&Path>, state: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all = vec![
        ("stdout".to_owned(), out.stdout.clone()),
        ("stderr".to_owned(), out.stderr.clone()),
    ];
    if let Some(report) = report
        && let Ok(bytes) = fs::read(report)
    {
        all.push((report.display().to_string(), bytes));
    }
    for path in files_under(state) {
        all.push((path.display().to_string(), fs::read(&path).unwrap()));
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The base64 lines of an OpenSSH private key file.
fn key_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 20)
        .map(str::to_owned)
        .collect()
}

fn traced(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = liveramp!();
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env("LIVERAMP_LOG", "trace");
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// (case, login, environment, expected exit code)
type Case<'a> = (&'a str, Auth, Vec<(&'a str, &'a str)>, i32);

/// Every way of logging in, and failed logins, with tracing at `trace`: no secret in any
/// output, in the configuration's `Debug` or in the connector's.
#[test]
fn secrets_never_appear_in_any_output_of_traced_runs_for_every_login_kind() {
    const WRONG_PASSWORD: &str = "Wrong-password-never-printed-51e2";
    const WRONG_PASSPHRASE: &str = "Wrong-passphrase-never-printed-a9b0";
    let sshd = Sshd::start();
    let members = tempfile::tempdir().unwrap();
    members::write_file(&members.path().join("members.ndjson"), 120, 21);
    let mut secrets: Vec<String> = vec![
        TEST_PASSWORD.to_owned(),
        Sshd::KEY_PASSPHRASE.to_owned(),
        WRONG_PASSWORD.to_owned(),
        WRONG_PASSPHRASE.to_owned(),
    ];
    secrets.extend(key_lines(&sshd.client_key));
    secrets.extend(key_lines(&sshd.client_key_with_passphrase));
    assert!(secrets.len() > 6, "the key files have body lines");

    let key_pass = |env: Option<&str>| Auth::Key {
        path: sshd.client_key_with_passphrase.clone(),
        passphrase_env: env.map(str::to_owned),
    };
    let cases: Vec<Case<'_>> = vec![
        (
            "inline password",
            Auth::InlinePassword(TEST_PASSWORD.to_owned()),
            vec![],
            0,
        ),
        (
            "password_env",
            Auth::PasswordEnv("FAULTS_SFTP_PASSWORD".to_owned()),
            vec![("FAULTS_SFTP_PASSWORD", TEST_PASSWORD)],
            0,
        ),
        (
            "key without passphrase",
            Auth::Key {
                path: sshd.client_key.clone(),
                passphrase_env: None,
            },
            vec![],
            0,
        ),
        (
            "key with passphrase",
            key_pass(Some("FAULTS_KEY_PASSPHRASE")),
            vec![("FAULTS_KEY_PASSPHRASE", Sshd::KEY_PASSPHRASE)],
            0,
        ),
        (
            "wrong password",
            Auth::InlinePassword(WRONG_PASSWORD.to_owned()),
            vec![],
            1,
        ),
        (
            "wrong password from the environment",
            Auth::PasswordEnv("FAULTS_SFTP_PASSWORD".to_owned()),
            vec![("FAULTS_SFTP_PASSWORD", WRONG_PASSWORD)],
            1,
        ),
        (
            "wrong passphrase",
            key_pass(Some("FAULTS_KEY_PASSPHRASE")),
            vec![("FAULTS_KEY_PASSPHRASE", WRONG_PASSPHRASE)],
            1,
        ),
        (
            "passphrase variable not set",
            key_pass(Some("FAULTS_KEY_PASSPHRASE_UNSET")),
            vec![],
            2,
        ),
    ];
    for (i, (case, auth, env, expected)) in cases.into_iter().enumerate() {
        let remote = sshd.upload_dir(&format!("uploads-{i}"));
        let dir = tempfile::tempdir().unwrap();
        fs::copy(
            members.path().join("members.ndjson"),
            dir.path().join("members.ndjson"),
        )
        .unwrap();
        let config = TestConfig::over_sftp(&sshd, sshd.port, &remote)
            .auth(auth)
            .encrypt(true)
            .write(dir.path());
        let state = dir.path().join("state");
        let report = dir.path().join("report.json");

        let check = traced(&config, &["check"], &env).output().unwrap();
        let run = traced(&config, &["run"], &env)
            .args(["--date", "2026-05-01", "--report"])
            .arg(&report)
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(expected),
            "{case}: check: {}{}",
            text(&check.stdout),
            text(&check.stderr)
        );
        assert_eq!(
            run.status.code(),
            Some(expected),
            "{case}: run: {}{}",
            text(&run.stdout),
            text(&run.stderr)
        );
        if expected == 0 {
            assert_eq!(names_in_or_empty(&remote).len(), 2, "{case}");
            assert!(text(&run.stderr).contains("INFO"), "{case}: logging is on");
        } else {
            assert!(names_in_or_empty(&remote).is_empty(), "{case}");
            // The failure says what is wrong.
            let said = text(&run.stdout) + &text(&run.stderr);
            assert!(
                said.contains("authenticat")
                    || said.contains("private key")
                    || said.contains("private_key_passphrase_env: the environment variable"),
                "{case}: {said}"
            );
        }
        let mut sources = outputs(&run, Some(&report), &state);
        for (label, bytes) in outputs(&check, None, &state) {
            sources.push((format!("check {label}"), bytes));
        }
        for (label, bytes) in &sources {
            for secret in &secrets {
                assert!(
                    !contains(bytes, secret),
                    "{case}: {label} contains the secret {secret:?}:\n{}",
                    text(bytes)
                );
            }
        }

        // Debug of the configuration and of the connector (built when its secrets come from
        // the file: environment variables cannot be set in this process without `unsafe`).
        let loaded = liveramp_connector::Config::load(&config).unwrap();
        let mut debug = vec![format!("{loaded:?}\n{loaded:#?}")];
        if let Ok(connector) = liveramp_connector::Connector::new(loaded) {
            debug.push(format!("{connector:?}\n{connector:#?}"));
        }
        let debug = debug.concat();
        for secret in &secrets {
            assert!(!debug.contains(secret), "{case}: Debug shows {secret:?}");
        }
    }
}

/// The raw emails and phones of the members (as given, trimmed) and their normalised forms.
fn pii_needles(members: &Path) -> BTreeSet<String> {
    let mut emails = Vec::new();
    let mut phones = Vec::new();
    let mut mpids = BTreeSet::new();
    for line in fs::read_to_string(members).unwrap().lines() {
        let Ok(profile) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(id) = profile["mpid"].as_str() {
            mpids.insert(id.to_owned());
        }
        let value = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(ids) = profile["user_identities"].as_array() {
            for id in ids {
                if id["encoding"].as_str().unwrap_or("raw") != "raw" {
                    continue;
                }
                let Some(v) = value(&id["value"]) else {
                    continue;
                };
                match id["type"].as_str().unwrap_or("") {
                    "email" => emails.push(v),
                    "mobile_number" | "phone_number_2" | "phone_number_3" => phones.push(v),
                    _ => {}
                }
            }
        }
        if let Some(v) = value(&profile["user_attributes"]["$Mobile"]) {
            phones.push(v);
        }
    }
    let normalise = |kind: &str, values: &[String]| -> Vec<String> {
        let mut child = liveramp!()
            .args(["normalize", kind])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input: String = values.iter().flat_map(|v| [v.as_str(), "\n"]).collect();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        text(&out.stdout).lines().map(str::to_owned).collect()
    };
    let mut needles = BTreeSet::new();
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).count();
    for (raw, normalised) in emails.iter().zip(normalise("email", &emails)) {
        if raw.trim().len() >= 6 {
            needles.insert(raw.trim().to_owned());
        }
        if !normalised.is_empty() {
            needles.insert(normalised);
        }
    }
    for (raw, normalised) in phones.iter().zip(normalise("phone", &phones)) {
        if digits(raw) >= 7 {
            needles.insert(raw.trim().to_owned());
        }
        if !normalised.is_empty() {
            needles.insert(normalised);
        }
    }
    // A member id is not an email or phone, and may legitimately be logged.
    needles.retain(|n| !mpids.contains(n));
    needles
}

/// Lines whose email or phone values a JSON reader would quote in its error message.
const HOSTILE: &[(&str, &str)] = &[
    (
        r#"{"mpid":"h1","user_identities":"leak.one@example.com"}"#,
        "leak.one@example.com",
    ),
    (
        r#"{"mpid":"h2","user_identities":5551239876}"#,
        "5551239876",
    ),
    (
        r#"{"mpid":"h3","user_identities":[{"type":"email","encoding":"raw","value":"leak.two@example.com"}],"device_identities":{"x":"leak.three@example.com"}}"#,
        "leak.three@example.com",
    ),
    (
        r#"{"mpid":"h4","user_identities":[{"type":"email","encoding":"sha256","value":"leak.four@example.com"}]}"#,
        "leak.four@example.com",
    ),
    (
        r#"{"mpid":"h5","user_attributes":{"$Mobile":["+1 (555) 987-1111"]}}"#,
        "987-1111",
    ),
    (
        r#"{"mpid":"h6","user_identities":[{"type":"email","encoding":"raw","value":"leak.six@example.com"}],"user_attributes":"+1 555 987 2222"}"#,
        "987 2222",
    ),
];

/// Hashing on, encryption on, tracing at `trace`: the delivered files (decrypted with `gpg`),
/// stdout, stderr, the report and the state folder hold no raw or normalised email or phone,
/// including those of malformed lines a JSON reader would quote.
#[test]
fn with_hashing_on_no_raw_or_normalised_email_or_phone_reaches_any_file_log_or_report() {
    let sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    let dir = tempfile::tempdir().unwrap();
    let members = dir.path().join("members.ndjson");
    members::write_file(&members, 400, 22);
    {
        let mut file = fs::OpenOptions::new().append(true).open(&members).unwrap();
        for (line, _) in HOSTILE {
            writeln!(file, "{line}").unwrap();
        }
    }
    let mut needles = pii_needles(&members);
    for (_, needle) in HOSTILE {
        needles.insert((*needle).to_owned());
    }
    assert!(needles.len() > 500, "{} needles", needles.len());

    let config = TestConfig::over_sftp(&sshd, sshd.port, &remote)
        .encrypt(true)
        .hash(true)
        .write(dir.path());
    let state = dir.path().join("state");
    let report = dir.path().join("report.json");
    let run = traced(&config, &["run"], &[])
        .args(["--date", "2026-06-01", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert!(
        json[0]["malformed_members"].as_u64().unwrap() >= 3,
        "the hostile lines are reported: {json:#}"
    );

    let gpg = Gpg::with_demo_secret_key();
    let mut sources = outputs(&run, Some(&report), &state);
    for name in names_in_or_empty(&remote) {
        let plain = gpg.decrypt_file(&remote.join(&name));
        assert!(
            text(&plain).lines().count() > 25,
            "{name} decrypts to the rows"
        );
        sources.push((format!("decrypted {name}"), plain));
    }
    assert_eq!(
        sources
            .iter()
            .filter(|(l, _)| l.starts_with("decrypted"))
            .count(),
        2
    );
    for (label, bytes) in &sources {
        let haystack = text(bytes);
        for needle in &needles {
            assert!(
                !haystack.contains(needle.as_str()),
                "{label} contains {needle:?}"
            );
        }
    }
}

fn looks_like_plaintext_csv(head: &[u8]) -> bool {
    let head = text(head);
    head.starts_with("DEVICE_ID") || head.starts_with("FIRSTNAME") || head.starts_with("EMAIL")
}

/// Files holding plaintext PII are 0600, only in the spool folder, and removed after success
/// and after failure; with encryption on, every file the run creates (spool, state folder,
/// `TMPDIR`) holds only OpenPGP data. The connector's spool guard also removes files on a
/// panic (a drop guard); no input makes the binary panic, so that path is not driven here.
#[test]
fn temporary_files_are_private_removed_and_never_plaintext_with_encryption_on() {
    let mut sshd = Sshd::start();
    let throttle = Throttle::start(sshd.port, 1_000_000);
    let members = tempfile::tempdir().unwrap();
    members::write_file(&members.path().join("members.ndjson"), 3000, 23);
    // (case, encryption, how the upload ends: 0 delivered, 1 server killed mid-upload with
    // no retries left, 2 remote folder missing)
    for (case, encrypt, ending) in [
        ("plaintext, delivered", false, 0),
        ("plaintext, server killed mid-upload", false, 1),
        ("plaintext, remote folder missing", false, 2),
        ("encrypted, delivered", true, 0),
    ] {
        let remote = if ending == 2 {
            sshd.dir.path().join("no-such-folder")
        } else {
            sshd.upload_dir(&format!("uploads-{case}").replace([' ', ','], "-"))
        };
        let dir = tempfile::tempdir().unwrap();
        fs::copy(
            members.path().join("members.ndjson"),
            dir.path().join("members.ndjson"),
        )
        .unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let config = TestConfig::over_sftp(&sshd, throttle.port, &remote)
            .encrypt(encrypt)
            .retry(Retry::new(1, "10ms", "10ms").without_jitter())
            .write(dir.path());
        let state = dir.path().join("state");
        let watcher = FileWatcher::start(vec![state.clone(), tmp.clone()]);
        let child = liveramp!()
            .args(["run", "--config"])
            .arg(&config)
            .args(["--date", "2026-07-01"])
            .env("TMPDIR", &tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if ending == 1 {
            let uploading = wait_until(Duration::from_secs(60), Duration::from_millis(1), || {
                names_in_or_empty(&remote).iter().any(|n| {
                    n.starts_with('.')
                        && fs::metadata(remote.join(n)).is_ok_and(|m| m.len() >= 50_000)
                })
            });
            sshd.stop();
            assert!(uploading, "{case}: no upload started");
        }
        let out = child.wait_with_output().unwrap();
        if ending == 1 {
            sshd.restart();
        }
        let seen = watcher.stop();
        let said = text(&out.stdout) + &text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(i32::from(ending != 0)),
            "{case}: {said}"
        );
        let spool = state.join("spool");
        let spooled: Vec<(&PathBuf, &(u32, Vec<u8>))> =
            seen.iter().filter(|(p, _)| p.starts_with(&spool)).collect();
        // (A missing folder may be found before anything is spooled.)
        assert!(
            ending == 2 || !spooled.is_empty(),
            "{case}: the watcher saw the spool files"
        );
        for (path, (mode, head)) in &seen {
            let name = path.file_name().unwrap().to_string_lossy();
            if name == "ledger.jsonl" || name.ends_with(".lock") {
                continue;
            }
            // The saved delivery reports (counts, names and digests) are the one other
            // thing a delivery writes; they are JSON, private, and never member data.
            if path.starts_with(state.join("reports")) {
                assert_eq!(*mode, 0o600, "{case}: {} mode {mode:o}", path.display());
                assert!(
                    head.is_empty() || head[0] == b'{',
                    "{case}: {} is not a JSON report: {:?}",
                    path.display(),
                    String::from_utf8_lossy(head)
                );
                continue;
            }
            assert!(
                path.starts_with(&spool),
                "{case}: {} is outside the spool",
                path.display()
            );
            assert_eq!(*mode, 0o600, "{case}: {} mode {mode:o}", path.display());
            if encrypt {
                assert!(
                    head.is_empty() || (head[0] & 0x80 != 0 && !looks_like_plaintext_csv(head)),
                    "{case}: {} is not OpenPGP data: {:?}",
                    path.display(),
                    text(head)
                );
            }
        }
        assert!(
            names_in_or_empty(&spool).is_empty(),
            "{case}: left in the spool: {:?}",
            names_in_or_empty(&spool)
        );
        assert!(names_in_or_empty(&tmp).is_empty(), "{case}: left in TMPDIR");
    }
}

/// `kill -9` leaves no chance to clean up: a run killed while building leaves its spool files
/// (plaintext here, `0600`). The next delivery of the same stream removes them, even when it
/// is for another night (the killed night may never be delivered again).
#[test]
fn spool_files_left_by_kill9_are_removed_by_the_next_delivery_of_another_night() {
    let sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    let dir = tempfile::tempdir().unwrap();
    members::write_file(&dir.path().join("members.ndjson"), 3000, 24);
    let config = TestConfig::over_sftp(&sshd, sshd.port, &remote).write(dir.path());
    let spool = dir.path().join("state").join("spool");
    let mut child = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-08-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let building = wait_until(Duration::from_secs(60), Duration::from_millis(1), || {
        names_in_or_empty(&spool).len() == 2
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(building, "the spool files never appeared");
    let left = names_in_or_empty(&spool);
    assert_eq!(
        left,
        [
            "3242_17095-D_2026-08-01.csv",
            "3242_17095-PII_2026-08-01.csv"
        ]
    );
    for name in &left {
        let permissions = fs::metadata(spool.join(name)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&permissions) & 0o777,
            0o600
        );
    }

    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-08-02"])
        .env("LIVERAMP_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("left by a delivery that did not finish"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(names_in_or_empty(&spool), Vec::<String>::new());
    assert_eq!(
        names_in_or_empty(&remote),
        [
            "3242_17095-D_2026-08-02.csv",
            "3242_17095-PII_2026-08-02.csv"
        ]
    );
}
