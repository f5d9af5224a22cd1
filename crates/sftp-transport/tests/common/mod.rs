//! Test fixtures: a real OpenSSH `sshd` on 127.0.0.1, a fault-injecting TCP proxy, and the
//! behavioural suite every `Transport` must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod suite;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use liveramp_sftp_transport::{RetryPolicy, SftpSettings};
use sha2::{Digest, Sha256};

/// The test account `cargo xtask test-env` creates (see `xtask/src/test_env.rs`).
pub const TEST_USER: &str = "liveramp-sftp-test";
/// Its fixed, public, test-only password.
pub const TEST_PASSWORD: &str = "liveramp-sftp-test-password-not-secret";
/// The passphrase of the encrypted test key.
pub const KEY_PASSPHRASE: &str = "correct horse battery staple";

/// uid and gid of the test account; panics with the fix when it is missing.
pub fn test_account() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, TEST_USER]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => (uid, gid),
        _ => panic!(
            "the SFTP test account `{TEST_USER}` does not exist: run `cargo xtask test-env` \
             (as root) once, then run the tests again"
        ),
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Generates an ed25519 key pair at `path` (and `path.pub`) with the real `ssh-keygen`.
pub fn keygen(path: &Path, passphrase: &str) {
    run(Command::new("ssh-keygen")
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
        .arg(path));
}

/// What `ssh-keygen -lf` prints as the fingerprint of a public key file.
pub fn ssh_keygen_fingerprint(pub_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real OpenSSH server, on 127.0.0.1 and a free port, with its own host key, an
/// authorised key (plain and passphrase-protected) and the password account.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
    pub host_pub: PathBuf,
    pub known_hosts: PathBuf,
    pub client_key: PathBuf,
    pub client_key_with_passphrase: PathBuf,
    pub log: PathBuf,
    uid: u32,
    gid: u32,
}

impl Sshd {
    pub fn start() -> Sshd {
        let (uid, gid) = test_account();
        let dir = tempfile::Builder::new()
            .prefix("liveramp-sshd-")
            .tempdir()
            .unwrap();
        // The test account must reach its upload folders and read authorized_keys.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"), "");
        keygen(&d.join("client_key"), "");
        keygen(&d.join("client_key_pass"), KEY_PASSPHRASE);
        let mut authorized = fs::read_to_string(d.join("client_key.pub")).unwrap();
        authorized.push_str(&fs::read_to_string(d.join("client_key_pass.pub")).unwrap());
        fs::write(d.join("authorized_keys"), authorized).unwrap();
        fs::set_permissions(d.join("authorized_keys"), fs::Permissions::from_mode(0o644)).unwrap();
        let port = free_port();
        let host_pub_text = fs::read_to_string(d.join("host_key.pub")).unwrap();
        let mut parts = host_pub_text.split_whitespace();
        let (kt, key) = (parts.next().unwrap(), parts.next().unwrap());
        fs::write(
            d.join("known_hosts"),
            format!("# test server\n[127.0.0.1]:{port} {kt} {key}\n"),
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
        // sshd's privilege-separation directory.
        fs::create_dir_all("/run/sshd").unwrap();
        let log = d.join("sshd.log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("cannot start /usr/sbin/sshd (install openssh-server)");
        let mut sshd = Sshd {
            port,
            child,
            host_pub: d.join("host_key.pub"),
            known_hosts: d.join("known_hosts"),
            client_key: d.join("client_key"),
            client_key_with_passphrase: d.join("client_key_pass"),
            log,
            uid,
            gid,
            dir,
        };
        sshd.wait_ready();
        sshd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
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

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new folder the test account may write to; `None` for the folder's name.
    pub fn upload_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).unwrap();
        path
    }

    /// Settings for password login into `remote_dir`, verified with the test `known_hosts`,
    /// with short timeouts and backoffs.
    pub fn settings(&self, remote_dir: &Path) -> SftpSettings {
        let mut s = SftpSettings::new("127.0.0.1", TEST_USER);
        s.port = self.port;
        s.password = Some(TEST_PASSWORD.into());
        s.known_hosts_path = Some(self.known_hosts.clone());
        s.remote_dir = remote_dir.display().to_string();
        s.connect_timeout = Duration::from_secs(10);
        s.operation_timeout = Duration::from_secs(10);
        s.retry = RetryPolicy::new(3, Duration::from_millis(20), Duration::from_millis(100));
        s
    }

    pub fn fingerprint(&self) -> String {
        ssh_keygen_fingerprint(&self.host_pub)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Names in a folder, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A TCP proxy in front of `target` that cuts each of the first `faulty` connections after
/// `cut_after` client-to-server bytes; later connections pass through.
pub struct CuttingProxy {
    pub port: u16,
    /// Sockets kept open (without forwarding) by a stalling proxy.
    held: Arc<std::sync::Mutex<Vec<TcpStream>>>,
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub fn start(target: u16, faulty: usize, cut_after: usize) -> CuttingProxy {
        Self::start_with(target, faulty, cut_after, false)
    }

    /// Like `start`, but the faulty connections stall (stay open, forward nothing more)
    /// instead of being cut.
    pub fn stalling(target: u16, faulty: usize, stall_after: usize) -> CuttingProxy {
        Self::start_with(target, faulty, stall_after, true)
    }

    fn start_with(target: u16, faulty: usize, cut_after: usize, stall: bool) -> CuttingProxy {
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let holder = held.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let limit = if n < faulty { Some(cut_after) } else { None };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                if stall && limit.is_some() {
                    let mut held = holder.lock().unwrap();
                    held.push(client.try_clone().unwrap());
                    held.push(server.try_clone().unwrap());
                }
                let cut = !stall;
                std::thread::spawn(move || pump(client, server, limit, cut));
                std::thread::spawn(move || pump(s2, c2, None, true));
            }
        });
        CuttingProxy {
            port,
            held,
            connections,
            stop,
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>, cut: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(limit) = limit
            && total + n >= limit
        {
            let _ = to.write_all(&buf[..limit - total]);
            if !cut {
                // Stall: keep both sockets open, forward nothing more.
                return;
            }
            break;
        }
        total += n;
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A server that accepts connections and never says anything.
pub struct SilentServer {
    pub port: u16,
    _listener: TcpListener,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // The kernel completes the TCP handshake (backlog); nobody ever reads or writes.
        SilentServer {
            port,
            _listener: listener,
        }
    }
}

/// Polls `dir` until stopped, checking that `name`, whenever present, has exactly
/// `expected_len` bytes. Returns (polls, times the final name was seen).
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, usize)>,
}

impl Watcher {
    pub fn start(dir: &Path, name: &str, expected_len: u64) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let target = dir.join(name);
        let handle = std::thread::spawn(move || {
            let (mut polls, mut seen) = (0, 0);
            while !stopped.load(Ordering::SeqCst) {
                polls += 1;
                if let Ok(meta) = fs::metadata(&target) {
                    seen += 1;
                    assert_eq!(
                        meta.len(),
                        expected_len,
                        "a reader saw a partial file under the final name"
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (polls, seen)
        });
        Watcher { stop, handle }
    }

    pub fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .expect("watcher saw a partial final file")
    }
}
