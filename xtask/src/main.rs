//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `cargo xtask ci`: everything CI checks, in order: the system tools the tests need, the
//!   test environment (an SFTP test account for the real `sshd`), `cargo fmt --check`,
//!   `cargo clippy -D warnings`, every test, `cargo doc` with warnings denied, and
//!   `cargo package --workspace`, `cargo deny` and a short run of every fuzz target.
//! - `cargo xtask fuzz [--seconds N] [--asan] [--smoke] [TARGET...]`: build the libFuzzer
//!   targets of `fuzz/` and run each for N seconds (see `fuzz/README.md`).
//! - `cargo xtask deny`: licences, bans, sources and advisories of the dependency graph
//!   (`deny.toml`).
//! - `cargo xtask bench [--members N]`: the end-to-end benchmark of issue 9 (`bench.rs`): the
//!   release `liveramp` binary on a generated audience, locally and over SFTP, next to `cat`,
//!   `gpg` and OpenSSH's `sftp` on the same bytes (figures go to `docs/BENCHMARKS.md`).
//! - `cargo xtask bench --crates [CRATE...]`: the per-crate criterion benchmarks.
//! - `cargo xtask test-env`: only prepare the test environment.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod deny;
mod fuzz;
mod test_env;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") if args.get(1).is_some_and(|a| a == "--crates") => bench_crates(&args[2..]),
        Some("bench") => bench::run(&args[1..]),
        Some("test-env") => test_env::prepare(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("deny") => deny::run(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | fuzz [--seconds N] [--asan] [--smoke] [TARGET...] | deny | \
                 bench [--members N] | bench --crates [CRATE...] | test-env>\n\
                 \n  ci        fmt, clippy, tests, docs, packaging, cargo deny, fuzz smoke: what CI \
                 runs\
                 \n  fuzz      build the libFuzzer targets and run each for N seconds (default 60)\
                 \n  deny      cargo deny: licences, duplicate versions, sources, advisories\
                 \n  bench     the end-to-end benchmark (issue 9; `bench --help` for its options)\
                 \n  bench --crates [CRATE...]\
                 \n            the per-crate criterion benchmarks (all, or those of the named crates)\
                 \n  test-env  prepare the SFTP test account the sshd tests log in with"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's folder).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(root());
    command
}

/// Runs one step, printing its name and how long it took; fails with the step's name.
fn step(name: &str, mut command: Command) -> Result {
    println!("\n==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    println!("<== {name}: {:.1} s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

/// The system programs the tests talk to (real peers, not mocks).
fn check_tools() -> Result {
    let needed = [
        ("gpg", "gnupg"),
        ("python3", "python3"),
        ("gzip", "gzip"),
        ("sftp", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("/usr/sbin/sshd", "openssh-server"),
    ];
    let missing: Vec<String> = needed
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(program, package)| format!("`{program}` (Debian package `{package}`)"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the tests need {}; install with `apt-get install -y gnupg openssh-server \
             openssh-client python3 gzip` (see README.md)",
            missing.join(", ")
        ))
    }
}

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    env::var_os("PATH")
        .is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn ci() -> Result {
    let started = Instant::now();
    check_tools()?;
    test_env::prepare()?;

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("cargo fmt --check", fmt)?;
    let mut fmt_fuzz = cargo();
    fmt_fuzz.args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]);
    step("cargo fmt --check (fuzz targets)", fmt_fuzz)?;

    deny::run()?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    step("cargo clippy -D warnings", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--locked"]);
    step("cargo test --workspace", test)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("cargo doc (warnings denied)", doc)?;

    let mut package = cargo();
    package.args([
        "package",
        "--workspace",
        "--locked",
        "--allow-dirty",
        "--no-verify",
    ]);
    step("cargo package --workspace", package)?;

    // Last: it builds the fuzz targets in their own target folder (fuzz/target).
    fuzz::smoke()?;

    println!(
        "\nxtask ci: all steps passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Crates with benchmarks, in data-flow order.
const BENCH_CRATES: &[&str] = &[
    "liveramp-pii-normalize",
    "liveramp-identity-mapping",
    "liveramp-file-format",
    "liveramp-encrypt",
    "liveramp-sftp-transport",
    "liveramp-scheduler",
];

fn bench_crates(only: &[String]) -> Result {
    check_tools()?;
    test_env::prepare()?;
    for krate in BENCH_CRATES {
        if !only.is_empty() && !only.iter().any(|o| krate.ends_with(o.as_str())) {
            continue;
        }
        let mut command = cargo();
        command.args(["bench", "--locked", "-p", krate]);
        step(&format!("cargo bench -p {krate}"), command)?;
    }
    Ok(())
}
