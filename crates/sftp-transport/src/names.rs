//! Remote file names: validation and the temporary name.

use crate::error::{Error, Result};

/// Checks that `name` is a plain file name LiveRamp can ingest.
pub(crate) fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('/') || name.contains('\\') {
        "it contains a path separator"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.starts_with('.') {
        "it starts with `.`, which hides it from LiveRamp"
    } else if name.len() > 250 {
        "it is longer than 250 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// The temporary name LiveRamp will not ingest: `.NAME.part`.
pub(crate) fn part_name(name: &str) -> String {
    format!(".{name}.part")
}

/// `dir/name` with exactly one `/`.
pub(crate) fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate("3242_17095-D_2020-04-01.csv.gpg").is_ok());
        for bad in ["", "a/b", ".hidden", "a\0b", &"x".repeat(251)] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert_eq!(part_name("a.csv"), ".a.csv.part");
        assert_eq!(join("uploads/", "a"), "uploads/a");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join(".", "a"), "./a");
    }
}
