//! The `liveramp` binary: exit codes, messages and outputs, run as a real process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use liveramp_test_support::files::{names_in_or_empty, wait_until};
use liveramp_test_support::{demo_dir, liveramp, members, text};

fn with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A copy of the demo configuration with `count` generated members, in a temporary folder.
fn demo_copy(count: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["connector.toml", "demo-public-key.asc"] {
        fs::copy(demo_dir().join(name), dir.path().join(name)).unwrap();
    }
    members::write_file(&dir.path().join("members.ndjson"), count, 3);
    dir
}

#[test]
fn schedule_prints_run_date_utc_instant_and_local_time_across_dst() {
    let out = liveramp!()
        .args(["schedule", "--config"])
        .arg(demo_dir().join("connector.toml"))
        .args(["--after", "2026-03-07T12:00:00Z", "--count", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "2026-03-08 2026-03-08T05:00:00Z 2026-03-08T00:00:00-05:00\n\
         2026-03-09 2026-03-09T04:00:00Z 2026-03-09T00:00:00-04:00\n\
         2026-03-10 2026-03-10T04:00:00Z 2026-03-10T00:00:00-04:00\n"
    );
    let out = liveramp!()
        .args(["schedule", "--config"])
        .arg(demo_dir().join("connector.toml"))
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).lines().count(), 5);
}

#[test]
fn normalize_prints_values_and_explains_rejections() {
    let mut command = liveramp!();
    command.args(["normalize", "email", "--explain"]);
    let out = with_stdin(
        command,
        " MyName@LiveRamp.com \nno-at-sign\nJane.Doe+x@Example.com\n",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "1\tok\tmyname@liveramp.com\ttrimmed, lower-cased\n\
         2\trejected\temail.no_at\n\
         3\tok\tjane.doe+x@example.com\tlower-cased\n"
    );
    assert_eq!(text(&out.stderr), "");

    let mut command = liveramp!();
    command.args(["normalize", "phone", "--explain", "--hash", "sha1"]);
    let out = with_stdin(command, "+1 (212) 555-0143\n2125550143\n12\n");
    assert_eq!(
        text(&out.stdout),
        "1\tok\t642a995e9ac252a0543d2f07470c3935b53b2989\t+1 removed, punctuation removed, \
         spaces removed; sha1 of 2125550143\n\
         2\tok\t642a995e9ac252a0543d2f07470c3935b53b2989\tunchanged; sha1 of 2125550143\n\
         3\trejected\tphone.unparsable\n"
    );

    // Without --explain: one line of output per line of input, empty where rejected.
    let mut command = liveramp!();
    command.args(["normalize", "email"]);
    let out = with_stdin(command, " MyName@LiveRamp.com \nno-at-sign\n");
    assert_eq!(text(&out.stdout), "myname@liveramp.com\n\n");

    let mut command = liveramp!();
    command.args(["normalize", "phone", "--hash", "sha1"]);
    let out = with_stdin(command, "+1 (212) 555-0143\n");
    assert_eq!(
        text(&out.stdout),
        "642a995e9ac252a0543d2f07470c3935b53b2989\n"
    );

    let mut command = liveramp!();
    command.args(["normalize", "idfa"]);
    let out = with_stdin(
        command,
        "00000000-0000-0000-0000-000000000000\n6d92078a82464ba4ae5b76104861e7dc\n",
    );
    assert_eq!(
        text(&out.stdout),
        "\n6D92078A-8246-4BA4-AE5B-76104861E7DC\n"
    );
    assert_eq!(text(&out.stderr), "", "no reasons without --explain");

    let mut command = liveramp!();
    command.args(["normalize", "email", "--hash", "sha512"]);
    let out = with_stdin(command, "a@b.co\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: unknown hash algorithm \"sha512\": use md5, sha1 or sha256\n"
    );
}

