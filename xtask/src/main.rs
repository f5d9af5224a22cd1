//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `cargo xtask ci`: everything CI checks, in order: the system tools the tests need, the
//!   test environment (an SFTP test account for the real `sshd`), `cargo fmt --check`,
//!   `cargo clippy -D warnings`, every test, `cargo doc` with warnings denied, and
//!   `cargo package` of every published crate, `cargo deny` and a short run of every fuzz
//!   target.
//! - `cargo xtask fuzz [--seconds N] [--asan] [--smoke] [TARGET...]`: build the libFuzzer
//!   targets of `fuzz/` and run each for N seconds (see `fuzz/README.md`).
//! - `cargo xtask deny`: licences, bans, sources and advisories of the dependency graph
//!   (`deny.toml`).
//! - `cargo xtask bench [--members N]`: the end-to-end benchmark of issue 9 (`bench.rs`): the
//!   release `liveramp` binary on a generated audience, locally and over SFTP, next to `cat`,
//!   `gpg` and OpenSSH's `sftp` on the same bytes (figures go to `docs/BENCHMARKS.md`).
//! - `cargo xtask bench --crates [CRATE...]`: the per-crate criterion benchmarks.
//! - `cargo xtask generate-members [--count N] [--seed S] [--output FILE]`: the deterministic
//!   messy members (NDJSON) of `liveramp_test_support::members`, the generator behind the demo
//!   audience and the benchmark.
//! - `cargo xtask generate-stream [--members N] [--seed S] [--output FILE]`: a deterministic
//!   stream of mParticle Firehose messages (`liveramp_test_support::stream`), shuffled and with
//!   repeats, one JSON message per line: `examples/demo/stream.ndjson`.
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
        Some("generate-members") => generate_members(&args[1..]),
        Some("generate-stream") => generate_stream(&args[1..]),
        Some("test-env") => test_env::prepare(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("deny") => deny::run(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | fuzz [--seconds N] [--asan] [--smoke] [TARGET...] | deny | \
                 bench [--members N] | bench --crates [CRATE...] | \
                 generate-members [--count N] [--seed S] [--output FILE] | \
                 generate-stream [--members N] [--seed S] [--output FILE] | test-env>\n\
                 \n  ci        fmt, clippy, tests, docs, packaging, cargo deny, fuzz smoke: what CI \
                 runs\
                 \n  fuzz      build the libFuzzer targets and run each for N seconds (default 60)\
                 \n  deny      cargo deny: licences, duplicate versions, sources, advisories\
                 \n  bench     the end-to-end benchmark (issue 9; `bench --help` for its options)\
                 \n  bench --crates [CRATE...]\
                 \n            the per-crate criterion benchmarks (all, or those of the named crates)\
                 \n  generate-members\
                 \n            write N generated messy members of seed S as NDJSON (default 1000 of \
                 seed 1, to stdout; `--count 1200 --seed 2026` is examples/demo/members.ndjson)\
                 \n  generate-stream\
                 \n            write a shuffled Firehose stream of N members with repeats (default \
                 1200 of seed 2026, to stdout: examples/demo/stream.ndjson)\
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

/// `cargo xtask generate-members [--count N] [--seed S] [--output FILE]`: members `0..N` of
/// seed `S` (default 1000 of seed 1) from `liveramp_test_support::members`, one profile per
/// line, to `FILE` or stdout. The same count and seed always give the same bytes.
fn generate_members(args: &[String]) -> Result {
    let usage = "usage: cargo xtask generate-members [--count N] [--seed S] [--output FILE]";
    let (mut count, mut seed, mut output): (u64, u64, Option<PathBuf>) = (1000, 1, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value\n{usage}"))
        };
        let number = |value: String| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name} {value:?} is not a whole number\n{usage}"))
        };
        match name {
            "--count" => count = number(value()?)?,
            "--seed" => seed = number(value()?)?,
            "--output" => output = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                println!("{usage}");
                return Ok(());
            }
            other => return Err(format!("unknown option {other:?}\n{usage}")),
        }
    }
    let written = match &output {
        Some(path) => std::fs::File::create(path).and_then(|file| {
            liveramp_test_support::members::write_members(
                &mut std::io::BufWriter::new(file),
                count,
                seed,
            )
        }),
        None => liveramp_test_support::members::write_members(
            &mut std::io::BufWriter::new(std::io::stdout().lock()),
            count,
            seed,
        ),
    };
    written.map_err(|e| match &output {
        Some(path) => format!("could not write the members to {}: {e}", path.display()),
        None => format!("could not write the members to stdout: {e}"),
    })
}

