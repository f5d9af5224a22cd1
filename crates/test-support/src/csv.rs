//! Python's `csv` module (`python3`) as an independent reader of the CSV we write.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::text;

/// Parses CSV bytes with Python's `csv.reader` (default dialect) and returns every record,
/// header included. The bytes must be UTF-8 without a byte-order mark (asserted).
pub fn python_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    read(bytes, false)
}

/// Like [`python_csv`], in strict mode (`csv.reader(..., strict=True)`): a quoting error is an
/// error instead of being read leniently.
pub fn python_csv_strict(bytes: &[u8]) -> Vec<Vec<String>> {
    read(bytes, true)
}

fn read(bytes: &[u8], strict: bool) -> Vec<Vec<String>> {
    let script = "import csv, io, json, sys\n\
                  data = sys.stdin.buffer.read().decode('utf-8')\n\
                  assert not data.startswith('\\ufeff')\n\
                  strict = sys.argv[1] == 'strict'\n\
                  rows = list(csv.reader(io.StringIO(data, newline=''), strict=strict))\n\
                  json.dump(rows, sys.stdout)\n";
    let mut child = Command::new("python3")
        .args(["-c", script, if strict { "strict" } else { "lenient" }])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (Debian package python3) to read CSV back");
    // Python reads all of stdin before it writes, so writing first cannot deadlock.
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 csv failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
