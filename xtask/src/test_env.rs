//! The test environment the real-peer tests need (owned by the `sftp-transport` work).
//!
//! The `liveramp-sftp-transport` tests start the real OpenSSH `sshd` on 127.0.0.1 and log in
//! to it as a local account with a password (and with keys). This creates that account,
//! idempotently. It needs root (CI and the development containers run as root).
//!
//! The account is **test-only**: its password is public (it is in
//! `crates/test-support/src/sshd.rs` and the README), it has no login shell (`/usr/sbin/nologin`; SFTP works through sshd's
//! `internal-sftp`), and only the tests' own `sshd` on 127.0.0.1 lets it in with a password.

use std::path::Path;
use std::process::{Command, Stdio};

// The local account the sshd tests log in as, and its fixed, public, test-only password: the
// ones the tests' `Sshd` (`liveramp_test_support::sshd`) logs in with.
use liveramp_test_support::sshd::{TEST_PASSWORD, TEST_USER};

/// Creates (or updates) the SFTP test account the `sshd` tests log in with.
pub(crate) fn prepare() -> crate::Result {
    println!("\n==> test environment: SFTP test account `{TEST_USER}`");
    if !is_root() {
        return Err(format!(
            "creating the SFTP test account needs root: run `sudo cargo xtask test-env` once \
             (it runs `useradd --system --create-home --shell /usr/sbin/nologin {TEST_USER}` \
             and sets its test-only password with `chpasswd`), then run the tests again"
        ));
    }
    if account_exists() {
        println!("account `{TEST_USER}` exists");
    } else {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--create-home",
                "--home-dir",
                &format!("/home/{TEST_USER}"),
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "liveramp-connector SFTP tests (test-only password)",
                TEST_USER,
            ])
            .status()
            .map_err(|e| format!("cannot run `useradd` (package `passwd`): {e}"))?;
        if !status.success() {
            return Err(format!("`useradd {TEST_USER}` failed ({status})"));
        }
        println!("created account `{TEST_USER}`");
    }
    set_password()?;
    // sshd refuses users whose shell is missing; nologin is in every Debian base system.
    if !Path::new("/usr/sbin/nologin").exists() {
        return Err("`/usr/sbin/nologin` is missing (package `login`)".to_owned());
    }
    // sshd needs its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").map_err(|e| format!("cannot create /run/sshd: {e}"))?;
    println!("account `{TEST_USER}` is ready (test-only password set)");
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn account_exists() -> bool {
    Command::new("id")
        .arg(TEST_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn set_password() -> crate::Result {
    use std::io::Write;
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `chpasswd` (package `passwd`): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("chpasswd has no stdin")?
        .write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
        .map_err(|e| format!("cannot write to chpasswd: {e}"))?;
    let status = child
        .wait()
        .map_err(|e| format!("chpasswd did not finish: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`chpasswd` failed for `{TEST_USER}` ({status})"))
    }
}
