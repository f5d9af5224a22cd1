//! File names a transport accepts, and the temporary name uploads are written under.

use crate::error::{Error, Result};

/// Checks that `name` is a plain file name LiveRamp can ingest: not empty, no path separator
/// or NUL byte, not starting with `.` (LiveRamp ignores hidden files, and `.NAME.part` is the
/// temporary name), at most 250 bytes. Every transport checks names with this before writing.
///
/// ```
/// use liveramp_transport::validate_name;
/// assert!(validate_name("3242_17095-D_2020-04-01.csv.gpg").is_ok());
/// assert!(validate_name("../x.csv").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<()> {
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

/// The temporary name LiveRamp will not ingest, in the same folder: `.NAME.part`.
///
/// ```
/// assert_eq!(liveramp_transport::part_name("a.csv"), ".a.csv.part");
/// ```
pub fn part_name(name: &str) -> String {
    format!(".{name}.part")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("3242_17095-D_2020-04-01.csv.gpg").is_ok());
        for bad in ["", "a/b", ".hidden", "a\0b", &"x".repeat(251)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(part_name("a.csv"), ".a.csv.part");
    }
}
