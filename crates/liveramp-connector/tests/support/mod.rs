//! Shared helpers: the real `gpg` and Python's `csv` module as independent readers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use liveramp_identity_mapping::{MappedMember, Mapper, MappingConfig, Profile};

/// The demo key pair committed in `examples/demo/`.
pub fn demo_key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/demo")
        .join(name)
}

/// A throw-away GnuPG home holding the demo secret key.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn with_demo_secret_key() -> Gpg {
        let home = tempfile::tempdir().unwrap();
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet", "--import"])
            .arg(demo_key("demo-secret-key.asc"))
            .output()
            .expect("gpg is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Gpg { home }
    }

    /// Decrypts with the real `gpg`; panics when gpg refuses (e.g. no integrity protection).
    pub fn decrypt(&self, path: &Path) -> Vec<u8> {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--quiet", "--decrypt"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg --decrypt {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// Parses CSV bytes with Python's `csv` module (an independent reader); returns the rows.
pub fn python_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let script = "import csv, io, json, sys\n\
                  data = sys.stdin.buffer.read().decode('utf-8')\n\
                  assert not data.startswith('\\ufeff')\n\
                  rows = list(csv.reader(io.StringIO(data, newline='')))\n\
                  json.dump(rows, sys.stdout)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What the files must hold for these members: (device rows, PII rows), in member order,
/// computed by the mapping crate directly.
pub fn expected_rows(
    config: &MappingConfig,
    lines: &[String],
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mapper = Mapper::new(config).unwrap();
    let mut device = vec![mapper.device_headers().to_vec()];
    let mut pii = vec![mapper.pii_headers().to_vec()];
    let mut member = MappedMember::new();
    for line in lines {
        let Ok(profile) = Profile::from_json_line(line) else {
            continue;
        };
        mapper.map_into(&profile, &mut member);
        for row in member.device_rows() {
            device.push(row.fields().iter().map(|s| (*s).to_owned()).collect());
        }
        if let Some(row) = member.pii_row() {
            pii.push(row.to_vec());
        }
    }
    (device, pii)
}

/// Generated members, as lines.
pub fn members(count: u64, seed: u64) -> Vec<String> {
    (0..count)
        .map(|i| liveramp_connector::generate::member_line(seed, i))
        .collect()
}

/// Writes lines as an NDJSON file.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}
