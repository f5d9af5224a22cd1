//! The generator's output never changes: the committed demo audience is exactly what it writes.
#![allow(clippy::unwrap_used)]

use liveramp_test_support::files::{sha256, sha256_file};
use liveramp_test_support::{demo_file, members};

#[test]
fn the_demo_members_are_the_generators_1200_members_of_seed_2026() {
    let mut out = Vec::new();
    members::write_members(&mut out, 1200, 2026).unwrap();
    assert_eq!(sha256(&out), sha256_file(&demo_file("members.ndjson")));
    let lines = members::lines(1200, 2026);
    assert_eq!(lines.join("\n") + "\n", String::from_utf8(out).unwrap());
}
