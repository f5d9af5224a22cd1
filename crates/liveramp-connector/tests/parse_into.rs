//! The pipeline's reused parse (`Profile::parse_into`) gives exactly the profiles of
//! `Profile::from_json_slice` on generated messy members (the pipeline test then shows the
//! delivered bytes equal the single-threaded path's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_identity_mapping::Profile;
use liveramp_test_support::members::member_line;

#[test]
fn generated_members_parse_the_same_into_a_reused_profile() {
    let mut reused = Profile::default();
    for index in 0..20_000 {
        let line = member_line(7, index);
        let expected = Profile::from_json_slice(line.as_bytes()).unwrap();
        reused.parse_into(line.as_bytes()).unwrap();
        assert_eq!(reused, expected, "member {index}: {line}");
    }
}
