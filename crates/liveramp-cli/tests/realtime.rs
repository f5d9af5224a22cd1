//! The real-time path through the command line: a shuffled Firehose stream with repeats and
//! malformed lines goes in with `liveramp ingest`, `liveramp members` prints exactly what the
//! reference model says, `liveramp audiences` lists the store, and `liveramp run` delivers the
//! connected audiences' files, read back with Python's `csv`, as the model's membership gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use liveramp_connector::Config;
use liveramp_identity_mapping::{MappedMember, Mapper, Profile};
use liveramp_test_support::config::TestConfig;
use liveramp_test_support::csv::python_csv;
use liveramp_test_support::store_model::Model;
use liveramp_test_support::stream::{StreamOptions, stream};
use liveramp_test_support::{liveramp, text};

/// The configuration of these tests: a store, hashing on, the demo's PII columns.
fn config(dir: &Path) -> std::path::PathBuf {
    TestConfig::directory("out")
        .with_store()
        .hash(true)
        .columns(&[
            "FIRSTNAME",
            "LASTNAME",
            "CITY",
            "STATE",
            "ZIP",
            "COUNTRY",
            "EMAIL",
            "PHONE",
        ])
        .write(dir)
}

/// The rows the files must hold for these snapshot lines (header first), computed by the
/// mapping crate directly from the model's lines.
fn expected_rows(config_path: &Path, lines: &[String]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let config = Config::load(config_path).unwrap();
    let mapper = Mapper::new(&config.mapping).unwrap();
    let mut device = vec![mapper.device_headers().to_vec()];
    let mut pii = vec![mapper.pii_headers().to_vec()];
    let mut member = MappedMember::new();
    for line in lines {
        let profile = Profile::from_json_line(line).unwrap();
        mapper.map_into(&profile, &mut member);
        for row in member.device_rows() {
            device.push(row.fields().iter().map(|s| (*s).to_owned()).collect());
        }
        if let Some(row) = member.pii_row() {
            pii.push(row.to_vec());
        }
    }
    (device, pii)
}

