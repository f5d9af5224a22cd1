//! Crashes and faults against the real OpenSSH `sshd` on 127.0.0.1, through the `liveramp`
//! binary: `kill -9` at many points of a delivery, the server killed and restarted mid-upload,
//! a full file system under the state folder, and SIGTERM during the daemon's delivery.
//!
//! Every test checks what an outsider sees: the remote folder (a file under its final name is
//! always complete: its SHA-256 equals that of the same audience built by `--dry-run`), the
//! ledger journal `state/ledger.jsonl` (always parseable; a delivery it records as done is on
//! the server), the report and the exit code. Encryption is off in these tests so the bytes are
//! deterministic and comparable with a local build (the hygiene tests cover encryption).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use liveramp_test_support::config::{Retry, TestConfig};
use liveramp_test_support::files::{
    Tmpfs, delivered_files, ledger_entries, names_in_or_empty, sha256_file, wait_until,
};
use liveramp_test_support::net::Throttle;
use liveramp_test_support::process::signal;
use liveramp_test_support::sshd::Sshd;
use liveramp_test_support::{liveramp, members, text};

/// Members per test audience: about 1.4 MB of PII CSV and 0.2 MB of device CSV.
const MEMBERS: u64 = 8000;

/// The two final names of a run date.
fn finals(date: &str) -> [String; 2] {
    [
        format!("3242_17095-D_{date}.csv"),
        format!("3242_17095-PII_{date}.csv"),
    ]
}

/// SHA-256 of the device and PII files as `--dry-run` builds them (their bytes do not depend
/// on the run date; with encryption and gzip off they are exactly what is uploaded).
struct Reference {
    device: String,
    pii: String,
}

