//! Shared fixtures for the fault and hygiene tests: the real OpenSSH `sshd` on 127.0.0.1 (which
//! can be stopped, listener and per-connection children, and restarted on the same port), a
//! bandwidth-limiting TCP proxy (so a kill lands in the upload phase), the real `gpg`, a
//! `tmpfs` mount guard, and helpers to run the `liveramp` binary and read what it left.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::cast_precision_loss,
    dead_code,
    unreachable_pub
)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The SFTP test account `cargo xtask test-env` creates.
pub const TEST_USER: &str = "liveramp-sftp-test";
/// Its fixed, test-only password.
pub const TEST_PASSWORD: &str = "liveramp-sftp-test-password-not-secret";

/// The `liveramp` binary, with no inherited log filter.
pub fn liveramp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liveramp"));
    command.env_remove("LIVERAMP_LOG");
    command
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The demo key pair committed in `examples/demo/`.
pub fn demo_key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/demo")
        .join(name)
}

/// Writes `count` generated members (seed `seed`) to `path` with the hidden
/// `liveramp generate-members`.
pub fn generate_members(path: &Path, count: u64, seed: u64) {
    let out = liveramp()
        .args([
            "generate-members",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
            "--output",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

/// The names in a folder, sorted (empty when it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(files_under(&path)),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    out.sort();
    out
}

/// Waits (bounded) until `done` holds, polling every `every`; false if it never does.
pub fn wait_until(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(every);
    }
    done()
}

/// Sends `signal` (e.g. `"KILL"`, `"TERM"`) to `pid` with the real `kill`.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The parent of `pid`, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every live descendant of `pid` (children, grandchildren, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(p) = entry.file_name().to_str().and_then(|s| s.parse().ok())
                && let Some(parent) = parent_of(p)
            {
                all.push((p, parent));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let current = found[i];
        for (p, parent) in &all {
            if *parent == current && !found.contains(p) {
                found.push(*p);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

fn keygen(path: &Path, passphrase: &str) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "liveramp-test",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn test_account() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, TEST_USER]).output().ok()?;
        out.status
            .success()
            .then(|| text(&out.stdout).trim().parse().ok())?
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => (uid, gid),
        _ => panic!(
            "the SFTP test account `{TEST_USER}` does not exist: run `cargo xtask test-env` \
             (as root) once, then run the tests again"
        ),
    }
}

/// The real OpenSSH server on 127.0.0.1 and a free port, with its own host key, the password
/// account, and two authorised client keys (one plain, one protected by `KEY_PASSPHRASE`).
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    pub known_hosts: PathBuf,
    /// An unencrypted client key.
    pub client_key: PathBuf,
    /// A client key protected by [`Sshd::KEY_PASSPHRASE`].
    pub client_key_with_passphrase: PathBuf,
    pub log: PathBuf,
    uid: u32,
    gid: u32,
}

impl Sshd {
    /// The passphrase of `client_key_with_passphrase`: distinctive, so a grep finds any leak.
    pub const KEY_PASSPHRASE: &'static str = "Passphrase-never-printed-7f3a91c2";

