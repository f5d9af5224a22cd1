//! Remote paths: a folder and a file name joined.

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
    fn joins() {
        assert_eq!(join("uploads/", "a"), "uploads/a");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join(".", "a"), "./a");
    }
}