impl Reference {
    fn build(config: &Path, state: &Path) -> Reference {
        let out = liveramp!()
            .args(["run", "--dry-run", "--config"])
            .arg(config)
            .args(["--date", "2000-01-01"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let dir = state.join("dry-run");
        let [d, p] = finals("2000-01-01");
        let reference = Reference {
            device: sha256_file(&dir.join(d)),
            pii: sha256_file(&dir.join(p)),
        };
        fs::remove_dir_all(dir).unwrap();
        reference
    }

    fn of(&self, name: &str) -> &str {
        if name.contains("-PII_") {
            &self.pii
        } else {
            &self.device
        }
    }
}

/// The invariants that hold whatever happened: every file under a final name in `remote` is
/// complete; the journal parses (only its last line may be torn); every file the journal
/// records as delivered is on the server with the recorded SHA-256.
fn check_invariants(remote: &Path, state: &Path, reference: &Reference, when: &str) {
    for name in names_in_or_empty(remote) {
        if name.starts_with('.') {
            continue;
        }
        assert_eq!(
            sha256_file(&remote.join(&name)),
            reference.of(&name),
            "{when}: {name} is on the server under its final name but is not complete"
        );
    }
    let (entries, _torn) = ledger_entries(state);
    for (name, (_, sha)) in delivered_files(&entries) {
        let path = remote.join(&name);
        assert!(
            path.exists(),
            "{when}: the ledger records {name} as delivered but it is not on the server"
        );
        assert_eq!(sha256_file(&path), sha, "{when}: {name}");
    }
}

/// Runs `liveramp run` to completion for `date`; asserts exit 0.
fn run_ok(config: &Path, date: &str, report: Option<&Path>) -> String {
    let mut command = liveramp!();
    command
        .args(["run", "--config"])
        .arg(config)
        .args(["--date", date]);
    if let Some(report) = report {
        command.arg("--report").arg(report);
    }
    let out = command.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "run {date}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn spawn_run(config: &Path, date: &str) -> Child {
    liveramp!()
        .args(["run", "--config"])
        .arg(config)
        .args(["--date", date])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A small deterministic generator for the kill delays (the seed is printed on failure).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the start.
    Delay(Duration),
    /// As soon as an upload's temporary file is on the server.
    UploadStarted,
    /// As soon as a temporary file on the server holds at least this many bytes.
    UploadedBytes(u64),
    /// As soon as the first file is under its final name.
    FirstPublished,
}

fn remote_part_bytes(remote: &Path) -> Option<u64> {
    names_in_or_empty(remote)
        .iter()
        .filter(|n| n.starts_with('.'))
        .filter_map(|n| fs::metadata(remote.join(n)).ok())
        .map(|m| m.len())
        .max()
}

/// `kill -9` of `liveramp run` at many points of deliveries, each on its own run date: after
/// each kill the server holds no partial file under a final name and the journal is consistent;
/// the next run completes the delivery; at the end each file was delivered exactly once, no
/// temporary file is left on the server, and no spooled file (plaintext here) is left locally.
#[test]
fn kill9_at_many_points_never_publishes_a_partial_file_and_the_next_run_completes() {
    let mut sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    // 800 kB/s: the upload phase lasts about as long as the build phase.
    let throttle = Throttle::start(sshd.port, 800_000);
    let dir = tempfile::tempdir().unwrap();
    members::write_file(&dir.path().join("members.ndjson"), 5000, 11);
    let config = TestConfig::over_sftp(&sshd, throttle.port, &remote).write(dir.path());
    let state = dir.path().join("state");
    let reference = Reference::build(&config, &state);

    // An uninterrupted delivery: how long one takes, and that it matches the local build.
    let started = Instant::now();
    run_ok(&config, "2026-01-01", None);
    let whole = started.elapsed();
    for name in finals("2026-01-01") {
        assert_eq!(sha256_file(&remote.join(&name)), reference.of(&name));
    }

    let mut seed = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_007,
    )
    .unwrap()
        | 1;
    let initial_seed = seed;
    let mut points: Vec<KillAt> = [0.1, 0.3, 0.5, 0.65, 0.8]
        .iter()
        .map(|f| {
            let jitter = (next(&mut seed) % 50) as f64 / 1000.0; // 0..5% of the run
            KillAt::Delay(whole.mul_f64(f + jitter))
        })
        .collect();
    points.extend([
        KillAt::UploadStarted,
        KillAt::UploadedBytes(300_000),
        KillAt::UploadedBytes(600_000),
        KillAt::FirstPublished,
    ]);

    let mut killed_mid_upload = 0;
    let mut dates = vec!["2026-01-01".to_owned()];
    for (i, point) in points.iter().enumerate() {
        let date = format!("2026-02-{:02}", i + 1);
        dates.push(date.clone());
        let when = format!("kill -9 at {point:?} of run {date} (seed {initial_seed})");
        let mut child = spawn_run(&config, &date);
        let started = Instant::now();
        let reached = wait_until(Duration::from_secs(60), Duration::from_millis(1), || {
            // A run that finished before the point was reached is simply not killed.
            child.try_wait().ok().flatten().is_some()
                || match *point {
                    KillAt::Delay(d) => started.elapsed() >= d,
                    KillAt::UploadStarted => remote_part_bytes(&remote).is_some(),
                    KillAt::UploadedBytes(n) => remote_part_bytes(&remote).is_some_and(|b| b >= n),
                    KillAt::FirstPublished => finals(&date).iter().any(|n| remote.join(n).exists()),
                }
        });
        let exited_before = child.try_wait().unwrap().is_some();
        let part = remote_part_bytes(&remote);
        let published = finals(&date)
            .iter()
            .filter(|n| remote.join(n).exists())
            .count();
        if part.is_some() {
            killed_mid_upload += 1;
        }
        let _ = child.kill();
        eprintln!(
            "{when}: after {:?}, {published} file(s) published, upload in progress: {part:?}{}",
            started.elapsed(),
            if exited_before {
                " (had already exited)"
            } else {
                ""
            }
        );
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(reached || exited_before, "{when}: never reached: {stderr}");
        assert!(
            exited_before || status.code().is_none(),
            "{when}: {status} {stderr}"
        );
        check_invariants(&remote, &state, &reference, &when);

        // The next run completes the delivery.
        run_ok(&config, &date, None);
        for name in finals(&date) {
            assert_eq!(
                sha256_file(&remote.join(&name)),
                reference.of(&name),
                "{when}: after the next run"
            );
        }
        check_invariants(&remote, &state, &reference, &format!("{when}, next run"));
    }
    assert!(
        killed_mid_upload >= 2,
        "only {killed_mid_upload} kills landed during an upload (seed {initial_seed})"
    );

    // Each file delivered exactly once, nothing else on the server or in the spool.
    let (entries, torn) = ledger_entries(&state);
    assert!(!torn);
    let delivered = delivered_files(&entries);
    let mut expected: Vec<String> = dates.iter().flat_map(|d| finals(d)).collect();
    expected.sort();
    assert_eq!(
        names_in_or_empty(&remote),
        expected,
        "no temporary file left"
    );
    assert_eq!(delivered.keys().cloned().collect::<Vec<_>>(), expected);
    for (name, (times, _)) in &delivered {
        assert_eq!(*times, 1, "{name} delivered {times} times");
    }
    assert_eq!(
        names_in_or_empty(&state.join("spool")),
        Vec::<String>::new(),
        "spooled plaintext left behind"
    );
    drop(throttle);
    sshd.stop();
}

/// The server is killed (listener and per-connection processes) while a file is being
/// uploaded, and restarted on the same port: the retry policy reconnects and completes the
/// delivery; the report shows more than one attempt.
#[test]
fn sshd_killed_mid_upload_and_restarted_the_retry_completes_the_delivery() {
    let mut sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    let throttle = Throttle::start(sshd.port, 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    members::write_file(&dir.path().join("members.ndjson"), MEMBERS, 12);
    let config = TestConfig::over_sftp(&sshd, throttle.port, &remote)
        .retry(Retry::new(6, "300ms", "1s").without_jitter())
        .write(dir.path());
    let state = dir.path().join("state");
    let reference = Reference::build(&config, &state);
    let report = dir.path().join("report.json");

    let mut child = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-03-01", "--report"])
        .arg(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let uploading = wait_until(Duration::from_secs(60), Duration::from_millis(1), || {
        remote_part_bytes(&remote).is_some_and(|b| b >= 100_000)
    });
    assert!(uploading, "no upload started");
    sshd.stop();
    std::thread::sleep(Duration::from_millis(200));
    sshd.restart();
    let out = {
        let finished = wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
            child.try_wait().unwrap().is_some()
        });
        if !finished {
            let _ = child.kill();
        }
        child.wait_with_output().unwrap()
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        sshd.log_text()
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let files = json[0]["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["status"] == "delivered"), "{json:#}");
    assert!(
        files.iter().any(|f| f["attempts"].as_u64().unwrap() > 1),
        "no file needed a second attempt: {json:#}"
    );
    assert!(
        text(&out.stderr).contains("retrying"),
        "the retry is logged: {}",
        text(&out.stderr)
    );
    assert_eq!(names_in_or_empty(&remote), finals("2026-03-01"));
    check_invariants(&remote, &state, &reference, "after the restart");
    let (entries, _) = ledger_entries(&state);
    assert_eq!(delivered_files(&entries).len(), 2);
}

/// Fills `dir`'s file system: writes a filler file until the disk is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        if file.write_all(&block).is_err() {
            break;
        }
    }
    // Fill the last partial block too.
    while file.write_all(&[0u8]).is_ok() {}
    path
}

/// The state folder (ledger and spool) on a small `tmpfs`: a file that does not fit fails with
/// an error naming the folder and what to do; the journal stays parseable. A journal append
/// cut short by the full disk leaves a torn last line that the next run sets aside. After the
/// file system grows, the same deliveries succeed.
#[test]
fn full_state_filesystem_fails_clearly_and_keeps_the_ledger_sound() {
    let sshd = Sshd::start();
    let remote = sshd.upload_dir("uploads");
    let small = Tmpfs::mount("512k");
    let dir = tempfile::tempdir().unwrap();
    members::write_file(&dir.path().join("members.ndjson"), MEMBERS, 13);
    let config = TestConfig::over_sftp(&sshd, sshd.port, &remote)
        .state_dir(&small.path.display().to_string())
        .write(dir.path());
    small.resize("64m");
    let reference = Reference::build(&config, &small.path);
    small.resize("512k");

    // 1. The spool does not fit (the PII file is ~1.4 MB, the folder 512 KiB).
    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-04-01"])
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&small.path.display().to_string()),
        "the error names the folder: {all}"
    );
    assert!(all.contains("No space left on device"), "{all}");
    eprintln!("disk full: {all}");
    assert!(
        names_in_or_empty(&small.path.join("spool")).is_empty(),
        "the unfinished spool file is removed"
    );
    let (entries, torn) = ledger_entries(&small.path);
    assert!(!torn, "{all}");
    assert!(
        entries.iter().any(|e| e["event"] == "failed"),
        "{entries:?}"
    );
    // The small device file may fit and be delivered; the PII file is not.
    assert!(
        !delivered_files(&entries)
            .keys()
            .any(|n| n.contains("-PII_"))
    );
    check_invariants(&remote, &small.path, &reference, "disk full");

    // 2. Roomy again: the same night is delivered.
    small.resize("64m");
    run_ok(&config, "2026-04-01", None);
    assert_eq!(names_in_or_empty(&remote), finals("2026-04-01"));

    // 3. A journal append cut short: pad the journal (with a blank line, which readers skip)
    // so 40 bytes are left in its last page, then fill the disk.
    let journal = small.path.join("ledger.jsonl");
    let len = fs::metadata(&journal).unwrap().len();
    let pad = (4096 - 40 - len % 4096 + 4096) % 4096;
    let mut padding = " ".repeat(usize::try_from(pad).unwrap().saturating_sub(1));
    padding.push('\n');
    fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .and_then(|mut f| std::io::Write::write_all(&mut f, padding.as_bytes()))
        .unwrap();
    let filler = fill(&small.path);
    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-04-02"])
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(&journal.display().to_string()), "{all}");
    assert!(all.contains("No space left on device"), "{all}");
    eprintln!("journal full: {all}");
    let (entries, torn) = ledger_entries(&small.path);
    assert!(torn, "the append was cut short mid-line");
    assert!(delivered_files(&entries).len() == 2, "{entries:?}");
    check_invariants(&remote, &small.path, &reference, "journal full");

    // 4. Space again: the torn line is set aside, the night is delivered, the journal parses.
    fs::remove_file(filler).unwrap();
    run_ok(&config, "2026-04-02", None);
    let (entries, torn) = ledger_entries(&small.path);
    assert!(!torn);
    assert_eq!(
        fs::read(small.path.join("ledger.jsonl.torn"))
            .unwrap()
            .len(),
        41,
        "the 40 torn bytes were set aside"
    );
    let delivered = delivered_files(&entries);
    let mut expected: Vec<String> = finals("2026-04-01")
        .into_iter()
        .chain(finals("2026-04-02"))
        .collect();
    expected.sort();
    assert_eq!(delivered.keys().cloned().collect::<Vec<_>>(), expected);
    assert_eq!(names_in_or_empty(&remote), expected);
    check_invariants(&remote, &small.path, &reference, "space again");
    drop(small);
}