#[test]
fn usage_errors_and_invalid_configurations_exit_2() {
    let out = liveramp!().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = liveramp!()
        .args(["normalize", "shoe-size"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    fs::write(
        &config,
        "configuration_name = \"x\"\norg_id = \"1\"\n[sftp]\nurl = \"files.liveramp.com\"\nport = \"22x\"\nusername = \"a\"\npassword_env = \"P\"\nhost_key_fingerprint = \"SHA256:x\"\n[data]\nsend_pii = true\n[schedule]\ntimezone = \"Mars/Base\"\n",
    )
    .unwrap();
    for command in ["run", "check", "schedule", "daemon"] {
        let out = liveramp!()
            .args([command, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "error: configuration {} is invalid (2 problems; fix them and run again):\n  \
                 - sftp.port: \"22x\" is not a port number\n  \
                 - schedule.timezone: unknown timezone \"Mars/Base\": use an IANA zone name such as \"America/New_York\" (US Eastern, EST/EDT) or \"EST\" (UTC-5 all year)\n",
                config.display()
            ),
            "{command}"
        );
    }
    let out = liveramp!()
        .args(["run", "--config"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read the file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_delivers_then_skips_then_forces_with_a_json_report() {
    let dir = demo_copy(300);
    let config = dir.path().join("connector.toml");
    let report = dir.path().join("report.json");
    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-11-28", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "audience 17095 (High-value customers), run date 2026-11-28: 300 members\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  3242_17095-D_2026-11-28.csv.gpg -> segment \"High-value customers-D\": delivered\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("  3242_17095-PII_2026-11-28.csv.gpg -> segment \"High-value customers-PII\": delivered\n"), "{stdout}");
    assert!(
        dir.path()
            .join("out/3242_17095-PII_2026-11-28.csv.gpg")
            .exists()
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json[0]["audience_id"], "17095");
    assert_eq!(
        json[0]["files"][1]["name"],
        "3242_17095-PII_2026-11-28.csv.gpg"
    );
    assert_eq!(json[0]["files"][1]["status"], "delivered");

    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-11-28", "--audience", "17095"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("already delivered (skipped; --force to resend)"));

    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--date", "2026-11-28", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).matches(": delivered\n").count(), 2);

    let out = liveramp!()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--audience", "999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: audience \"999\" is not in"));
}

#[test]
fn dry_run_prints_first_rows_and_uploads_nothing() {
    let dir = demo_copy(100);
    let out = liveramp!()
        .args(["run", "--dry-run", "--config"])
        .arg(dir.path().join("connector.toml"))
        .args(["--date", "2026-11-28"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("    | DEVICE_ID,ID_TYPE\n"), "{stdout}");
    assert!(stdout.contains("    | FIRSTNAME,LASTNAME,CITY,STATE,ZIP,COUNTRY,EMAIL1_MD5,EMAIL1_SHA-1,EMAIL1_SHA-256,PHONE1_SHA-1,PHONE2_SHA-1\n"), "{stdout}");
    assert!(
        !dir.path().join("out").exists()
            || fs::read_dir(dir.path().join("out")).unwrap().count() == 0
    );
}

#[test]
fn a_failed_delivery_exits_1() {
    // 10 members: both files are under LiveRamp's 25-row minimum, so nothing is uploaded.
    let dir = demo_copy(10);
    let out = liveramp!()
        .args(["run", "--config"])
        .arg(dir.path().join("connector.toml"))
        .args(["--date", "2026-11-28"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("NOT uploaded (under 25 rows)"), "{stdout}");
    // The refusal is said once per file (as its error, never again as a warning), with the
    // key to set and where it goes.
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains("error:")).collect();
    let rows = |name: &str| {
        let reason = "fewer than LiveRamp's minimum of 25: LiveRamp would not process it, so \
                      it was not uploaded (to send it anyway, set `allow_small_files = true` at \
                      the top level of the configuration, before any [section])";
        format!("    error: {name}, {reason}")
    };
    assert_eq!(
        errors,
        [
            rows("3242_17095-D_2026-11-28.csv.gpg has 7 rows"),
            rows("3242_17095-PII_2026-11-28.csv.gpg has 9 rows")
        ]
    );
    assert!(!stdout.contains("warning:"), "{stdout}");
    assert!(
        !text(&out.stderr).contains("fewer than"),
        "{}",
        text(&out.stderr)
    );
}

/// `check` reads every audience's member source: a missing members file is an invalid
/// configuration (exit 2), named with its audience, before anything is connected to.
#[test]
fn check_refuses_a_members_file_it_cannot_read() {
    let dir = demo_copy(1);
    let config = dir.path().join("connector.toml");
    let text_of = fs::read_to_string(&config).unwrap();
    fs::write(&config, text_of.replace("members.ndjson", "nosuch.ndjson")).unwrap();
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    let missing = dir.path().join("nosuch.ndjson");
    assert!(
        stdout.ends_with(&format!(
            "audience 17095: members file {}: CANNOT BE READ\n",
            missing.display()
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("connected, authenticated"), "{stdout}");
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: 1 member source cannot be read, so a delivery would fail: cannot read the \
             members of audience 17095 from {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// A line that is JSON but not an object is malformed, said with its line number once.
#[test]
fn malformed_lines_are_reported_once_each_with_their_number() {
    let dir = demo_copy(30);
    let members = dir.path().join("members.ndjson");
    let mut lines = fs::read_to_string(&members).unwrap();
    lines.push_str("[]\n[\"2026999\",\"not an object\"]\n");
    fs::write(&members, lines).unwrap();
    let out = liveramp!()
        .args(["run", "--dry-run", "--config"])
        .arg(dir.path().join("connector.toml"))
        .args(["--date", "2026-11-28"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let tail = "; each line must be one JSON object with optional `mpid`, `user_identities`, \
                `device_identities`, `user_attributes` and `calculated_attributes`";
    let said: Vec<&str> = stdout.lines().filter(|l| l.contains("malformed")).collect();
    assert_eq!(
        said,
        [
            "audience 17095 (High-value customers), run date 2026-11-28: 30 members, 2 \
             malformed lines skipped"
                .to_owned(),
            format!(
                "  malformed line 31: not a valid mParticle profile: the line is not a JSON \
                 object (it is an array) (at column 1){tail}"
            ),
            format!(
                "  malformed line 32: not a valid mParticle profile: the line is not a JSON \
                 object (it is an array) (at column 1){tail}"
            ),
        ]
    );
}

#[test]
fn check_prints_what_was_checked() {
    let dir = demo_copy(1);
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(dir.path().join("connector.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("key: fingerprint 8B2FAE87B152E00C2620BFC9B6E44EEC946DB937\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  encryption subkey DE0CDAA688C80D01 (cv25519)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  expires: never\n"), "{stdout}");
}

/// `liveramp daemon` catches up the most recent night at start (its midnight in New York has
/// always passed), delivers both files of it, records them in the ledger, and stops with exit
/// code 0 on SIGTERM; started again the same night, it delivers nothing twice.
#[test]
fn daemon_catches_up_at_start_and_stops_cleanly_on_sigterm() {
    let dir = demo_copy(80);
    let config = dir.path().join("connector.toml");
    let out = dir.path().join("out");
    let journal = dir.path().join("state").join("ledger.jsonl");
    // The run date of the most recent midnight in New York: the first line of `schedule`
    // gives the next run; the night being caught up is the day before it.
    let next = liveramp!()
        .args(["schedule", "--config"])
        .arg(&config)
        .args(["--count", "1"])
        .output()
        .unwrap();
    let next_date = text(&next.stdout)[..10].to_owned();
    let caught_up = chrono::NaiveDate::parse_from_str(&next_date, "%Y-%m-%d")
        .unwrap()
        .pred_opt()
        .unwrap();
    let expected = vec![
        format!("3242_17095-D_{caught_up}.csv.gpg"),
        format!("3242_17095-PII_{caught_up}.csv.gpg"),
    ];

    let delivered_entries = || {
        fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("\"delivered\""))
            .count()
    };
    let run_daemon_until_idle = |expect_delivered: usize| {
        let mut child = liveramp!()
            .args(["daemon", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let reached = wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
            names_in_or_empty(&out) == expected && delivered_entries() == expect_delivered
        });
        // Give a second daemon the time to (wrongly) deliver again before stopping it.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut status = None;
        let stopped = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        if !stopped {
            child.kill().unwrap();
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(reached, "the daemon did not deliver {expected:?}: {stderr}");
        assert!(stopped, "the daemon did not stop on SIGTERM: {stderr}");
        assert_eq!(status.unwrap().code(), Some(0), "{stderr}");
        stderr
    };

    let said = run_daemon_until_idle(2);
    assert_eq!(names_in_or_empty(&out), expected);
    assert_eq!(delivered_entries(), 2);
    let prefix = format!("liveramp daemon: audience 17095, night {caught_up}: ");
    let lines: Vec<&str> = said.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(
        lines,
        [
            format!("{prefix}due: delivering now"),
            format!("{prefix}{} delivered, 41 rows", expected[0]),
            format!("{prefix}{} delivered, 71 rows", expected[1]),
        ],
        "{said}"
    );
    assert!(said.contains("liveramp daemon: next run "), "{said}");

    // A second daemon the same night finds both delivered, says so, and sends nothing again.
    let said = run_daemon_until_idle(2);
    assert_eq!(names_in_or_empty(&out), expected);
    assert_eq!(delivered_entries(), 2);
    let lines: Vec<&str> = said.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(
        lines,
        [format!(
            "{prefix}already delivered: {} (41 rows), {} (71 rows)",
            expected[0], expected[1]
        )],
        "{said}"
    );
}
