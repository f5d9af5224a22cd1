//! `liveramp serve` as a real process: its configuration, starting it and waiting until it
//! answers, its standard error as it comes, and HTTP requests to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::TestConfig;
use crate::files::wait_until;

/// The Firehose API key the serve tests send (public, for tests only).
pub const KEY: &str = "serve-test-key-not-secret";

/// A running `liveramp serve`, killed when dropped.
pub struct Serve {
    /// The process.
    pub child: Child,
    /// The Firehose port.
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Spawns `command` (`liveramp serve --config FILE`, from the test's `liveramp!()`) with
    /// the Firehose key [`KEY`] and `LIVERAMP_LOG=info`, and waits until `port` answers
    /// `/healthz` (panicking with its standard error if it does not within 20 s).
    pub fn start(mut command: Command, port: u16) -> Serve {
        let serve = Serve::spawn(&mut command, port);
        assert!(
            wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
                ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
                    .call()
                    .is_ok()
            }),
            "serve did not start: {}",
            serve.stderr()
        );
        serve
    }

    /// Spawns `command` like [`Serve::start`] without waiting for anything.
    pub fn spawn(command: &mut Command, port: u16) -> Serve {
        let mut child = command
            .env("LIVERAMP_FIREHOSE_API_KEY", KEY)
            .env("LIVERAMP_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Serve {
            child,
            port,
            stderr,
        }
    }

    /// Its standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The Firehose URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/firehose", self.port)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The membership changes the `serve` on `port` has answered 200, from its `/metrics` (0
/// while it does not answer): lets a test act once part of a stream is in, not after a guessed
/// time.
pub fn acknowledged_changes(port: u16) -> u64 {
    let Ok(mut response) = ureq::get(&format!("http://127.0.0.1:{port}/metrics")).call() else {
        return 0;
    };
    let text = response.body_mut().read_to_string().unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(
                "liveramp_firehose_requests_total{type=\"audience_membership_change_request\",status=\"200\"} ",
            )
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A store configuration (hashing on, to the folder `out`) serving the Firehose on
/// `127.0.0.1:port` and the status page on `admin` (`admin_api_key_env` when `admin_key_env`
/// is given), the nightly run at `time` (`HH:MM:SS`) UTC, retries after a minute.
pub fn config(
    dir: &Path,
    port: u16,
    admin: &str,
    admin_key_env: Option<&str>,
    time: &str,
) -> PathBuf {
    let key = admin_key_env
        .map(|env| format!("\nadmin_api_key_env = \"{env}\""))
        .unwrap_or_default();
    let server =
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"{admin}\"{key}");
    TestConfig::directory("out")
        .with_store()
        .hash(true)
        .section(&server)
        .section(&format!(
            "[schedule]\ntime = \"{time}\"\ntimezone = \"UTC\"\nretry_delay_minutes = 1"
        ))
        .write(dir)
}

/// An HTTP answer: status, headers (lowercase names; repeated ones joined with `, `), body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

/// `GET url` with a real HTTP client, with `authorization` as the `Authorization` header;
/// any status is an answer.
pub fn get(url: &str, authorization: Option<&str>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut request = agent.get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.call().unwrap();
    let mut headers = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in response.headers() {
        let value = value.to_str().unwrap_or("").to_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Answer {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// Asserts that `liveramp members --config CONFIG --audience ID` prints exactly the model's
/// snapshot, for every audience of the model. `liveramp` makes the test's own command
/// (`liveramp!()`, with whatever environment it needs, e.g. the database URL).
pub fn assert_members_are(
    liveramp: impl Fn() -> Command,
    config: &Path,
    model: &crate::store_model::Model,
) {
    for info in model.audiences() {
        let out = liveramp()
            .args(["members", "--config"])
            .arg(config)
            .args(["--audience", &info.id.to_string()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", crate::text(&out.stderr));
        let expected: String = model.lines(info.id).iter().fold(String::new(), |mut t, l| {
            t.push_str(l);
            t.push('\n');
            t
        });
        assert_eq!(crate::text(&out.stdout), expected, "audience {}", info.id);
    }
}

/// The names of the files in `dir`, hidden ones (`.NAME.part`) included; none if it is
/// missing.
pub fn files_in(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|e| {
            e.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// [`files_in`] without the hidden ones.
pub fn visible_files_in(dir: &Path) -> std::collections::BTreeSet<String> {
    files_in(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// A time of day (`HH:MM:SS`, UTC) twelve hours from now: a night no test waits for.
pub fn quiet_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t = (now + 12 * 3600) % 86_400;
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}
