//! `Message::from_json` over arbitrary bytes: a message or a typed error, never a panic; the
//! same bytes always give the same result, through either entry point; a message survives
//! `to_json` and parsing again unchanged; an error's text is `path: message`, and the only
//! quoted value it may hold is a keyword-shaped one (a bad `action` or `type`), never a value
//! of the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveramp_firehose::{Error, Message};

/// What an error may quote: an ASCII letter, then ASCII letters, digits, `_`, `-`, `.`.
fn keyword_shaped(value: &str) -> bool {
    value.len() <= 64
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fuzz_target!(|data: &[u8]| {
    let result = Message::from_json(data);
    assert_eq!(
        Message::from_json(data),
        result,
        "parsing is not deterministic"
    );
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(
            Message::from_json_str(text),
            result,
            "the entry points disagree"
        );
    }
    match result {
        Ok(message) => {
            let json = message.to_json();
            let again = Message::from_json(json.as_bytes())
                .unwrap_or_else(|e| panic!("to_json output does not parse: {e}: {json}"));
            assert_eq!(
                again, message,
                "the message changed through to_json: {json}"
            );
        }
        Err(error) => {
            let text = error.to_string();
            let message = error.message();
            if error.path().is_empty() {
                assert_eq!(text, message);
            } else {
                assert_eq!(text, format!("{}: {message}", error.path()));
            }
            let _ = format!("{error:?} {} {}", error.line(), error.column());
            // Remove what may be quoted; nothing else in quotes may remain.
            let mut rest = message.replace("`\"`", "");
            match &error {
                Error::UnknownKeyword { value: Some(v), .. }
                | Error::UnknownType {
                    type_name: Some(v), ..
                } => {
                    assert!(keyword_shaped(v), "quoted a non-keyword: {text}");
                    rest = rest.replacen(&format!("\"{v}\""), "", 1);
                }
                _ => {}
            }
            assert!(!rest.contains('"'), "the error quotes something: {text}");
        }
    }
});
