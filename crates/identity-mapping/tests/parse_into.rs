//! `Profile::parse_into` (the reused, fast parse) gives exactly what `Profile::from_json_slice`
//! gives: the same profile or the same error, line after line into one reused profile, on the
//! fixture set and on shapes chosen to take the fallback way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use liveramp_identity_mapping::Profile;

/// Parses every line into one reused profile and compares with the general parse.
fn assert_same(lines: &[&str]) {
    let mut reused = Profile::default();
    for (i, line) in lines.iter().enumerate() {
        let expected = Profile::from_json_slice(line.as_bytes());
        let got = reused.parse_into(line.as_bytes());
        match (&expected, got) {
            (Ok(p), Ok(())) => assert_eq!(&reused, p, "line {i}: {line}"),
            (Err(e), Err(g)) => assert_eq!(e.to_string(), g.to_string(), "line {i}: {line}"),
            (e, g) => panic!("line {i}: {line}: general {e:?}, fast {g:?}"),
        }
    }
}

#[test]
fn fixture_profiles_parse_the_same() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 63);
    assert_same(&lines);
    // In reverse too, so each profile is read over buffers another one left.
    let reversed: Vec<&str> = lines.iter().rev().copied().collect();
    assert_same(&reversed);
}

#[test]
fn unusual_shapes_parse_the_same() {
    let big = r#"{"mpid":"9","user_identities":[{"type":"email","value":"a@b.co"},{"type":"email","value":"c@d.co"},{"type":"other","value":"x"}],"device_identities":[{"type":"ios_advertising_id","value":"6d92078a-8246-4ba4-ae5b-76104861e7dc"}],"user_attributes":{"$FirstName":"Jane","$Zip":10001,"n":1.5,"b":true,"z":null,"j":[1,{"k":"v"}]},"calculated_attributes":{"ltv":12}}"#;
    assert_same(&[
        big,
        "{}",
        big,
        r#"{"mpid": null, "user_identities": null, "device_identities": null, "user_attributes": null, "calculated_attributes": null}"#,
        big,
        r#"{"mpid": 18446744073709551615}"#,
        r#"{"mpid": -3}"#,
        r#"{"mpid": 1e3}"#,
        r#"{"mpid": 0.1, "user_attributes": {"a": 1e400}}"#,
        r#"{"mp\u0069d": "escaped key", "user_attributes": {"\u0024Zip": "x\"y\\z\u00e9"}}"#,
        r#"{"mpid": "1", "mpid": "2"}"#,
        r#"{"user_attributes": {"a": 1}, "user_attributes": {"b": 2}}"#,
        r#"{"user_identities": [{"type": "email", "type": "email", "value": "a@b.co"}]}"#,
        r#"{"user_identities": [{"value": "a@b.co"}]}"#,
        r#"{"user_identities": [["email", "sha256", "ab"]]}"#,
        r#"["1", [], [], {}, {}]"#,
        r#"{"user_identities": [{"type": "email", "encoding": null, "value": null, "extra": [1]}]}"#,
        r#"{"user_identities": [{"type": "email", "encoding": "SHA-256", "value": 12}]}"#,
        r#"{"user_identities": [{"type": "email", "encoding": 3, "value": "x"}]}"#,
        r#"{"user_identities": [{"type": "email", "value": true}]}"#,
        r#"{"user_identities": [{"type": 1, "value": "x"}]}"#,
        r#"{"user_identities": {"type": "email"}}"#,
        r#"{"user_attributes": ["x"]}"#,
        r#"{"user_attributes": {"a": "b"}, "unknown": {"deep": [1, 2, {"x": null}]}}"#,
        r#"{"mpid": "1"} trailing"#,
        r#"{"mpid": "1"}   "#,
        r#"{"mpid": "1""#,
        "",
        "   ",
        "[1, 2]",
        "xyz",
        big,
    ]);
}

#[test]
fn invalid_utf8_parses_the_same() {
    let line = b"{\"mpid\": \"\xff\"}";
    let mut reused = Profile::default();
    let fast = reused.parse_into(line).unwrap_err();
    let general = Profile::from_json_slice(line).unwrap_err();
    assert_eq!(fast.to_string(), general.to_string());
}
