//! The connector's `NdjsonMembers` over arbitrary bytes: one item per line (a profile or a
//! counted, numbered error), never a panic, never a line lost or invented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveramp_connector::NdjsonMembers;

fuzz_target!(|data: &[u8]| {
    let lines = data.split_inclusive(|&b| b == b'\n').count() as u64;
    let mut items = 0u64;
    for (i, item) in NdjsonMembers::from_reader(data).enumerate() {
        items += 1;
        if let Err(error) = item {
            assert_eq!(error.line, i as u64 + 1, "wrong line number for {error}");
            assert!(
                !error.source_failed,
                "reading from memory cannot fail: {error}"
            );
            assert!(!error.message.is_empty());
        }
    }
    assert_eq!(items, lines, "one item per line");
});