    pub fn start() -> Sshd {
        let (uid, gid) = test_account();
        let dir = tempfile::Builder::new()
            .prefix("liveramp-faults-sshd-")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"), "");
        keygen(&d.join("client_key"), "");
        keygen(&d.join("client_key_pass"), Self::KEY_PASSPHRASE);
        let mut authorized = fs::read_to_string(d.join("client_key.pub")).unwrap();
        authorized.push_str(&fs::read_to_string(d.join("client_key_pass.pub")).unwrap());
        fs::write(d.join("authorized_keys"), authorized).unwrap();
        fs::set_permissions(d.join("authorized_keys"), fs::Permissions::from_mode(0o644)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host_pub = fs::read_to_string(d.join("host_key.pub")).unwrap();
        let mut parts = host_pub.split_whitespace();
        let (kt, key) = (parts.next().unwrap(), parts.next().unwrap());
        fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kt} {key}\n"),
        )
        .unwrap();
        let config = format!(
            "ListenAddress 127.0.0.1:{port}\n\
             HostKey {host_key}\n\
             PidFile none\n\
             AuthorizedKeysFile {authorized}\n\
             StrictModes no\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             UsePAM no\n\
             AllowUsers {TEST_USER}\n\
             MaxStartups 100\n\
             LogLevel VERBOSE\n\
             Subsystem sftp internal-sftp -l INFO\n",
            host_key = d.join("host_key").display(),
            authorized = d.join("authorized_keys").display(),
        );
        fs::write(d.join("sshd_config"), config).unwrap();
        fs::create_dir_all("/run/sshd").unwrap();
        let mut sshd = Sshd {
            port,
            child: None,
            known_hosts: d.join("known_hosts"),
            client_key: d.join("client_key"),
            client_key_with_passphrase: d.join("client_key_pass"),
            log: d.join("sshd.log"),
            uid,
            gid,
            dir,
        };
        sshd.restart();
        sshd
    }

    /// Starts the server (again) on the same port with the same keys, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "sshd is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start /usr/sbin/sshd (install openssh-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sshd exited ({status}): {}", self.log_text());
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut banner = [0u8; 7];
                if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd did not start: {}", self.log_text());
    }

    /// Kills the listener and every per-connection child with SIGKILL: the server is gone,
    /// mid-transfer connections included.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let children = descendants(child.id());
            let _ = child.kill();
            for pid in children {
                signal(pid, "KILL");
            }
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new folder the test account may write to.
    pub fn upload_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).unwrap();
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy in front of `target` that forwards client-to-server bytes at most at
/// `bytes_per_second` (server-to-client unlimited): a slow link, so the upload phase of a
/// delivery lasts long enough to be interrupted at a chosen moment. A real peer cannot be
/// made slow; everything else is the real server.
pub struct Throttle {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Throttle {
    pub fn start(target: u16, bytes_per_second: u64) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = server.set_nodelay(true);
                let _ = client.set_nodelay(true);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server, Some(bytes_per_second)));
                std::thread::spawn(move || pump(s2, c2, None));
            }
        });
        Throttle { port, stop }
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<u64>) {
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut total: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        total += n as u64;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// How the configuration logs in.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `password = "..."` in the file.
    InlinePassword(String),
    /// `password_env = VAR`; the caller sets VAR.
    PasswordEnv(String),
    /// `private_key_path` plus, optionally, `private_key_passphrase_env = VAR`.
    Key {
        path: PathBuf,
        passphrase_env: Option<String>,
    },
}

/// A connector configuration for the tests.
#[derive(Clone, Debug)]
pub struct Setup {
    pub port: u16,
    pub known_hosts: PathBuf,
    pub remote: PathBuf,
    pub auth: Auth,
    pub encrypt: bool,
    pub gzip: bool,
    pub hash: bool,
    pub state_dir: String,
    /// `[sftp.retry]` attempts, initial and max backoff.
    pub retry: (u32, &'static str, &'static str),
    /// Extra top-level lines.
    pub extra: String,
}

impl Setup {
    /// SFTP to `sshd` (through `port`, which may be a proxy's) into `remote`, password login,
    /// no encryption, no gzip, hashing on, state in `state`.
    pub fn new(sshd: &Sshd, port: u16, remote: &Path) -> Setup {
        Setup {
            port,
            known_hosts: sshd.known_hosts.clone(),
            remote: remote.to_path_buf(),
            auth: Auth::InlinePassword(TEST_PASSWORD.to_owned()),
            encrypt: false,
            gzip: false,
            hash: true,
            state_dir: "state".to_owned(),
            retry: (3, "50ms", "200ms"),
            extra: String::new(),
        }
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        let auth = match &self.auth {
            Auth::InlinePassword(p) => format!("password = \"{p}\"\n"),
            Auth::PasswordEnv(var) => format!("password_env = \"{var}\"\n"),
            Auth::Key {
                path,
                passphrase_env,
            } => {
                let passphrase = passphrase_env
                    .as_ref()
                    .map(|var| format!("private_key_passphrase_env = \"{var}\"\n"))
                    .unwrap_or_default();
                format!("private_key_path = \"{}\"\n{passphrase}", path.display())
            }
        };
        // The known_hosts entry names 127.0.0.1 and the server's own port; a proxy listens on
        // another port, so name the host key by fingerprint-free known_hosts of that port.
        format!(
            r#"configuration_name = "faults"
org_id = "3242"
state_dir = "{state}"
{extra}
[sftp]
url = "127.0.0.1"
port = "{port}"
username = "{user}"
{auth}known_hosts_path = "{known_hosts}"
remote_dir = "{remote}"
connect_timeout = 10
operation_timeout = 10
[sftp.retry]
attempts = {attempts}
initial_backoff = "{initial}"
max_backoff = "{max}"
jitter = false

[file]
encrypt = {encrypt}
public_key_path = "{key}"
compression = "{compression}"

[data]
send_device_ids = true
send_pii = true

[pii]
hash_emails_and_phones = {hash}
columns = ["FIRSTNAME", "LASTNAME", "CITY", "STATE", "ZIP", "COUNTRY", "EMAIL", "PHONE"]

[[audiences]]
id = "17095"
external_name = "High-value customers"
members = "members.ndjson"
"#,
            state = self.state_dir,
            extra = self.extra,
            port = self.port,
            user = TEST_USER,
            known_hosts = self.known_hosts_for_port().display(),
            remote = self.remote.display(),
            attempts = self.retry.0,
            initial = self.retry.1,
            max = self.retry.2,
            encrypt = self.encrypt,
            key = demo_key("demo-public-key.asc").display(),
            compression = if self.gzip { "gzip" } else { "none" },
            hash = self.hash,
        )
    }

