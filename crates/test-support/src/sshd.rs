//! The real OpenSSH server (`/usr/sbin/sshd`) on 127.0.0.1, for the SFTP tests and the
//! benchmark.
//!
//! It logs in the local test account [`TEST_USER`], which `cargo xtask test-env` creates (as
//! root; `xtask/src/test_env.rs`): by password ([`TEST_PASSWORD`], public and test-only; the
//! account has no login shell and only this `sshd` accepts passwords) or with the client keys
//! it generates. Starting `sshd` for another account and handing that account its upload
//! folders needs root: the SFTP tests run as root, like the rest of CI.

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use liveramp_sftp_transport::{RetryPolicy, SftpSettings};

use crate::net::free_port;
use crate::process::{descendants, signal};
use crate::text;

/// The local test account `cargo xtask test-env` creates (see `xtask/src/test_env.rs`).
pub const TEST_USER: &str = "liveramp-sftp-test";
/// Its fixed, public, test-only password.
pub const TEST_PASSWORD: &str = "liveramp-sftp-test-password-not-secret";

/// uid and gid of the test account; panics with the fix (run `cargo xtask test-env` as root)
/// when it does not exist.
pub fn test_account() -> (u32, u32) {
    try_test_account().unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`test_account`], returning the message instead of panicking.
pub fn try_test_account() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, TEST_USER]).output().ok()?;
        out.status
            .success()
            .then(|| text(&out.stdout).trim().parse().ok())?
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(format!(
            "the SFTP test account `{TEST_USER}` does not exist: run `cargo xtask test-env` \
             (as root) once, then run the tests again"
        )),
    }
}

/// Generates an ed25519 key pair at `path` (and `path.pub`) with the real `ssh-keygen`, its
/// private half protected by `passphrase` (none when empty); panics when it fails.
pub fn keygen(path: &Path, passphrase: &str) {
    try_keygen(path, passphrase).unwrap_or_else(|e| panic!("{e}"));
}

fn try_keygen(path: &Path, passphrase: &str) -> Result<(), String> {
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
        .map_err(|e| format!("cannot run ssh-keygen (install openssh-client): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ssh-keygen -f {} failed: {}",
            path.display(),
            text(&out.stderr)
        ))
    }
}

