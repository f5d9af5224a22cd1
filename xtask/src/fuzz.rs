//! `cargo xtask fuzz`: builds the libFuzzer targets of `fuzz/` and runs each for a bounded time.
//!
//! It needs no `cargo-fuzz` (installing it costs minutes) and no nightly toolchain: it builds
//! with the stable compiler, `RUSTC_BOOTSTRAP=1` unlocking the unstable sanitizer-coverage
//! flags, and the same flags `cargo fuzz build` passes (see `fuzz/README.md`). Each target runs
//! over `fuzz/corpus/<target>` (where libFuzzer keeps what it finds, as with `cargo fuzz run`),
//! seeded from the repository's fixtures and `fuzz/seeds/<target>`. A crash is saved under
//! `fuzz/artifacts/<target>/` and fails the command.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{Result, cargo, root};

/// What `cargo xtask ci` runs: every target for this many seconds.
pub(crate) const SMOKE_SECONDS: u64 = 8;

/// The sanitizer-coverage instrumentation libFuzzer needs, as `cargo fuzz build` passes it.
const COVERAGE_FLAGS: &[&str] = &[
    "--cfg",
    "fuzzing",
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
    "-Cdebug-assertions",
];

/// Options of `cargo xtask fuzz`.
struct Options {
    seconds: u64,
    asan: bool,
    /// Build with the cheaper `fuzz-smoke` profile of `fuzz/Cargo.toml` (CI's smoke run).
    smoke: bool,
    targets: Vec<String>,
}

fn usage() -> String {
    "usage: cargo xtask fuzz [--seconds N] [--asan] [--smoke] [TARGET...]\n\
     \n  --seconds N  run each target for N seconds (default 60)\
     \n  --asan       build with AddressSanitizer too (slower build and runs)\
     \n  --smoke      build as `cargo xtask ci` does (profile fuzz-smoke: opt-level 1)\
     \n  TARGET       only these targets (default: all; see fuzz/fuzz_targets/)"
        .to_owned()
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        seconds: 60,
        asan: false,
        smoke: false,
        targets: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--seconds needs a number\n{}", usage()))?;
                options.seconds = value.parse().map_err(|_| {
                    format!(
                        "--seconds {value}: not a whole number of seconds\n{}",
                        usage()
                    )
                })?;
                if options.seconds == 0 {
                    return Err(format!("--seconds 0: use at least 1\n{}", usage()));
                }
            }
            "--asan" => options.asan = true,
            "--smoke" => options.smoke = true,
            "-h" | "--help" => return Err(usage()),
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other}\n{}", usage()));
            }
            target => options.targets.push(target.to_owned()),
        }
    }
    Ok(options)
}

/// `cargo xtask fuzz ARGS`.
pub(crate) fn run(args: &[String]) -> Result {
    let options = parse(args)?;
    fuzz(&options)
}

/// The short run of every target `cargo xtask ci` does.
pub(crate) fn smoke() -> Result {
    fuzz(&Options {
        seconds: SMOKE_SECONDS,
        asan: false,
        smoke: true,
        targets: Vec::new(),
    })
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// The targets: the files of `fuzz/fuzz_targets/`, as `cargo fuzz list` shows them.
fn all_targets() -> Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut targets: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    targets.sort();
    Ok(targets)
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run `{rustc} -vV`: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| format!("`{rustc} -vV` printed no host triple"))
}

