//! The real GnuPG (`gpg`, 2.2 or later) in a throw-away home: the independent decrypter of
//! everything we encrypt, and the maker of the keys the encryption tests load.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::{demo_file, text};

/// A throw-away GnuPG home (mode 0700, in `/tmp` so the agent's socket path stays short, with
/// loopback pinentry so keys without a passphrase need no terminal). Every command runs with
/// `--batch --no-tty`; the home's agent is stopped on drop.
pub struct Gpg {
    home: tempfile::TempDir,
}

/// A key made by `gpg`, with the IDs `gpg --with-colons` reports.
#[derive(Debug, Clone)]
pub struct GpgKey {
    /// The primary key's fingerprint (40 hex digits).
    pub fingerprint: String,
    /// Long key IDs of the subkeys, in order.
    pub subkey_ids: Vec<String>,
}

impl Default for Gpg {
    fn default() -> Self {
        Self::new()
    }
}

impl Gpg {
    /// An empty home.
    pub fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("lrgpg")
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

    /// A home holding the demo secret key (`examples/demo/demo-secret-key.asc`), which
    /// decrypts what is encrypted to the demo public key.
    pub fn with_demo_secret_key() -> Self {
        let gpg = Self::new();
        gpg.run_with(&["--quiet", "--import"], &demo_file("demo-secret-key.asc"));
        gpg
    }

    /// The home folder (`gpg --homedir`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `gpg --homedir HOME --batch --no-tty --pinentry-mode loopback --passphrase ""`, stdin
    /// closed; add the command's own arguments.
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
        let out = self
            .command()
            .args(args)
            .output()
            .expect("cannot run gpg (install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            text(&out.stderr)
        );
        out
    }

    /// Runs gpg with `args` then `path`; panics with its stderr when it fails.
    fn run_with(&self, args: &[&str], path: &Path) -> Output {
        let out = self
            .command()
            .args(args)
            .arg(path)
            .output()
            .expect("cannot run gpg (install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?} {}: {}",
            path.display(),
            text(&out.stderr)
        );
        out
    }

    /// `gpg --quick-gen-key UID PRIMARY sign EXPIRE`, optionally at a faked time; returns the
    /// new key's fingerprint.
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

    /// `gpg --export [--armor] FPR`: the public key.
    pub fn export_public(&self, fpr: &str, armor: bool) -> Vec<u8> {
        let mut args = vec!["--export"];
        if armor {
            args.push("--armor");
        }
        args.push(fpr);
        self.run(&args).stdout
    }

    /// `gpg --export-secret-keys [--armor] FPR`: the secret key.
    pub fn export_secret(&self, fpr: &str, armor: bool) -> Vec<u8> {
        let mut args = vec!["--export-secret-keys"];
        if armor {
            args.push("--armor");
        }
        args.push(fpr);
        self.run(&args).stdout
    }

    /// `gpg --import` of `data` (a key, public or secret, binary or armored).
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
            text(&out.stderr)
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
            text(&out.stderr)
        );
    }

    /// Spawns `gpg --decrypt` reading the message on stdin, writing the plaintext on stdout.
    pub fn spawn_decrypt(&self) -> Child {
        self.command()
            .args(["--decrypt", "--output", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Decrypts `message` with `gpg --batch --decrypt`; returns (plaintext, stderr). Panics
    /// when gpg refuses (e.g. no integrity protection).
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
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "gpg --decrypt failed: {stderr}");
        (out.stdout, stderr)
    }

    /// Decrypts the file at `path` with `gpg --batch --quiet --decrypt`; returns the plaintext.
    /// Panics when gpg refuses (e.g. no integrity protection).
    pub fn decrypt_file(&self, path: &Path) -> Vec<u8> {
        self.run_with(&["--quiet", "--decrypt"], path).stdout
    }

    /// `gpg --list-packets` of a message (needs the secret key to see inside): stdout and
    /// stderr together.
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
        let mut text = text(&out.stdout);
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
