//! The real GnuPG, in a temporary `GNUPGHOME`, for the interoperability tests.
#![allow(
    clippy::cast_possible_truncation,
    dead_code,
    clippy::doc_markdown,
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub
)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A throw-away GnuPG home. Its agent is stopped on drop.
pub struct Gpg {
    home: tempfile::TempDir,
}

/// A key made by `gpg`, with the IDs `gpg --with-colons` reports.
#[derive(Debug, Clone)]
pub struct GpgKey {
    pub fingerprint: String,
    /// Long key IDs of the subkeys, in order.
    pub subkey_ids: Vec<String>,
}

impl Gpg {
    pub fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("lrenc")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(
            home.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .unwrap();
        Self { home }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .stdin(Stdio::null());
        cmd
    }

    /// Runs gpg with `args`; panics with its stderr when it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `gpg --quick-gen-key UID PRIMARY sign EXPIRE`, optionally at a faked time.
    pub fn gen_primary(&self, uid: &str, algo: &str, expire: &str, at: Option<&str>) -> String {
        let mut args = Vec::new();
        if let Some(at) = at {
            args.extend(["--faked-system-time", at]);
        }
        args.extend(["--quick-gen-key", uid, algo, "sign", expire]);
        self.run(&args);
        self.key(uid).fingerprint
    }

    /// `gpg --quick-add-key FPR ALGO USAGE EXPIRE`, optionally at a faked time.
    pub fn add_subkey(&self, fpr: &str, algo: &str, usage: &str, expire: &str, at: Option<&str>) {
        let mut args = Vec::new();
        if let Some(at) = at {
            args.extend(["--faked-system-time", at]);
        }
        args.extend(["--quick-add-key", fpr, algo, usage, expire]);
        self.run(&args);
    }

    /// RSA 3072 primary (sign) with an RSA 3072 encryption subkey, no expiry.
    pub fn gen_rsa(&self, uid: &str) -> GpgKey {
        let fpr = self.gen_primary(uid, "rsa3072", "never", None);
        self.add_subkey(&fpr, "rsa3072", "encr", "never", None);
        self.key(&fpr)
    }

    /// ed25519 primary (sign) with a cv25519 encryption subkey, no expiry.
    pub fn gen_ed25519(&self, uid: &str) -> GpgKey {
        let fpr = self.gen_primary(uid, "ed25519", "never", None);
        self.add_subkey(&fpr, "cv25519", "encr", "never", None);
        self.key(&fpr)
    }

    /// Fingerprint and subkey IDs of the key `query` names.
    pub fn key(&self, query: &str) -> GpgKey {
        let out = self.run(&["--with-colons", "--list-keys", query]);
        let text = String::from_utf8(out.stdout).unwrap();
        let mut fingerprint = String::new();
        let mut subkey_ids = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            match f[0] {
                "fpr" if fingerprint.is_empty() => fingerprint = f[9].to_string(),
                "sub" => subkey_ids.push(f[4].to_string()),
                _ => {}
            }
        }
        assert!(!fingerprint.is_empty(), "no key {query}: {text}");
        GpgKey {
            fingerprint,
            subkey_ids,
        }
    }

    pub fn export_public(&self, fpr: &str, armor: bool) -> Vec<u8> {
        let mut args = vec!["--export"];
        if armor {
            args.push("--armor");
        }
        args.push(fpr);
        self.run(&args).stdout
    }

    pub fn export_secret(&self, fpr: &str, armor: bool) -> Vec<u8> {
        let mut args = vec!["--export-secret-keys"];
        if armor {
            args.push("--armor");
        }
        args.push(fpr);
        self.run(&args).stdout
    }

    pub fn import(&self, data: &[u8]) {
        let mut child = self
            .command()
            .arg("--import")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg --import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Scripts `gpg --edit-key` with `commands` (one answer per line).
    pub fn edit_key(&self, fpr: &str, commands: &str) {
        let mut child = self
            .command()
            .args(["--command-fd", "0", "--status-fd", "2", "--edit-key", fpr])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commands.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg --edit-key failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Spawns `gpg --decrypt` reading the message on stdin, writing the plaintext on stdout.
    pub fn spawn_decrypt(&self) -> std::process::Child {
        self.command()
            .args(["--decrypt", "--output", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Decrypts `message` with `gpg --batch --decrypt`; returns (plaintext, stderr).
    pub fn decrypt(&self, message: &[u8]) -> (Vec<u8>, String) {
        let mut child = self.spawn_decrypt();
        let mut stdin = child.stdin.take().unwrap();
        let message = message.to_vec();
        let feeder = std::thread::spawn(move || {
            // gpg may stop reading early on bad input: a broken pipe is its answer, not ours.
            let _ = stdin.write_all(&message);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "gpg --decrypt failed: {stderr}");
        (out.stdout, stderr)
    }

    /// `gpg --list-packets` of a message (needs the secret key to see inside).
    pub fn list_packets(&self, message: &[u8]) -> String {
        let mut child = self
            .command()
            .args(["--verbose", "--list-packets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let message = message.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&message);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Deterministic test data: a pseudo-random 1 MiB + 7 block, each repetition stamped with its
/// index so that misplaced or repeated chunks are caught.
pub struct Pattern {
    base: Vec<u8>,
}

impl Pattern {
    pub const BLOCK: usize = (1 << 20) + 7;

    pub fn new() -> Self {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let base = (0..Self::BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Self { base }
    }

    /// Fills `out` with the bytes at stream offset `offset`.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let pos = offset + done as u64;
            let block = pos / Self::BLOCK as u64;
            let within = (pos % Self::BLOCK as u64) as usize;
            let n = (Self::BLOCK - within).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.base[within..within + n]);
            // Stamp the block index over its first 8 bytes.
            let stamp = block.to_le_bytes();
            for (i, b) in stamp.iter().enumerate() {
                if within <= i && i < within + n {
                    out[done + i - within] = *b;
                }
            }
            done += n;
        }
    }

    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(0, &mut v);
        v
    }
}

/// Reads all of `r`, comparing it with the pattern; returns the number of bytes read.
pub fn compare_with_pattern(pattern: &Pattern, mut r: impl Read) -> u64 {
    let mut got = vec![0u8; 1 << 20];
    let mut want = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = r.read(&mut got).unwrap();
        if n == 0 {
            return offset;
        }
        pattern.fill(offset, &mut want[..n]);
        assert!(
            got[..n] == want[..n],
            "decrypted data differs from the input in the {n} bytes at offset {offset}"
        );
        offset += n as u64;
    }
}
