//! The test fixtures of the liveramp-connector workspace, in one place. **For tests only**: this
//! crate is never published; the published crates have it only as a dev-dependency (for their
//! tests and benchmarks), and `xtask` as a normal one (its benchmark starts the same `sshd` and
//! generates members with the same generator).
//!
//! The fixtures talk to real peers, never to mocks:
//!
//! - [`sshd`]: the system OpenSSH server (`/usr/sbin/sshd`) on 127.0.0.1 and a free port, with a
//!   throw-away host key, client keys with and without a passphrase, and the password login of
//!   the local test account that `cargo xtask test-env` (as root) creates; it can be stopped and
//!   restarted on the same port, and gives the [`SftpSettings`](liveramp_sftp_transport::SftpSettings)
//!   that reach it.
//! - [`net`]: TCP fault injection in front of a server: a proxy that cuts or stalls the first
//!   connections, one that throttles the upload direction, and a server that never answers.
//! - [`gpg`]: the system GnuPG in a throw-away home: the demo secret key, decryption, and the
//!   key generation and inspection the encryption tests use.
//! - [`csv`]: Python's `csv` module, an independent reader of the files we write.
//! - [`config`]: the connector configuration (TOML) the tests write: a `[directory]` or an
//!   `[sftp]` destination with every login kind, encryption, gzip, hashing, columns, state
//!   folder, retries, extra lines and audiences.
//! - [`members`]: the deterministic generator of messy member profiles (NDJSON) behind the demo
//!   audience, the tests and the benchmarks (`cargo xtask generate-members`).
//! - [`files`]: folder listings, SHA-256, deterministic bytes, polling, watchers that check what
//!   a reader sees while files are written, the ledger journal, and small `tmpfs` mounts.
//! - [`process`]: signals and process trees, and the `liveramp` binary (see [`liveramp!`]).
//! - [`serve`]: `liveramp serve` as a real process (its configuration, its standard error,
//!   HTTP requests to it).
//! - [`browser`]: headless Chromium: a page's DOM, a screenshot, its console messages.
//! - [`postgres`]: a throw-away PostgreSQL cluster (Debian's `initdb` and `pg_ctl`, run as the
//!   `postgres` user on a free port of 127.0.0.1, password logins over TCP) that can be stopped
//!   and started again, with `psql` and fresh databases.
//! - [`transport_suite`]: the behavioural suite every `Transport` implementation must pass.
//! - [`sender`]: Firehose messages posted as mParticle does (concurrent senders, retries on 5xx
//!   and broken connections until acknowledged), with a real HTTP client.
//! - [`store_model`]: the reference model of the membership store (messages replayed in time
//!   order), which every store backend and every test of the real-time path is compared with.
//! - [`stream`]: a deterministic stream of mParticle Firehose messages (subscriptions, adds,
//!   deletes, attribute updates of messy members), shuffled and with repeats, as JSON lines and
//!   as the store's values for the model; the demo stream comes from it.
//!
//! What they need: `gpg`, `python3`, `chromium`, `ssh-keygen` and `/usr/sbin/sshd` on the machine (`.ci/run`
//! installs them), the SFTP test account, and root for what only root may do (start `sshd` for
//! another account, hand it folders, mount `tmpfs`). Every fixture panics with the fix when what
//! it needs is missing, so a test that cannot run says why.
// Fixtures fail the test that uses them by panicking, with a message: that is their error
// handling (the `try_` variants return the message instead, for `xtask`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod config;
pub mod csv;
pub mod files;
pub mod gpg;
pub mod members;
pub mod net;
pub mod postgres;
pub mod process;
pub mod sender;
pub mod serve;
pub mod sshd;
pub mod store_model;
pub mod stream;
pub mod transport_suite;

use std::path::{Path, PathBuf};

/// Lossy UTF-8 of a process's output (or of any bytes).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The folder of the demo audience, `examples/demo/` (its configuration, members and key pair).
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

/// A file of the demo folder, e.g. `demo_file("demo-public-key.asc")`.
pub fn demo_file(name: &str) -> PathBuf {
    demo_dir().join(name)
}

/// The `liveramp` binary of the calling test (`CARGO_BIN_EXE_liveramp`, which Cargo sets for
/// the integration tests of `liveramp-cli`), as a [`std::process::Command`] with no inherited
/// log filter (`LIVERAMP_LOG` removed).
///
/// ```ignore
/// let out = liveramp_test_support::liveramp!().arg("--help").output().unwrap();
/// ```
#[macro_export]
macro_rules! liveramp {
    () => {
        $crate::process::liveramp_at(env!("CARGO_BIN_EXE_liveramp"))
    };
}
