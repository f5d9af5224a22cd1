//! `cargo xtask deny`: `cargo deny` over the workspace's dependency graph, with `deny.toml`.
//!
//! Licences, bans (duplicate versions, wildcards) and sources need nothing but `Cargo.lock`:
//! any finding fails. Advisories need the `RustSec` database, which is fetched from GitHub; where
//! it cannot be fetched and no copy exists, the advisory check is SKIPPED, and said loudly (set
//! `LIVERAMP_REQUIRE_ADVISORIES=1` to make that an error instead).

use std::path::PathBuf;
use std::process::Command;

use crate::{Result, cargo, step};

/// Environment variable that turns a skipped advisory check into a failure.
const REQUIRE_ADVISORIES: &str = "LIVERAMP_REQUIRE_ADVISORIES";

fn cargo_deny() -> Command {
    let mut command = cargo();
    command.arg("deny");
    command
}

/// Runs every check of `deny.toml`.
pub(crate) fn run() -> Result {
    let installed = cargo_deny()
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        return Err(
            "cargo-deny is not installed: `cargo install --locked cargo-deny` \
                    (`.ci/run` does it)"
                .to_owned(),
        );
    }

    let mut offline_checks = cargo_deny();
    offline_checks.args(["--locked", "check", "licenses", "bans", "sources"]);
    step("cargo deny check licenses bans sources", offline_checks)?;

    // Fetch (or update) the advisory database; fall back to a copy fetched before.
    let mut fetch = cargo_deny();
    fetch.args(["fetch", "db"]);
    let fetched = step("cargo deny fetch db (RustSec advisories)", fetch).is_ok();
    let mut advisories = cargo_deny();
    advisories.args(["--locked", "--offline", "check", "advisories"]);
    if fetched {
        return step("cargo deny check advisories", advisories);
    }
    // No fresh database: use a copy fetched before, if there is one, saying it may be stale.
    if has_database() {
        println!(
            "cargo deny: WARNING: the advisory database could not be updated; checking against \
             the copy in {}, which may be stale",
            database_dir().display()
        );
        return step("cargo deny check advisories (database on disk)", advisories);
    }
    skipped()
}

/// Where cargo-deny keeps advisory databases (its default `db-path`).
fn database_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("advisory-dbs")
}

/// Whether a database was fetched before: a folder in [`database_dir`] with a `crates` folder.
fn has_database() -> bool {
    std::fs::read_dir(database_dir()).is_ok_and(|entries| {
        entries
            .filter_map(std::result::Result::ok)
            .any(|entry| entry.path().join("crates").is_dir())
    })
}

fn skipped() -> Result {
    let message = "ADVISORIES NOT CHECKED: the RustSec advisory database could not be fetched \
                   (it lives on GitHub, which this network does not reach) and there is no copy \
                   on this machine. Licences, bans and sources were checked. To check \
                   advisories, run `cargo deny fetch db` where GitHub is reachable (or copy the \
                   database to ~/.cargo/advisory-dbs) and rerun `cargo xtask deny`.";
    println!("\n!!! {message}\n");
    if std::env::var_os(REQUIRE_ADVISORIES).is_some_and(|v| v == "1") {
        return Err(format!(
            "{REQUIRE_ADVISORIES}=1 and the advisories were not checked"
        ));
    }
    Ok(())
}