fn fuzz(options: &Options) -> Result {
    let started = Instant::now();
    let available = all_targets()?;
    let targets = if options.targets.is_empty() {
        available.clone()
    } else {
        for target in &options.targets {
            if !available.contains(target) {
                return Err(format!(
                    "no fuzz target `{target}`; the targets are: {}",
                    available.join(", ")
                ));
            }
        }
        options.targets.clone()
    };
    let triple = host_triple()?;
    let bin_dir = build(&triple, options.asan, options.smoke)?;
    let mut stats = Vec::new();
    for target in &targets {
        stats.push(run_target(&bin_dir, target, options)?);
    }
    println!(
        "\nfuzz: {} target(s), {} s each:",
        targets.len(),
        options.seconds
    );
    for (target, stat) in targets.iter().zip(&stats) {
        println!("  {target:16} {stat}");
    }
    println!(
        "fuzz: no crash; {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds every target, instrumented for libFuzzer; returns the folder of the binaries.
fn build(triple: &str, asan: bool, smoke: bool) -> Result<PathBuf> {
    let target_dir = fuzz_dir()
        .join("target")
        .join(if asan { "xtask-asan" } else { "xtask" });
    let mut flags: Vec<String> = COVERAGE_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    if asan {
        flags.push("-Zsanitizer=address".to_owned());
    }
    if let Ok(extra) = std::env::var("RUSTFLAGS") {
        flags.extend(extra.split_whitespace().map(str::to_owned));
    }
    let profile = if smoke { "fuzz-smoke" } else { "release" };
    let mut command = cargo();
    command
        .args([
            "build",
            "--profile",
            profile,
            "--locked",
            "--bins",
            "--target",
            triple,
        ])
        .arg("--manifest-path")
        .arg(fuzz_dir().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The sanitizer-coverage flags are unstable: the stable compiler accepts them only so.
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", flags.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    let what = if asan {
        "build the fuzz targets (libFuzzer + AddressSanitizer)"
    } else {
        "build the fuzz targets (libFuzzer)"
    };
    crate::step(what, command)?;
    Ok(target_dir.join(triple).join(profile))
}

/// Runs one target for the given time; returns libFuzzer's final statistics, summarised.
fn run_target(bin_dir: &Path, target: &str, options: &Options) -> Result<String> {
    let fuzz = fuzz_dir();
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    let seeds = fuzz.join("target").join("seeds").join(target);
    for dir in [&corpus, &artifacts] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_seeds(target, &seeds)?;
    let mut command = Command::new(bin_dir.join(target));
    command
        .arg(format!("-max_total_time={}", options.seconds))
        .arg("-timeout=20")
        .arg("-rss_limit_mb=4096")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus)
        .arg(&seeds);
    let committed = fuzz.join("seeds").join(target);
    if committed.is_dir() {
        command.arg(&committed);
    }
    if options.asan {
        let mut asan = std::env::var("ASAN_OPTIONS").unwrap_or_default();
        if !asan.is_empty() {
            asan.push(':');
        }
        asan.push_str("detect_odr_violation=0");
        command.env("ASAN_OPTIONS", asan);
    }
    println!("\n==> fuzz {target} for {} s", options.seconds);
    let started = Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("cannot run the fuzz target {target}: {e}"))?;
    let log_path = fuzz
        .join("target")
        .join("logs")
        .join(format!("{target}.log"));
    if let Some(dir) = log_path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    fs::write(&log_path, &output.stderr)
        .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
    let log = String::from_utf8_lossy(&output.stderr);
    println!(
        "<== fuzz {target}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
        return Err(format!(
            "fuzz target {target} failed ({}; whole log in {}): the input is saved under {}/; \
             reproduce with `{} <that file>`, then add it as a regression test (see \
             fuzz/README.md)",
            output.status,
            log_path.display(),
            artifacts.display(),
            bin_dir.join(target).display()
        ));
    }
    let stats: BTreeMap<&str, &str> = log
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("stat::")?;
            let (key, value) = rest.split_once(':')?;
            Some((key.trim(), value.trim()))
        })
        .collect();
    let corpus_files = fs::read_dir(&corpus).map_or(0, Iterator::count);
    Ok(format!(
        "{} runs, {} exec/s, {} coverage features, corpus {} files, peak RSS {} MB",
        stats.get("number_of_executed_units").unwrap_or(&"?"),
        stats.get("average_exec_per_sec").unwrap_or(&"?"),
        log.lines()
            .rev()
            .find_map(|line| line.split(" ft: ").nth(1)?.split_whitespace().next())
            .unwrap_or("?"),
        corpus_files,
        stats.get("peak_rss_mb").unwrap_or(&"?"),
    ))
}

