//! `RecipientKey` from arbitrary bytes, binary OpenPGP or ASCII armor: a usable key or a typed
//! error, never a panic.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use liveramp_encrypt::RecipientKey;

fuzz_target!(|data: &[u8]| {
    // A fixed "now", so a run is reproducible whatever the day.
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a date");
    match RecipientKey::from_bytes_at(data, now) {
        Ok(key) => {
            assert!(!key.fingerprint().is_empty());
            assert!(!key.encryption_subkey_id().is_empty());
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