#[test]
fn a_shuffled_stream_with_repeats_is_delivered_as_the_model_says() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path());
    let options = StreamOptions {
        members: 1_200,
        ..StreamOptions::default()
    };
    let stream = stream(&options);
    let model = Model::replay(&stream.messages);

    // The stream, with three malformed lines at known places.
    let mut lines = stream.lines.clone();
    lines.insert(
        3,
        r#"{"type": "audience_membership_change_request", "id": "x""#.to_owned(),
    );
    lines.insert(
        10,
        r#"{"type": "audience_membership_change_request", "id": "m-bad", "timestamp_ms": 5,
            "user_profiles": [{"mpid": "1", "audiences": [{"audience_id": 30001, "action": "remove"}]}]}"#
            .replace('\n', " "),
    );
    lines.insert(
        20,
        r#"{"type": "audience_subscription_request", "id": "s-bad", "timestamp_ms": "jane.doe@example.com", "audience_id": 1, "action": "add"}"#
            .to_owned(),
    );
    let input = dir.path().join("stream.ndjson");
    fs::write(&input, lines.join("\n") + "\n").unwrap();

    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config_path)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        "line 4: invalid JSON: EOF while parsing an object at line 1 column 56\n\
         line 11: user_profiles[0].audiences[0].action: \"remove\" is not add, delete or attribute_update\n\
         line 21: timestamp_ms: invalid type: string (value withheld), expected an integer\n",
    );
    assert!(!stderr.contains("jane.doe"), "no value is quoted");
    let distinct = stream.messages.len();
    let repeats = stream.lines.len() - distinct;
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "ingested {}: {} lines, {} messages, 3 malformed lines",
            input.display(),
            lines.len(),
            stream.lines.len()
        )
    );
    assert!(
        stdout.contains(&format!("  skipped: {repeats} duplicates, 0 expired,")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  applied {distinct} messages: 5 subscriptions,")),
        "{stdout}"
    );

    // `members` prints exactly the model's snapshot, for every audience.
    liveramp_test_support::serve::assert_members_are(|| liveramp!(), &config_path, &model);

    // `audiences --json` lists the store as the model says.
    let out = liveramp!()
        .args(["audiences", "--json", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<(i64, String, bool, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                a["name"].as_str().unwrap().to_owned(),
                a["connected"].as_bool().unwrap(),
                a["members"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(i64, String, bool, u64)> = model
        .audiences()
        .iter()
        .map(|a| (a.id, a.name.clone().unwrap(), a.connected, a.members))
        .collect();
    assert_eq!(listed, expected);

    // `run` delivers the two connected audiences (not the disconnected one), each file's rows
    // exactly what the model's members give.
    let out = liveramp!()
        .args(["run", "--date", "2026-11-28", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let names: BTreeSet<String> = fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected_names: BTreeSet<String> = [
        "3242_30001-D_2026-11-28.csv",
        "3242_30001-PII_2026-11-28.csv",
        "3242_30002-D_2026-11-28.csv",
        "3242_30002-PII_2026-11-28.csv",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(names, expected_names);
    for audience in [30001, 30002] {
        let (device, pii) = expected_rows(&config_path, &model.lines(audience));
        let read = |kind: &str| {
            python_csv(
                &fs::read(
                    dir.path()
                        .join(format!("out/3242_{audience}-{kind}_2026-11-28.csv")),
                )
                .unwrap(),
            )
        };
        assert_eq!(read("D"), device, "device file of {audience}");
        assert_eq!(read("PII"), pii, "PII file of {audience}");
    }
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "audience 30002 (Newsletter (weekly)), run date 2026-11-28: {} members",
            model.lines(30002).len()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "  from the store snapshot of audience 30001: {} members, newest change",
            model.lines(30001).len()
        )),
        "{stdout}"
    );

    // The same stream again changes nothing.
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config_path)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("  applied 0 messages: 0 subscriptions, 0 membership changes"),
        "{}",
        text(&out.stdout)
    );
    let out = liveramp!()
        .args(["members", "--config"])
        .arg(&config_path)
        .args(["--audience", "30001"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).lines().count(), model.lines(30001).len());
}

#[test]
fn ingest_from_stdin_and_its_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path());
    let stream = stream(&StreamOptions {
        members: 60,
        ..StreamOptions::default()
    });
    let mut child = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config_path)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        (stream.lines.join("\n") + "\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ingested stdin: "));

    // A missing input file is a usage error; so is a configuration without [store].
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config_path)
        .arg(dir.path().join("nosuch.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: cannot read the Firehose messages from "));
    let other = tempfile::tempdir().unwrap();
    let plain = TestConfig::directory("out").write(other.path());
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&plain)
        .arg("-")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("store: missing; add a [store] section"),
        "{}",
        text(&out.stderr)
    );
    // An audience the store does not know.
    let out = liveramp!()
        .args(["members", "--config"])
        .arg(&config_path)
        .args(["--audience", "999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: audience \"999\" is neither in the configuration with a members file nor in the \
         membership store; the store's audiences are: 30001, 30002, 31001\n"
    );
}

/// `check` reads the store: what it holds when it can be read, and an invalid configuration
/// (exit 2, with the reason) when it cannot.
#[test]
fn check_reports_the_store_and_refuses_one_it_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let lines = stream(&StreamOptions {
        members: 60,
        ..StreamOptions::default()
    })
    .lines;
    let input = dir.path().join("stream.ndjson");
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = liveramp!()
        .args(["ingest", "--config"])
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let model = Model::replay(
        &stream(&StreamOptions {
            members: 60,
            ..StreamOptions::default()
        })
        .messages,
    );
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let store = dir.path().join("state/audiences.sqlite");
    let said: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("store:") || l.starts_with("audience "))
        .map(str::to_owned)
        .collect();
    let mut expected = vec![format!(
        "store: the membership store {}: 3 audience(s), 2 connected",
        store.display()
    )];
    for info in model.audiences().iter().filter(|a| a.connected) {
        expected.push(format!(
            "audience {}: the membership store: {} members",
            info.id,
            model.lines(info.id).len()
        ));
    }
    assert_eq!(said, expected);

    // A folder where the store file should be: the store cannot be opened.
    let other = tempfile::tempdir().unwrap();
    let config = self::config(other.path());
    fs::create_dir_all(other.path().join("state/audiences.sqlite")).unwrap();
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let path = other.path().join("state/audiences.sqlite");
    assert!(
        text(&out.stdout).ends_with(&format!(
            "store: the membership store {}: CANNOT BE READ\n",
            path.display()
        )),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).starts_with(
            "error: 1 member source cannot be read, so a delivery would fail: could not open \
             the membership store: cannot open the store file"
        ),
        "{}",
        text(&out.stderr)
    );
}