/// `cargo xtask generate-stream [--members N] [--seed S] [--output FILE]`: the Firehose stream
/// of `liveramp_test_support::stream` (default 1200 members of seed 2026: the demo stream), one
/// JSON message per line. The same options always give the same bytes.
fn generate_stream(args: &[String]) -> Result {
    use std::io::Write as _;
    let usage = "usage: cargo xtask generate-stream [--members N] [--seed S] [--output FILE]";
    let mut options = liveramp_test_support::stream::StreamOptions::default();
    let mut output: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value\n{usage}"))
        };
        let number = |value: String| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{arg} {value:?} is not a whole number\n{usage}"))
        };
        match arg.as_str() {
            "--members" => options.members = number(value()?)?,
            "--seed" => options.seed = number(value()?)?,
            "--output" => output = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                println!("{usage}");
                return Ok(());
            }
            other => return Err(format!("unknown option {other:?}\n{usage}")),
        }
    }
    let stream = liveramp_test_support::stream::stream(&options);
    let mut text = stream.lines.join("\n");
    text.push('\n');
    match &output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("could not write the stream to {}: {e}", path.display())),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("could not write the stream to stdout: {e}")),
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
    // The fuzz targets are built last, with `--locked`: a lock file left behind by a change of
    // the workspace's dependencies fails here in a second instead of after every test.
    let mut fuzz_lock = cargo();
    fuzz_lock
        .args(["tree", "--locked", "--manifest-path"])
        .arg("fuzz/Cargo.toml")
        .stdout(std::process::Stdio::null());
    step(
        "fuzz/Cargo.lock up to date (else: cargo tree --manifest-path fuzz/Cargo.toml)",
        fuzz_lock,
    )?;

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
    // Every failure at once, not only the first test binary's.
    test.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    step("cargo test --workspace", test)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("cargo doc (warnings denied)", doc)?;

    // Every published crate (not `--workspace`: cargo would also package the unpublished
    // members, and cannot package xtask, whose dependency on the unpublished test fixtures no
    // registry can provide). A published crate that made the fixtures a normal dependency
    // fails here: their workspace entry has no version.
    let mut package = cargo();
    package.args(["package", "--locked", "--allow-dirty", "--no-verify"]);
    for name in published_packages()? {
        package.args(["-p", &name]);
    }
    step("cargo package (every published crate)", package)?;

    // Last: it builds the fuzz targets in their own target folder (fuzz/target).
    fuzz::smoke()?;

    println!(
        "\nxtask ci: all steps passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The workspace members that are published (all but those with `publish = false`).
fn published_packages() -> Result<Vec<String>> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed ({})", out.status));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed something else than JSON: {e}"))?;
    let names: Vec<String> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        // `publish` is null (anywhere) or the list of registries allowed; `false` is `[]`.
        .filter(|p| p["publish"].as_array().is_none_or(|r| !r.is_empty()))
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    if names.is_empty() {
        return Err("cargo metadata lists no published crate".to_owned());
    }
    Ok(names)
}

/// Crates with benchmarks, in data-flow order.
const BENCH_CRATES: &[&str] = &[
    "liveramp-firehose",
    "liveramp-pii-normalize",
    "liveramp-identity-mapping",
    "liveramp-file-format",
    "liveramp-encrypt",
    "liveramp-sftp-transport",
    "liveramp-scheduler",
    "liveramp-audience-store",
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_packaged_crates_are_the_published_members() {
        let names = super::published_packages().unwrap();
        for published in [
            "liveramp-pii-normalize",
            "liveramp-connector",
            "liveramp-cli",
        ] {
            assert!(names.iter().any(|n| n == published), "{names:?}");
        }
        for unpublished in ["xtask", "liveramp-test-support"] {
            assert!(!names.iter().any(|n| n == unpublished), "{names:?}");
        }
    }
}