    /// A `known_hosts` file (next to the server's) whose entry names the port clients dial.
    fn known_hosts_for_port(&self) -> PathBuf {
        let original = fs::read_to_string(&self.known_hosts).unwrap();
        let line = original.lines().next().unwrap();
        let rest = line.split_once(' ').unwrap().1;
        let path = self
            .known_hosts
            .with_file_name(format!("known_hosts_{}", self.port));
        fs::write(&path, format!("[127.0.0.1]:{} {rest}\n", self.port)).unwrap();
        path
    }

    /// Writes the configuration as `dir/connector.toml` (mode 0600) and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("connector.toml");
        fs::write(&path, self.toml()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
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
        assert!(out.status.success(), "{}", text(&out.stderr));
        Gpg { home }
    }

    /// Decrypts with the real `gpg`.
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
            text(&out.stderr)
        );
        out.stdout
    }
}

/// A `tmpfs` of `size` (e.g. `"1m"`) mounted on a new folder; unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("small");
        fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount -t tmpfs failed (the test needs root): {}",
            text(&out.stderr)
        );
        Tmpfs {
            path,
            _parent: parent,
        }
    }

    /// Grows (or shrinks) the file system in place, keeping its files.
    pub fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status();
    }
}

/// The ledger journal `state/ledger.jsonl`: every complete line parsed as JSON (panics on a
/// line that is not), and whether the file ends in a line without its newline.
pub fn ledger_entries(state: &Path) -> (Vec<serde_json::Value>, bool) {
    let bytes = fs::read(state.join("ledger.jsonl")).unwrap_or_default();
    let torn = !bytes.is_empty() && bytes.last() != Some(&b'\n');
    let text = text(&bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if torn {
        lines.pop();
    }
    let entries = lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("ledger line {l:?} is not JSON: {e}"))
        })
        .collect();
    (entries, torn)
}

/// `delivered` entries of the ledger: file name -> (times recorded, sha256 recorded).
pub fn delivered_files(entries: &[serde_json::Value]) -> BTreeMap<String, (usize, String)> {
    let mut out: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for e in entries.iter().filter(|e| e["event"] == "delivered") {
        for f in e["files"].as_array().unwrap() {
            let entry = out
                .entry(f["name"].as_str().unwrap().to_owned())
                .or_insert((0, String::new()));
            entry.0 += 1;
            f["sha256"].as_str().unwrap().clone_into(&mut entry.1);
        }
    }
    out
}

/// Polls `dirs` (recursively) every millisecond until stopped, recording for every file seen:
/// its mode and its first bytes. A file that lives for less than a poll may be missed, so
/// tests pair this with checks of what the files were (e.g. every spool file is ciphertext).
pub struct FileWatcher {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<BTreeMap<PathBuf, (u32, Vec<u8>)>>,
}

impl FileWatcher {
    pub fn start(dirs: Vec<PathBuf>) -> FileWatcher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen: BTreeMap<PathBuf, (u32, Vec<u8>)> = BTreeMap::new();
            loop {
                let last = stopped.load(Ordering::SeqCst);
                for dir in &dirs {
                    for path in files_under(dir) {
                        let Ok(meta) = fs::metadata(&path) else {
                            continue;
                        };
                        let mut head = Vec::new();
                        if let Ok(f) = fs::File::open(&path) {
                            let _ = f.take(64).read_to_end(&mut head);
                        }
                        let entry = seen
                            .entry(path)
                            .or_insert((meta.permissions().mode() & 0o777, Vec::new()));
                        if entry.1.len() < head.len() {
                            entry.1 = head;
                        }
                    }
                }
                if last {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        FileWatcher { stop, handle }
    }

    /// Stops and returns every file seen: path -> (mode, first bytes).
    pub fn stop(self) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}
