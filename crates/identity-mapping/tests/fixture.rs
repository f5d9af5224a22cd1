//! Maps `fixtures/profiles.jsonl` (61 realistic messy profiles and 2 broken lines) with two
//! configs and compares every row and rejection with `fixtures/expected_{a,b}.csv`, which
//! `fixtures/generate.py` computed independently (see `fixtures/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;

use liveramp_identity_mapping::{MappedMember, Mapper, MappingConfig, Profile};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_line<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    let fields: Vec<String> = fields.into_iter().map(csv_field).collect();
    out.push_str(&fields.join(","));
    out.push('\n');
}

/// Renders what the mapper makes of every line, in the format of the expected files.
fn render(config: &MappingConfig) -> String {
    let mapper = Mapper::new(config).unwrap();
    let mut out = String::new();
    let p_headers: Vec<&str> = mapper.pii_headers().iter().map(String::as_str).collect();
    csv_line(&mut out, ["#HEADERS", "P"].into_iter().chain(p_headers));
    let d_headers: Vec<&str> = mapper.device_headers().iter().map(String::as_str).collect();
    csv_line(&mut out, ["#HEADERS", "D"].into_iter().chain(d_headers));
    let mut member = MappedMember::new();
    for (number, line) in fixture("profiles.jsonl").lines().enumerate() {
        let Ok(profile) = Profile::from_json_line(line) else {
            writeln!(out, "-,INVALID,{}", number + 1).unwrap();
            continue;
        };
        mapper.map_into(&profile, &mut member);
        let mpid = profile.mpid.as_deref().unwrap();
        for row in member.device_rows() {
            csv_line(&mut out, [mpid, "D"].into_iter().chain(row.fields()));
        }
        if let Some(row) = member.pii_row() {
            csv_line(
                &mut out,
                [mpid, "P"]
                    .into_iter()
                    .chain(row.iter().map(String::as_str)),
            );
        }
        for r in member.rejections() {
            csv_line(
                &mut out,
                [mpid, "R", r.code, r.field, r.column.unwrap_or("-")],
            );
        }
    }
    out
}

fn compare(config: &str, expected: &str) {
    let config: MappingConfig = serde_json::from_str(&fixture(config)).unwrap();
    let actual = render(&config);
    let expected = fixture(expected);
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "line {} differs", i + 1);
    }
    assert_eq!(actual.lines().count(), expected.lines().count());
    assert_eq!(actual, expected);
}

#[test]
fn fixture_profiles_map_to_the_expected_rows_with_raw_and_hash_columns() {
    compare("config_a.json", "expected_a.csv");
}

#[test]
fn fixture_profiles_map_to_the_expected_rows_with_hashing_on() {
    compare("config_b.json", "expected_b.csv");
}

#[test]
fn fixture_has_enough_profiles() {
    let lines = fixture("profiles.jsonl");
    let valid = lines
        .lines()
        .filter(|l| Profile::from_json_line(l).is_ok())
        .count();
    assert!(valid >= 50, "{valid}");
}
