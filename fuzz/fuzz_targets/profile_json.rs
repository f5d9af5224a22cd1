//! `Profile::from_json_slice` over arbitrary bytes: a typed error or a profile, never a panic;
//! a parsed profile survives `to_json_line` and parsing again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveramp_identity_mapping::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = Profile::from_json_slice(data) else {
        return;
    };
    // The same text through the `&str` entry point parses the same way.
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(Profile::from_json_line(text).ok().as_ref(), Some(&profile));
    }
    let line = profile.to_json_line();
    assert!(
        !line.contains('\n'),
        "to_json_line wrote a line break: {line:?}"
    );
    let again = Profile::from_json_line(&line)
        .unwrap_or_else(|e| panic!("to_json_line output does not parse: {e}: {line:?}"));
    assert_eq!(
        again, profile,
        "the profile changed through to_json_line: {line:?}"
    );
});