/// SIGTERM while `liveramp daemon` delivers (once early, once during an upload): it stops
/// within a bounded time with exit code 0; every attempt it started has its outcome in the
/// journal; nothing partial is under a final name on the server.
#[test]
fn sigterm_during_daemon_delivery_stops_cleanly_and_records_the_outcome() {
    let sshd = Sshd::start();
    let throttle = Throttle::start(sshd.port, 1_000_000);
    for (case, remote_name) in [("early", "early"), ("uploading", "uploading")] {
        let remote = sshd.upload_dir(remote_name);
        let dir = tempfile::tempdir().unwrap();
        members::write_file(&dir.path().join("members.ndjson"), MEMBERS, 14);
        let config = TestConfig::over_sftp(&sshd, throttle.port, &remote).write(dir.path());
        let state = dir.path().join("state");
        let reference = Reference::build(&config, &state);
        let mut child = liveramp!()
            .args(["daemon", "--config"])
            .arg(&config)
            .env("LIVERAMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let reached = wait_until(Duration::from_secs(60), Duration::from_millis(1), || {
            if case == "early" {
                !names_in_or_empty(&state.join("spool")).is_empty()
                    || remote_part_bytes(&remote).is_some()
            } else {
                // The PII file (the larger one) is a fifth uploaded.
                names_in_or_empty(&remote).iter().any(|n| {
                    n.starts_with(".3242_17095-PII_")
                        && fs::metadata(remote.join(n)).is_ok_and(|m| m.len() >= 300_000)
                })
            }
        });
        signal(child.id(), "TERM");
        let signalled = Instant::now();
        let stopped = wait_until(Duration::from_secs(30), Duration::from_millis(20), || {
            child.try_wait().unwrap().is_some()
        });
        if !stopped {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(reached, "{case}: the delivery never started: {stderr}");
        assert!(stopped, "{case}: not stopped 30 s after SIGTERM: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{case}: {stderr}");
        eprintln!("{case}: stopped {:?} after SIGTERM", signalled.elapsed());
        for e in &ledger_entries(&state).0 {
            eprintln!("  {} {} {}", e["data_type"], e["event"], e["error"]);
        }

        check_invariants(&remote, &state, &reference, case);
        // Every started attempt has an outcome.
        let (entries, torn) = ledger_entries(&state);
        assert!(!torn, "{case}");
        let mut open: BTreeMap<(String, String), i32> = BTreeMap::new();
        for e in &entries {
            let key = (
                e["data_type"].as_str().unwrap().to_owned(),
                e["run_date"].as_str().unwrap().to_owned(),
            );
            *open.entry(key).or_default() += if e["event"] == "started" { 1 } else { -1 };
        }
        assert!(!entries.is_empty(), "{case}: nothing recorded: {stderr}");
        assert!(
            open.values().all(|n| *n == 0),
            "{case}: an attempt without an outcome: {entries:#?}\n{stderr}"
        );
        assert!(
            names_in_or_empty(&state.join("spool")).is_empty(),
            "{case}: spooled files left: {:?}",
            names_in_or_empty(&state.join("spool"))
        );
    }
}