/// What `ssh-keygen -lf` prints as the fingerprint (`SHA256:...`) of a public key file.
pub fn ssh_keygen_fingerprint(pub_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// The real OpenSSH server on 127.0.0.1 and a free port, with its own host key, the password
/// account, and two authorised client keys (one plain, one protected by
/// [`Sshd::KEY_PASSPHRASE`]). It can be stopped (listener and per-connection processes) and
/// restarted on the same port with the same keys; dropping it stops it and removes its folder.
pub struct Sshd {
    /// The server's folder (keys, configuration, log, upload folders), world-traversable so the
    /// test account reaches its upload folders; removed on drop.
    pub dir: tempfile::TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    child: Option<Child>,
    /// The host's public key.
    pub host_pub: PathBuf,
    /// A `known_hosts` file for `[127.0.0.1]:PORT` (after a comment line, as real files have).
    pub known_hosts: PathBuf,
    /// An unencrypted client key.
    pub client_key: PathBuf,
    /// A client key protected by [`Sshd::KEY_PASSPHRASE`].
    pub client_key_with_passphrase: PathBuf,
    /// The server's log (`sshd -e`, `LogLevel VERBOSE`, SFTP requests at `INFO`).
    pub log: PathBuf,
    uid: u32,
    gid: u32,
}

impl Sshd {
    /// The passphrase of `client_key_with_passphrase`: distinctive, so a grep of every output
    /// finds any leak (the hygiene tests of `liveramp-cli` do).
    pub const KEY_PASSPHRASE: &'static str = "Passphrase-never-printed-7f3a91c2";

    /// Starts the server and waits until it answers; panics with the reason (and the fix) when
    /// it cannot: no test account, no `sshd`, not root.
    pub fn start() -> Sshd {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Sshd::start`], returning the reason instead of panicking.
    pub fn try_start() -> Result<Sshd, String> {
        Self::launch(None)
    }

    /// Like [`Sshd::try_start`], with the server's log at `log` (which outlives the server)
    /// instead of in its folder.
    pub fn try_start_logging_to(log: PathBuf) -> Result<Sshd, String> {
        Self::launch(Some(log))
    }

    fn launch(log: Option<PathBuf>) -> Result<Sshd, String> {
        let io = |what: &str, path: &Path, e: std::io::Error| {
            format!("cannot {what} {}: {e}", path.display())
        };
        let (uid, gid) = try_test_account()?;
        let dir = tempfile::Builder::new()
            .prefix("liveramp-sshd-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let d = dir.path().to_path_buf();
        // The test account must reach its upload folders and read authorized_keys.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))
            .map_err(|e| io("chmod", &d, e))?;
        try_keygen(&d.join("host_key"), "")?;
        try_keygen(&d.join("client_key"), "")?;
        try_keygen(&d.join("client_key_pass"), Self::KEY_PASSPHRASE)?;
        let read =
            |name: &str| fs::read_to_string(d.join(name)).map_err(|e| io("read", &d.join(name), e));
        let authorized = d.join("authorized_keys");
        fs::write(
            &authorized,
            read("client_key.pub")? + &read("client_key_pass.pub")?,
        )
        .map_err(|e| io("write", &authorized, e))?;
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o644))
            .map_err(|e| io("chmod", &authorized, e))?;
        let port = free_port();
        let host_pub_text = read("host_key.pub")?;
        let mut parts = host_pub_text.split_whitespace();
        let (kt, key) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let known_hosts = d.join("known_hosts");
        fs::write(
            &known_hosts,
            format!("# test server\n[127.0.0.1]:{port} {kt} {key}\n"),
        )
        .map_err(|e| io("write", &known_hosts, e))?;
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
            authorized = authorized.display(),
        );
        let config_path = d.join("sshd_config");
        fs::write(&config_path, config).map_err(|e| io("write", &config_path, e))?;
        // sshd's privilege-separation directory.
        fs::create_dir_all("/run/sshd").map_err(|e| {
            format!("cannot create /run/sshd (starting sshd for the test account needs root): {e}")
        })?;
        let log = log.unwrap_or_else(|| d.join("sshd.log"));
        fs::File::create(&log).map_err(|e| io("create", &log, e))?;
        let mut sshd = Sshd {
            port,
            child: None,
            host_pub: d.join("host_key.pub"),
            known_hosts,
            client_key: d.join("client_key"),
            client_key_with_passphrase: d.join("client_key_pass"),
            log,
            uid,
            gid,
            dir,
        };
        sshd.spawn()?;
        Ok(sshd)
    }

    /// Starts the server (again) on the same port with the same keys, and waits until it
    /// answers; panics when it is already running or does not start.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "sshd is already running");
        self.spawn().unwrap_or_else(|e| panic!("{e}"));
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start /usr/sbin/sshd (install openssh-server): {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                let root = if is_root() {
                    ""
                } else {
                    " (sshd must be started as root)"
                };
                return Err(format!("sshd exited ({status}){root}: {}", self.log_text()));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut banner = [0u8; 7];
                if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("sshd did not start: {}", self.log_text()))
    }

    /// Kills the listener and every per-connection child with SIGKILL: the server is gone,
    /// mid-transfer connections included. [`Sshd::restart`] brings it back.
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

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new folder `name` in the server's folder, owned by the test account (so it may write
    /// there); panics when it cannot be made.
    pub fn upload_dir(&self, name: &str) -> PathBuf {
        self.try_upload_dir(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Sshd::upload_dir`], returning the reason instead of panicking.
    pub fn try_upload_dir(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).map_err(|e| {
            format!(
                "cannot give {} to the test account `{TEST_USER}` (needs root): {e}",
                path.display()
            )
        })?;
        Ok(path)
    }

    /// Settings for password login into `remote_dir`, verified with the test `known_hosts`,
    /// with short timeouts (10 s) and backoffs (3 attempts, 20 ms to 100 ms).
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

    /// The host key's fingerprint, `SHA256:...`, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        ssh_keygen_fingerprint(&self.host_pub)
    }

    /// A `known_hosts` file (next to [`Sshd::known_hosts`]) whose entry names
    /// `[127.0.0.1]:port`: for clients that dial a proxy in front of the server.
    pub fn known_hosts_for_port(&self, port: u16) -> PathBuf {
        let original = fs::read_to_string(&self.known_hosts).unwrap();
        let line = original.lines().find(|l| !l.starts_with('#')).unwrap();
        let rest = line.split_once(' ').unwrap().1;
        let path = self
            .known_hosts
            .with_file_name(format!("known_hosts_{port}"));
        fs::write(&path, format!("[127.0.0.1]:{port} {rest}\n")).unwrap();
        path
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
