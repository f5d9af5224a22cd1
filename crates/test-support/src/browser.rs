//! Headless Chromium (Debian's `chromium`, which `.ci/run` installs): a page's DOM after
//! loading, a screenshot, and what the page logged to its console (script errors, blocked
//! resources, Content-Security-Policy violations).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Where Debian's package puts it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless Chromium run's output: its standard output (the DOM for
/// [`Chromium::dump_dom`]) and the console lines of its standard error.
#[derive(Debug, Clone)]
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error (Chromium's log).
    pub stderr: String,
}

impl Run {
    /// The log lines that are a page's console messages, or mention a script error or a
    /// Content-Security-Policy violation. A page without script logs none.
    pub fn console_problems(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter(|l| {
                l.contains(":CONSOLE")
                    || l.contains("Refused to")
                    || l.contains("Content Security Policy")
                    || l.contains("Uncaught")
            })
            .map(str::to_owned)
            .collect()
    }
}

/// Headless Chromium, each run with a fresh profile.
#[derive(Debug)]
pub struct Chromium {
    exe: String,
}

impl Chromium {
    /// Finds it (`/usr/bin/chromium`, or `chromium` on `PATH`), panicking with the fix when it
    /// is missing: the browser tests never pass without a browser.
    pub fn find() -> Chromium {
        let exe = if Path::new(CHROMIUM).exists() {
            CHROMIUM.to_owned()
        } else {
            "chromium".to_owned()
        };
        let works = Command::new(&exe)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            works,
            "Chromium is missing: install it (`apt-get install -y chromium` as root; `.ci/run` \
             does) to run the status page's browser tests"
        );
        Chromium { exe }
    }

    fn run(&self, args: &[&str], url: &str) -> Run {
        let profile = tempfile::tempdir().unwrap();
        let mut command = Command::new(&self.exe);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg(url);
        let out = run_with_timeout(command, Duration::from_secs(90));
        assert!(
            out.status.success(),
            "chromium failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Loads `url` and returns the DOM as serialised after loading (`--dump-dom`).
    pub fn dump_dom(&self, url: &str) -> Run {
        self.run(&["--dump-dom"], url)
    }

    /// Loads `url` in a `width` x `height` window and saves a PNG screenshot at `png`.
    pub fn screenshot(&self, url: &str, png: &Path, width: u32, height: u32) -> Run {
        let _ = std::fs::remove_file(png);
        let run = self.run(
            &[
                &format!("--screenshot={}", png.display()),
                &format!("--window-size={width},{height}"),
                "--hide-scrollbars",
            ],
            url,
        );
        assert!(
            png.exists(),
            "no screenshot at {}: {}",
            png.display(),
            run.stderr
        );
        run
    }
}

/// Runs `command`, killing it after `limit`.
fn run_with_timeout(mut command: Command, limit: Duration) -> Output {
    use std::process::Stdio;
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if wait.recv_timeout(limit).is_err() {
            crate::process::signal(pid, "KILL");
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    out
}
