//! The member source seam: every `MemberSource` feeds the same parallel pipeline, so a custom
//! source, an iterator of profiles and an NDJSON stream give byte-identical files for any
//! thread count; a source that fails part-way publishes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{
    Config, Connector, DeliverOptions, Error, FileStatus, MemberChunk, MemberSource, ProfileSource,
    SourceFailure,
};
use liveramp_identity_mapping::Profile;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

fn connector(dir: &Path) -> Connector {
    let text = r#"
configuration_name = "test"
org_id = "3242"
state_dir = "state"
[directory]
path = "out"
[data]
send_device_ids = true
send_pii = true
[pii]
hash_emails_and_phones = true
columns = ["FIRSTNAME", "CITY", "EMAIL", "PHONE"]
[[audiences]]
id = "17095"
external_name = "VIP"
"#;
    Connector::new(Config::from_toml_str(text, dir).unwrap()).unwrap()
}

/// 9,000 members (several chunks), every 7th without an email, every 500th malformed.
fn lines() -> Vec<String> {
    (0..9_000)
        .map(|i| {
            if i % 500 == 499 {
                return format!("{{\"mpid\": \"{i}\", \"user_identities\": 7}}");
            }
            let email = if i % 7 == 0 {
                String::new()
            } else {
                format!(r#"{{"type": "email", "value": " Member{i}@Example.com"}},"#)
            };
            format!(
                r#"{{"mpid": "{i}", "user_identities": [{email}{{"type": "mobile_number", "value": "(212) 555-{:04}"}}],
                   "device_identities": [{{"type": "ios_advertising_id", "value": "6d92078a-8246-4ba4-ae5b-76104861{i:04x}"}}],
                   "user_attributes": {{"$FirstName": "Ann {i}", "$City": "Paris"}}}}"#,
                i % 10_000
            )
            .replace('\n', " ")
        })
        .collect()
}

/// A source of JSON lines, pushed one at a time, or many at once with `push_lines`.
struct Lines {
    queue: std::vec::IntoIter<String>,
    batched: bool,
    fail_after: Option<usize>,
    given: usize,
}

impl Lines {
    fn new(batched: bool) -> Self {
        Lines {
            queue: lines().into_iter(),
            batched,
            fail_after: None,
            given: 0,
        }
    }
}

impl MemberSource for Lines {
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
        while !chunk.is_full() {
            if self.fail_after == Some(self.given) {
                return Err(SourceFailure::new("the cursor was lost"));
            }
            let Some(line) = self.queue.next() else {
                return Ok(false);
            };
            self.given += 1;
            if self.batched {
                chunk
                    .push_lines(|buf| {
                        buf.extend_from_slice(line.as_bytes());
                        buf.extend_from_slice(b"\r\n");
                        Ok::<(), ()>(())
                    })
                    .unwrap();
            } else {
                chunk.push_json(line.as_bytes());
            }
        }
        Ok(true)
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir.join("out"))
        .map(|entries| {
            entries
                .map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().into_string().unwrap(),
                        fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_source_gives_the_same_bytes_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path());
    let audience = connector.config().audiences[0].clone();
    let options = DeliverOptions::new().force(true);
    let ndjson = lines().join("\n") + "\n";
    let reference = connector
        .deliver_ndjson(
            &audience,
            ndjson.as_bytes(),
            date(),
            &options.clone().threads(1),
            &mut |_| {},
        )
        .unwrap();
    assert!(reference.succeeded(), "{reference:#?}");
    assert_eq!(
        (reference.members, reference.malformed_members),
        (8_982, 18)
    );
    let expected = files(dir.path());
    assert_eq!(expected.len(), 2);
    assert_eq!(reference.files[1].rows, 8_982);

    for threads in [1, 2, 4] {
        let options = options.clone().threads(threads);
        for batched in [false, true] {
            let mut source = Lines::new(batched);
            let report = connector
                .deliver_from(&audience, &mut source, date(), &options, &mut |_| {})
                .unwrap();
            assert_eq!(report.members, reference.members);
            assert_eq!(report.malformed, reference.malformed, "{threads} threads");
            assert_eq!(
                files(dir.path()),
                expected,
                "{threads} threads, batched {batched}"
            );
        }
        let profiles = lines()
            .into_iter()
            .map(|l| Profile::from_json_line(&l).map_err(|e| e.to_string()));
        let mut source = ProfileSource::new(profiles);
        let report = connector
            .deliver_from(&audience, &mut source, date(), &options, &mut |_| {})
            .unwrap();
        assert_eq!(report.members, reference.members);
        assert_eq!(report.malformed_members, reference.malformed_members);
        assert_eq!(files(dir.path()), expected, "profiles, {threads} threads");
    }
}

#[test]
fn a_source_that_fails_part_way_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path());
    let audience = connector.config().audiences[0].clone();
    for threads in [1, 3] {
        let mut source = Lines::new(false);
        source.fail_after = Some(6_000);
        let error = connector
            .deliver_from(
                &audience,
                &mut source,
                date(),
                &DeliverOptions::new().threads(threads),
                &mut |_| {},
            )
            .unwrap_err();
        match &error {
            Error::MemberSource { line, message, .. } => {
                assert_eq!(*line, 6_001);
                assert_eq!(message, "the cursor was lost");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            error.to_string(),
            "reading the members of audience 17095 failed at member 6001 (the cursor was lost); \
             nothing was published (fix the source and run again)"
        );
        assert!(files(dir.path()).is_empty(), "nothing published");
    }
    // The runs were recorded as failed, not delivered: a good source delivers them next.
    let mut source = Lines::new(false);
    let report = connector
        .deliver_from(
            &audience,
            &mut source,
            date(),
            &DeliverOptions::new(),
            &mut |_| {},
        )
        .unwrap();
    assert!(
        report
            .files
            .iter()
            .all(|f| f.status == FileStatus::Delivered)
    );
}

#[test]
fn push_lines_splits_like_a_member_file() {
    struct Once(bool);
    impl MemberSource for Once {
        fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
            if std::mem::take(&mut self.0) {
                chunk.push_lines(|buf| {
                    buf.extend_from_slice(TEXT);
                    Ok::<(), SourceFailure>(())
                })?;
            }
            Ok(false)
        }
    }
    const TEXT: &[u8] = b"{\"mpid\": \"1\"}\r\n\n  \n{\"mpid\": \"2\"}";
    let mut chunk = MemberChunk::new();
    chunk
        .push_lines(|buf| {
            buf.extend_from_slice(TEXT);
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(chunk.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let connector = connector(dir.path());
    let summary = connector
        .map_source(&mut Once(true), &DeliverOptions::new())
        .unwrap();
    assert_eq!((summary.members, summary.malformed_members), (2, 2));
    let audience = connector.config().audiences[0].clone();
    let report = connector
        .deliver_from(
            &audience,
            &mut Once(true),
            date(),
            &DeliverOptions::new().dry_run(true),
            &mut |_| {},
        )
        .unwrap();
    let lines: Vec<(u64, &str)> = report
        .malformed
        .iter()
        .map(|m| (m.line, m.error.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (2, "empty line: each line must be one profile JSON object"),
            (3, "empty line: each line must be one profile JSON object"),
        ]
    );
}