/// Writes the seed inputs of `target`, taken from the repository's fixtures, into `dir`.
fn write_seeds(target: &str, dir: &Path) -> Result {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let root = root();
    let read = |path: &str| {
        let path = root.join(path);
        fs::read(&path).map_err(|e| format!("cannot read the seed {}: {e}", path.display()))
    };
    // A few members of each export: enough to show the fuzzer every field.
    let member_lines = || -> Result<Vec<Vec<u8>>> {
        let mut lines = Vec::new();
        for file in [
            "crates/identity-mapping/tests/fixtures/profiles.jsonl",
            "examples/demo/members.ndjson",
        ] {
            let text = read(file)?;
            lines.extend(
                text.split(|&b| b == b'\n')
                    .filter(|line| !line.is_empty())
                    .take(40)
                    .map(<[u8]>::to_vec),
            );
        }
        Ok(lines)
    };
    let seeds: Vec<Vec<u8>> = match target {
        "profile_json" => member_lines()?,
        "ndjson_members" => {
            let lines = member_lines()?;
            let mut seeds: Vec<Vec<u8>> = lines.chunks(8).map(|c| c.join(&b'\n')).collect();
            seeds.push(read(
                "crates/identity-mapping/tests/fixtures/profiles.jsonl",
            )?);
            seeds
        }
        "mapping" => member_lines()?
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                let mut seed = vec![u8::try_from(i % 4).unwrap_or(0)];
                seed.extend(line);
                seed
            })
            .collect(),
        "normalize" => {
            const VALUES: &[&str] = &[
                " Jane.Doe+news@Example.COM ",
                "\"jane doe\"@example.com",
                "+1 (212) 555-0143",
                "+44 20 7946 0958",
                "6D92078A-8246-4BA4-AE5B-76104861E7DC",
                "38400000-8cf0-11bd-b23e-10b96e40000d",
                "10001-1234",
                "SW1A 1AA",
                "New York",
                "ny",
                "United States",
                "Zoë O'Brien-Smith",
                "St. Louis",
                "d41d8cd98f00b204e9800998ecf8427e",
            ];
            let kinds = 9u8;
            (0..kinds)
                .flat_map(|kind| {
                    VALUES.iter().map(move |value| {
                        let mut seed = vec![kind];
                        seed.extend_from_slice(value.as_bytes());
                        seed
                    })
                })
                .collect()
        }
        "csv_roundtrip" => vec![
            read("crates/file-format/tests/golden/pii.csv")?,
            read("crates/file-format/tests/golden/device.csv")?,
            read("crates/identity-mapping/tests/fixtures/expected_a.csv")?,
        ],
        "config_toml" => vec![read("examples/demo/connector.toml")?],
        "firehose_message" => [
            "module_registration_request",
            "audience_subscription_request",
            "audience_membership_change_request",
            "dsr_processing_request",
        ]
        .iter()
        .map(|name| read(&format!("crates/firehose/tests/fixtures/{name}.json")))
        .collect::<Result<Vec<_>>>()?,
        "recipient_key" => vec![
            read("examples/demo/demo-public-key.asc")?,
            read("crates/encrypt/tests/data/demo-public-key.asc")?,
        ],
        _ => Vec::new(),
    };
    for (i, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("fixture-{i:03}"));
        fs::write(&path, seed).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_seconds_sanitizer_and_targets() {
        let options = parse(&args("--seconds 5 --asan --smoke mapping normalize")).unwrap();
        assert_eq!(options.seconds, 5);
        assert!(options.asan && options.smoke);
        assert_eq!(options.targets, ["mapping", "normalize"]);
        let defaults = parse(&[]).unwrap();
        assert_eq!(
            (defaults.seconds, defaults.asan, defaults.smoke),
            (60, false, false)
        );
        assert!(defaults.targets.is_empty());
    }

    #[test]
    fn rejects_bad_arguments_with_the_usage() {
        for bad in ["--seconds", "--seconds 0", "--seconds ten", "--jobs 2"] {
            let error = parse(&args(bad)).err().unwrap();
            assert!(error.contains("usage: cargo xtask fuzz"), "{bad}: {error}");
        }
    }

    /// Every file of `fuzz/fuzz_targets/` is a `[[bin]]` of `fuzz/Cargo.toml` and the other way
    /// round, so `cargo xtask fuzz` and `cargo fuzz list` see the same targets.
    #[test]
    fn every_target_file_is_a_bin_of_the_fuzz_manifest() {
        let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        let mut bins: Vec<String> = manifest
            .split("[[bin]]")
            .skip(1)
            .map(|section| {
                let name = section
                    .lines()
                    .find_map(|l| l.strip_prefix("name = "))
                    .unwrap();
                let path = section
                    .lines()
                    .find_map(|l| l.strip_prefix("path = "))
                    .unwrap();
                let name = name.trim_matches('"').to_owned();
                assert_eq!(path.trim_matches('"'), format!("fuzz_targets/{name}.rs"));
                name
            })
            .collect();
        bins.sort();
        assert_eq!(bins, all_targets().unwrap());
        assert_eq!(bins.len(), 8);
    }
}
