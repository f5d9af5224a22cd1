//! `cargo xtask bench`: the end-to-end benchmark of issue 9.
//!
//! Generates a messy audience once (`<target>/bench/members-<N>.ndjson`, with the generator of
//! `liveramp_test_support::members`, reused while the generator and seed are unchanged), builds
//! the release `liveramp` binary, and runs it as a child process in four scenarios, measuring
//! each child with GNU `time` (wall and CPU seconds, peak RSS):
//!
//! 1. `liveramp map-only`: parse, map, normalise and hash, no file (the compute ceiling);
//! 2. `liveramp run` to a local `[directory]`, encryption off;
//! 3. the same with encryption on (to the demo key, `examples/demo/demo-public-key.asc`);
//! 4. `liveramp run` with encryption over SFTP to a real OpenSSH `sshd` on 127.0.0.1, which
//!    the bench starts: the tests' `liveramp_test_support::sshd::Sshd` (needs root and the test
//!    account of `cargo xtask test-env`).
//!
//! In the same run, on the same bytes, the reference points: `cat` of scenario 2's files,
//! `gpg --encrypt --compress-algo none` of them to the same key, and OpenSSH's `sftp -b` `put`
//! of scenario 3's encrypted files to the same server, beside our transport's pure upload of the
//! same files (`liveramp upload-files`; scenario 4 streams while it builds, so its upload time is
//! not one). Scenario 2 runs again with `--threads 1` and `--threads 4` to check that the output
//! is byte-identical whatever the thread count. Prints a Markdown report (machine, date,
//! command, configuration, table, ratios, targets) and saves it in `<target>/bench/`.
// Figures are printed with a few significant digits: float casts cannot hurt them.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use liveramp_test_support::members;
use liveramp_test_support::sshd::{Sshd, TEST_USER};
use serde_json::Value;

use crate::Result;

/// The audience size without `--members`.
const DEFAULT_MEMBERS: u64 = 1_000_000;
/// The generator seed without `--seed`.
const DEFAULT_SEED: u64 = 2026;
/// Lines of the member file compared with a fresh generation to detect a changed generator.
const SAMPLE_LINES: u64 = 1000;
/// The run date of every delivery (fixed, so file names and outputs are comparable).
mod store;

const RUN_DATE: &str = "2026-11-28";

/// Issue 9's targets.
const TARGET_MEMBERS_PER_S: f64 = 650_000.0;
const TARGET_RSS_MIB: f64 = 64.0;
const TARGET_UPLOAD_RATIO: f64 = 0.80;
const TARGET_SFTP_RATIO: f64 = 0.75;
const TARGET_RSS_FLAT: f64 = 0.10;

/// What `cargo xtask bench` was asked to do.
struct Options {
    members: u64,
    seed: u64,
    skip_sftp: bool,
    skip_store: bool,
    /// Only the store and endpoint scenarios (5-8), for the large audience.
    store_only: bool,
    /// A `liveramp` binary to measure instead of building this checkout's (an earlier
    /// commit's, for a before/after comparison with the same harness).
    liveramp: Option<PathBuf>,
}

fn usage() -> String {
    "usage: cargo xtask bench [--members N] [--seed S] [--skip-sftp] [--skip-store] [--store-only] [--liveramp EXE]\n\
     \x20      cargo xtask bench --crates [CRATE...]\n\
     \n  --members N   audience size (default 1000000; `--members 10000000` for the large run)\
     \n  --seed S      generator seed (default 2026)\
     \n  --skip-sftp   skip scenario 4 and the SFTP reference (no root or no sshd)\
     \n  --skip-store  skip scenarios 5-8 (the SQLite store and `liveramp serve`)\
     \n  --store-only  run only scenarios 5-8 (for the large audience: `--members 10000000 --store-only`)\
     \n  --liveramp EXE  measure this liveramp binary instead of building this checkout's\
     \n                (e.g. an earlier commit's release build, for a before/after comparison)\
     \n  --crates      run the per-crate criterion benchmarks instead (all, or the named ones)"
        .to_owned()
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        members: DEFAULT_MEMBERS,
        seed: DEFAULT_SEED,
        skip_sftp: false,
        skip_store: false,
        store_only: false,
        liveramp: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64> {
            let value = it
                .next()
                .ok_or_else(|| format!("{name} needs a number\n{}", usage()))?;
            value.replace(['_', ','], "").parse::<u64>().map_err(|_| {
                format!(
                    "{name} {value:?} is not a whole number (e.g. 1000000)\n{}",
                    usage()
                )
            })
        };
        match arg.as_str() {
            "--members" => options.members = number("--members")?,
            "--seed" => options.seed = number("--seed")?,
            "--skip-sftp" => options.skip_sftp = true,
            "--skip-store" => options.skip_store = true,
            "--store-only" => options.store_only = true,
            "--liveramp" => {
                let exe = it
                    .next()
                    .ok_or_else(|| format!("--liveramp needs a path\n{}", usage()))?;
                options.liveramp = Some(PathBuf::from(exe));
            }
            other => return Err(format!("unknown option {other:?}\n{}", usage())),
        }
    }
    if options.members == 0 {
        return Err("--members must be at least 1".to_owned());
    }
    Ok(options)
}

/// `cargo xtask bench [--members N] [--seed S] [--skip-sftp]`.
pub(crate) fn run(args: &[String]) -> Result {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", usage());
        return Ok(());
    }
    let options = parse(args)?;
    let command_line = if args.is_empty() {
        "cargo xtask bench".to_owned()
    } else {
        format!("cargo xtask bench {}", args.join(" "))
    };
    check_tools()?;
    let sftp_reason = if options.skip_sftp {
        Some("skipped (--skip-sftp)".to_owned())
    } else if !is_root() {
        Some(
            "skipped: starting sshd for the test account needs root (run the bench as root, \
             after `cargo xtask test-env`)"
                .to_owned(),
        )
    } else {
        crate::test_env::prepare()?;
        None
    };

    let exe = match &options.liveramp {
        Some(exe) if exe.is_file() => exe.clone(),
        Some(exe) => return Err(format!("--liveramp {}: no such file", exe.display())),
        None => build_liveramp()?,
    };
    let binary = sha256_of(&exe);
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected binary path {}", exe.display()))?;
    // An outside binary's results go under this checkout's target/, beside its own.
    let bench_dir = if options.liveramp.is_some() {
        crate::root().join("target").join("bench")
    } else {
        target.join("bench")
    };
    fs::create_dir_all(&bench_dir).map_err(|e| io_error("create", &bench_dir, &e))?;
    let started_at = utc_now();
    let load_before = load_average();

    let members = ensure_members(&bench_dir, options.members, options.seed)?;
    let member_bytes = fs::metadata(&members)
        .map_err(|e| io_error("read", &members, &e))?
        .len();

    let run_dir = bench_dir.join("run");
    if run_dir.exists() {
        fs::remove_dir_all(&run_dir).map_err(|e| io_error("remove", &run_dir, &e))?;
    }
    fs::create_dir_all(&run_dir).map_err(|e| io_error("create", &run_dir, &e))?;
    let key = crate::root().join("examples/demo/demo-public-key.asc");
    let gnupg = prepare_gnupg(&run_dir.join("gnupg"), &key)?;

    if options.store_only {
        let results = store::run(
            &exe,
            &run_dir,
            options.members,
            options.seed,
            &key,
            member_bytes,
        )?;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "### The store and the endpoint, {} members",
            thousands(options.members)
        );
        let _ = writeln!(md);
        let _ = writeln!(md, "Command: `{command_line}`");
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "Machine: {}; started {started_at}, finished {}; load average {load_before} before, \
             {} after; commit {}.",
            machine(),
            utc_now(),
            load_average(),
            git_commit()
        );
        store::report(&mut md, &results, 0);
        let report_path = bench_dir.join(format!("report-store-{}.md", options.members));
        fs::write(&report_path, &md).map_err(|e| io_error("write", &report_path, &e))?;
        println!("\n{md}\n(saved as {})", report_path.display());
        return Ok(());
    }

    let mut rows: Vec<Row> = Vec::new();

    // Warm the page cache with the members (and measure reading them as a reference).
    let cat_members = measure(
        "cat members",
        &tool("cat", &[members.as_os_str().to_owned()]),
        None,
    )?;

    // 1. map-only.
    let s1 = scenario_dir(&run_dir, "1-map-only")?;
    let config_plain = write_config(&s1, &members, &key, false, None)?;
    let m = measure(
        "scenario 1: map-only",
        &liveramp(
            &exe,
            &[
                "map-only".into(),
                "--config".into(),
                config_plain.clone().into(),
                "--members".into(),
                members.clone().into(),
            ],
        ),
        Some(&s1),
    )?;
    let counts: Value = serde_json::from_str(m.stdout.trim())
        .map_err(|e| format!("map-only printed {:?}, not JSON: {e}", m.stdout.trim()))?;
    let mapped_members = counts["members"].as_u64().unwrap_or(0);
    rows.push(Row {
        name: "1. map + normalise + hash only (`liveramp map-only`)".to_owned(),
        members: Some(mapped_members),
        input_bytes: member_bytes,
        output_bytes: None,
        measured: m,
    });

    // 2. Local directory, plain.
    let s2 = scenario_dir(&run_dir, "2-directory-plain")?;
    let config = write_config(&s2, &members, &key, false, None)?;
    let (m2, r2) = deliver(&exe, &config, &s2, "scenario 2: directory, plain", &[])?;
    let plain_files = r2.files.clone();
    rows.push(Row {
        name: "2. `liveramp run`, local `[directory]`, encryption off".to_owned(),
        members: Some(r2.members),
        input_bytes: member_bytes,
        output_bytes: Some(r2.bytes),
        measured: m2,
    });

    // Byte identity whatever the thread count (when `run --threads` exists): the default run
    // above (every core) against `--threads 1` and `--threads 4`.
    let identity = if supports_threads(&exe) {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut runs = vec![(format!("default ({cores})"), r2.sha256.clone())];
        for threads in ["1", "4"] {
            let dir = scenario_dir(&run_dir, &format!("2-directory-plain-threads-{threads}"))?;
            let config = write_config(&dir, &members, &key, false, None)?;
            let (_, delivered) = deliver(
                &exe,
                &config,
                &dir,
                &format!("scenario 2 with --threads {threads}"),
                &["--threads", threads],
            )?;
            let _ = fs::remove_dir_all(dir.join("out"));
            runs.push((format!("`--threads {threads}`"), delivered.sha256));
        }
        Some(runs)
    } else {
        None
    };

    // 3. Local directory, encrypted.
    let s3 = scenario_dir(&run_dir, "3-directory-encrypted")?;
    let config_encrypted = write_config(&s3, &members, &key, true, None)?;
    let (m3, r3) = deliver(
        &exe,
        &config_encrypted,
        &s3,
        "scenario 3: directory, encrypted",
        &[],
    )?;
    let encrypted_files = r3.files.clone();
    let plaintext_bytes_3 = r3.csv_bytes;
    rows.push(Row {
        name: "3. `liveramp run`, local `[directory]`, encryption on".to_owned(),
        members: Some(r3.members),
        input_bytes: member_bytes,
        output_bytes: Some(r3.bytes),
        measured: m3,
    });

    // 4. SFTP, encrypted, and OpenSSH's sftp put of scenario 3's files.
    let mut sftp_results: Option<SftpResults> = None;
    if sftp_reason.is_none() {
        let sshd = start_sshd(&run_dir)?;
        let s4 = scenario_dir(&run_dir, "4-sftp-encrypted")?;
        let ours = fresh_upload_dir(&sshd, "ours")?;
        let config = write_config(&s4, &members, &key, true, Some((&sshd, &ours)))?;
        let (m4, r4) = deliver(&exe, &config, &s4, "scenario 4: SFTP, encrypted", &[])?;
        for name in &r4.names {
            let _ = fs::remove_file(ours.join(name));
        }
        // Pure uploads of scenario 3's files, alternating ours and OpenSSH's twice (the best
        // of each counts: the machine is shared).
        let put_bytes: u64 = encrypted_files.iter().map(|f| file_len(f)).sum();
        let s4u = scenario_dir(&run_dir, "4-upload-files")?;
        let mut put: Option<Measured> = None;
        let mut upload: Option<Measured> = None;
        for round in 1..=2 {
            let openssh = fresh_upload_dir(&sshd, "openssh")?;
            let m = sftp_put(&sshd, &run_dir, &encrypted_files, &openssh, round)?;
            check_arrived(&encrypted_files, &openssh, put_bytes, "sftp put", &sshd)?;
            let _ = fs::remove_dir_all(&openssh);
            if put.as_ref().is_none_or(|p| m.wall < p.wall) {
                put = Some(m);
            }
            let ours_dir = fresh_upload_dir(&sshd, "upload-files")?;
            let config = write_config(&s4u, &members, &key, true, Some((&sshd, &ours_dir)))?;
            let mut args: Vec<OsString> =
                vec!["upload-files".into(), "--config".into(), config.into()];
            args.extend(encrypted_files.iter().map(|f| f.as_os_str().to_owned()));
            let m = measure(
                &format!("our transport: liveramp upload-files (round {round})"),
                &liveramp(&exe, &args),
                Some(&s4u),
            )?;
            check_arrived(
                &encrypted_files,
                &ours_dir,
                put_bytes,
                "upload-files",
                &sshd,
            )?;
            let _ = fs::remove_dir_all(&ours_dir);
            if upload.as_ref().is_none_or(|u| m.wall < u.wall) {
                upload = Some(m);
            }
        }
        let (Some(put), Some(upload)) = (put, upload) else {
            return Err("no upload was measured".to_owned());
        };
        sftp_results = Some(SftpResults {
            put,
            put_bytes,
            upload,
            streamed_bytes: r4.bytes,
            upload_ms: r4.upload_ms,
        });
        rows.push(Row {
            name: "4. `liveramp run`, SFTP to `sshd` on 127.0.0.1, encryption on".to_owned(),
            members: Some(r4.members),
            input_bytes: member_bytes,
            output_bytes: Some(r4.bytes),
            measured: m4,
        });
        drop(sshd);
    }

    // References on scenario 2's plaintext files.
    let plain_bytes: u64 = plain_files.iter().map(|f| file_len(f)).sum();
    let cat = measure(
        "reference: cat of scenario 2's files",
        &tool(
            "cat",
            &plain_files
                .iter()
                .map(|f| f.as_os_str().to_owned())
                .collect::<Vec<_>>(),
        ),
        None,
    )?;
    let mut gpg = Measured::default();
    for file in &plain_files {
        let m = measure(
            "reference: gpg --encrypt",
            &tool(
                "gpg",
                &[
                    "--homedir".into(),
                    gnupg.home.clone().into(),
                    "--batch".into(),
                    "--quiet".into(),
                    "--no-tty".into(),
                    "--trust-model".into(),
                    "always".into(),
                    "--compress-algo".into(),
                    "none".into(),
                    "--recipient".into(),
                    gnupg.fingerprint.clone().into(),
                    "--output".into(),
                    "-".into(),
                    "--encrypt".into(),
                    file.as_os_str().to_owned(),
                ],
            ),
            None,
        )?;
        gpg.add(&m);
    }

    // 5-8. The store and the endpoint.
    let store = if options.skip_store {
        None
    } else {
        let results = store::run(
            &exe,
            &run_dir,
            options.members,
            options.seed,
            &key,
            member_bytes,
        )?;
        rows.extend(results.rows.iter().cloned());
        Some(results)
    };

    // The straightforward Python pipeline (csv + hashlib + gpg), for the ratio.
    let python_dir = scenario_dir(&run_dir, "python-pipeline")?;
    let python = measure(
        "reference: the Python pipeline (csv + hashlib + gpg)",
        &tool(
            "python3",
            &[
                crate::root()
                    .join("xtask/bench/reference_pipeline.py")
                    .into_os_string(),
                members.clone().into_os_string(),
                python_dir.clone().into_os_string(),
                gnupg.home.clone().into_os_string(),
                gnupg.fingerprint.clone().into(),
            ],
        ),
        Some(&python_dir),
    )?;
    let python_members = serde_json::from_str::<Value>(python.stdout.trim())
        .ok()
        .and_then(|v| v["members"].as_u64())
        .unwrap_or(0);
    let _ = fs::remove_dir_all(&python_dir);

    let finished_at = utc_now();
    let load_after = load_average();
    let out = Outputs {
        binary: &binary,
        options: &options,
        command_line: &command_line,
        started_at: &started_at,
        finished_at: &finished_at,
        load: (&load_before, &load_after),
        // Printed with the paths of this machine shortened.
        config_text: fs::read_to_string(&config_encrypted)
            .unwrap_or_default()
            .replace(&bench_dir.display().to_string(), "<target>/bench")
            .replace(&format!("{}/", crate::root().display()), ""),
        member_bytes,
        counts: &counts,
        rows: &rows,
        cat_members: &cat_members,
        cat: &cat,
        plain_bytes,
        gpg: &gpg,
        plaintext_bytes_3,
        sftp: sftp_results.as_ref(),
        sftp_reason: sftp_reason.as_deref(),
        identity: identity.as_ref(),
        gnupg: &gnupg,
        store: store.as_ref(),
        python: (&python, python_members),
    };
    let results = results_json(&out);
    let results_path = bench_dir.join(format!("results-{}.json", options.members));
    let earlier = other_results(&bench_dir, options.members, &binary);
    let markdown = report(&out, &earlier);
    fs::write(&results_path, results.to_string() + "\n")
        .map_err(|e| io_error("write", &results_path, &e))?;
    let report_path = bench_dir.join(format!("report-{}.md", options.members));
    fs::write(&report_path, &markdown).map_err(|e| io_error("write", &report_path, &e))?;
    println!("\n{markdown}");
    println!(
        "(saved as {} and {})",
        report_path.display(),
        results_path.display()
    );
    // The outputs are large: keep only the reports.
    for dir in [s2, s3] {
        let _ = fs::remove_dir_all(dir.join("out"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tools, build, members.

/// The programs the benchmark runs besides `liveramp` (the SFTP ones are checked here too, so
/// a fresh machine learns everything it lacks at once). As root on a machine with `apt-get`
/// (what `.ci/run` does for the tests), missing ones are installed; otherwise the error names
/// the packages to install.
fn check_tools() -> Result {
    let needed = [
        ("gpg", "gnupg"),
        ("sftp", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/time", "time"),
        ("cat", "coreutils"),
    ];
    let missing = || -> Vec<(&str, &str)> {
        needed
            .iter()
            .filter(|(program, _)| !crate::on_path(program))
            .copied()
            .collect()
    };
    let first = missing();
    if first.is_empty() {
        return Ok(());
    }
    if is_root() && crate::on_path("apt-get") {
        let mut packages: Vec<&str> = first.iter().map(|(_, package)| *package).collect();
        packages.dedup();
        println!("==> apt-get install -y {}", packages.join(" "));
        let updated = Command::new("apt-get")
            .arg("update")
            .status()
            .is_ok_and(|s| s.success());
        let installed = updated
            && Command::new("apt-get")
                .args(["install", "-y"])
                .args(&packages)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success());
        if installed && missing().is_empty() {
            return Ok(());
        }
    }
    let names: Vec<String> = missing()
        .iter()
        .map(|(program, package)| format!("`{program}` (Debian package `{package}`)"))
        .collect();
    Err(format!(
        "the benchmark needs {}; install with `apt-get install -y gnupg openssh-server \
         openssh-client time` (see README.md), then run `cargo xtask test-env` as root once",
        names.join(", ")
    ))
}

/// Builds the release `liveramp` binary and returns its path.
fn build_liveramp() -> Result<PathBuf> {
    println!("\n==> cargo build --release -p liveramp-cli");
    let started = Instant::now();
    let mut command = crate::cargo();
    command
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "liveramp-cli",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    let mut exe = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
        {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message["reason"] == "compiler-artifact"
                && message["target"]["name"] == "liveramp"
                && let Some(path) = message["executable"].as_str()
            {
                exe = Some(PathBuf::from(path));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo build did not finish: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release -p liveramp-cli failed ({status})"
        ));
    }
    println!(
        "<== cargo build --release -p liveramp-cli: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    exe.ok_or_else(|| "cargo build did not report the liveramp binary".to_owned())
}

fn liveramp(exe: &Path, args: &[OsString]) -> (OsString, Vec<OsString>) {
    (exe.as_os_str().to_owned(), args.to_vec())
}

fn tool(program: &str, args: &[OsString]) -> (OsString, Vec<OsString>) {
    (program.into(), args.to_vec())
}

/// `<bench>/members-<N>.ndjson`, generated with the tests' generator
/// (`liveramp_test_support::members`, what `cargo xtask generate-members` writes) unless the
/// file there has the recorded count, seed and size and starts with what the current generator
/// writes (so a changed generator regenerates it).
fn ensure_members(bench_dir: &Path, count: u64, seed: u64) -> Result<PathBuf> {
    let path = bench_dir.join(format!("members-{count}.ndjson"));
    let meta_path = bench_dir.join(format!("members-{count}.json"));
    let sample_count = count.min(SAMPLE_LINES);
    let mut sample = Vec::new();
    members::write_members(&mut sample, sample_count, seed)
        .map_err(|e| format!("cannot generate members: {e}"))?;
    let meta: Option<Value> = fs::read_to_string(&meta_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let size = fs::metadata(&path).map(|m| m.len()).ok();
    let fresh = meta.is_some_and(|m| {
        m["count"] == count
            && m["seed"] == seed
            && size.is_some()
            && m["bytes"].as_u64() == size
            && starts_with(&path, &sample)
    });
    if fresh {
        println!(
            "\n==> members: reusing {} ({count} members, seed {seed})",
            path.display()
        );
        return Ok(path);
    }
    println!(
        "\n==> members: generating {} ({count} members, seed {seed})",
        path.display()
    );
    let _ = fs::remove_file(&meta_path);
    let partial = bench_dir.join(format!(".members-{count}.ndjson.part"));
    let started = Instant::now();
    fs::File::create(&partial)
        .and_then(|file| members::write_members(&mut std::io::BufWriter::new(file), count, seed))
        .map_err(|e| io_error("write", &partial, &e))?;
    fs::rename(&partial, &path).map_err(|e| io_error("rename", &partial, &e))?;
    let bytes = file_len(&path);
    let meta = serde_json::json!({
        "count": count,
        "seed": seed,
        "bytes": bytes,
        "generator": "cargo xtask generate-members (liveramp_test_support::members); staleness \
                      is checked against a fresh generation of the first lines",
        "generated_at": utc_now(),
    });
    fs::write(&meta_path, meta.to_string() + "\n")
        .map_err(|e| io_error("write", &meta_path, &e))?;
    println!(
        "<== members: {bytes} bytes ({:.0} bytes a member) in {:.1} s",
        bytes as f64 / count as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

/// Whether the file at `path` starts with `prefix`.
fn starts_with(path: &Path, prefix: &[u8]) -> bool {
    let Ok(file) = fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(prefix.len());
    file.take(prefix.len() as u64)
        .read_to_end(&mut head)
        .is_ok_and(|_| head == prefix)
}

/// The SHA-256 of a file, hex (`sha256sum`), or empty when it cannot be computed.
fn sha256_of(path: &Path) -> String {
    Command::new("sha256sum")
        .arg(path)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn io_error(action: &str, path: &Path, e: &std::io::Error) -> String {
    format!("cannot {action} {}: {e}", path.display())
}

// ---------------------------------------------------------------------------------------------
// Measuring child processes.

/// One child process measured by GNU `time`.
#[derive(Debug, Clone, Default)]
struct Measured {
    wall: f64,
    user: f64,
    sys: f64,
    /// Peak resident set size in KiB (`%M`).
    max_rss_kib: u64,
    stdout: String,
}

impl Measured {
    fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    /// Adds another run (sequential processes: times add, the peak is the larger).
    fn add(&mut self, other: &Measured) {
        self.wall += other.wall;
        self.user += other.user;
        self.sys += other.sys;
        self.max_rss_kib = self.max_rss_kib.max(other.max_rss_kib);
    }
}

/// Runs `program args` under `/usr/bin/time` (stdout captured when `dir` is given, else
/// discarded; stderr kept for the error message) and measures it.
fn measure(
    label: &str,
    (program, args): &(OsString, Vec<OsString>),
    dir: Option<&Path>,
) -> Result<Measured> {
    println!("\n==> {label}");
    let timing = std::env::temp_dir().join(format!("liveramp-bench-time-{}", std::process::id()));
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%U %S %M", "-o"])
        .arg(&timing)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(if dir.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let started = Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("{label}: cannot run /usr/bin/time: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Some(dir) = dir {
        let _ = fs::write(dir.join("stdout.txt"), &stdout);
        let _ = fs::write(dir.join("stderr.txt"), &stderr);
    }
    let timing_text = fs::read_to_string(&timing).unwrap_or_default();
    let _ = fs::remove_file(&timing);
    if !output.status.success() {
        return Err(format!(
            "{label} failed ({}): {} {}\n{}{}",
            output.status,
            program.to_string_lossy(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            tail(&stdout),
            tail(&stderr)
        ));
    }
    let fields: Vec<&str> = timing_text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let [user, sys, rss] = fields.as_slice() else {
        return Err(format!(
            "{label}: unexpected /usr/bin/time output {timing_text:?}"
        ));
    };
    let measured = Measured {
        wall,
        user: user.parse().unwrap_or(0.0),
        sys: sys.parse().unwrap_or(0.0),
        max_rss_kib: rss.parse().unwrap_or(0),
        stdout,
    };
    println!(
        "<== {label}: {:.2} s wall, {:.2} s CPU, {:.1} MiB peak RSS",
        measured.wall,
        measured.cpu(),
        measured.rss_mib()
    );
    Ok(measured)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n") + "\n"
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// A scenario's row of the table.
#[derive(Clone)]
struct Row {
    name: String,
    members: Option<u64>,
    input_bytes: u64,
    output_bytes: Option<u64>,
    measured: Measured,
}

/// What a `liveramp run` report says, summed over files and parts.
struct Delivered {
    members: u64,
    bytes: u64,
    csv_bytes: u64,
    upload_ms: u64,
    /// Where each part was published (local paths for a `[directory]`).
    files: Vec<PathBuf>,
    /// Each part's name.
    names: Vec<String>,
    /// Each part's SHA-256, in order.
    sha256: Vec<String>,
}

fn scenario_dir(run_dir: &Path, name: &str) -> Result<PathBuf> {
    let dir = run_dir.join(name);
    fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, &e))?;
    Ok(dir)
}

/// The one configuration of every scenario: both files, hashing on, the demo's PII columns,
/// no compression; encryption to the demo key when `encrypt`; a `[directory]` or the sshd.
fn write_config(
    dir: &Path,
    members: &Path,
    key: &Path,
    encrypt: bool,
    sftp: Option<(&Sshd, &Path)>,
) -> Result<PathBuf> {
    let destination = match sftp {
        None => "[directory]\npath = \"out\"\n".to_owned(),
        Some((sshd, remote)) => format!(
            "[sftp]\nurl = \"127.0.0.1\"\nport = {}\nusername = \"{TEST_USER}\"\n\
             private_key_path = \"{}\"\nknown_hosts_path = \"{}\"\nremote_dir = \"{}\"\n",
            sshd.port,
            sshd.client_key.display(),
            sshd.known_hosts.display(),
            remote.display()
        ),
    };
    let file = if encrypt {
        format!(
            "encrypt = true\npublic_key_path = \"{}\"\ncompression = \"none\"\n",
            key.display()
        )
    } else {
        "encrypt = false\ncompression = \"none\"\n".to_owned()
    };
    let text = format!(
        "configuration_name = \"bench\"\n\
         org_id = \"3242\"\n\
         state_dir = \"state\"\n\
         \n\
         {destination}\
         \n\
         [file]\n\
         {file}\
         \n\
         [data]\n\
         send_device_ids = true\n\
         send_pii = true\n\
         \n\
         [pii]\n\
         hash_emails_and_phones = true\n\
         columns = [\"FIRSTNAME\", \"LASTNAME\", \"CITY\", \"STATE\", \"ZIP\", \"COUNTRY\", \"EMAIL\", \"PHONE\"]\n\
         \n\
         [[audiences]]\n\
         id = \"17095\"\n\
         external_name = \"Bench\"\n\
         members = \"{}\"\n",
        members.display()
    );
    let path = dir.join("connector.toml");
    fs::write(&path, text).map_err(|e| io_error("write", &path, &e))?;
    Ok(path)
}

/// `liveramp run` with a fresh state folder, measured; its report summed.
fn deliver(
    exe: &Path,
    config: &Path,
    dir: &Path,
    label: &str,
    extra: &[&str],
) -> Result<(Measured, Delivered)> {
    let _ = fs::remove_dir_all(dir.join("state"));
    let _ = fs::remove_dir_all(dir.join("out"));
    let report_path = dir.join("report.json");
    let mut args: Vec<OsString> = vec![
        "run".into(),
        "--config".into(),
        config.into(),
        "--date".into(),
        RUN_DATE.into(),
        "--force".into(),
        "--report".into(),
        report_path.clone().into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    let measured = measure(label, &liveramp(exe, &args), Some(dir))?;
    let text = fs::read_to_string(&report_path).map_err(|e| io_error("read", &report_path, &e))?;
    let report: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a report: {e}", report_path.display()))?;
    let audience = &report[0];
    let mut delivered = Delivered {
        members: audience["members"].as_u64().unwrap_or(0),
        bytes: 0,
        csv_bytes: 0,
        upload_ms: 0,
        files: Vec::new(),
        names: Vec::new(),
        sha256: Vec::new(),
    };
    for file in audience["files"].as_array().into_iter().flatten() {
        if file["status"] != "delivered" {
            return Err(format!(
                "{label}: {} was not delivered ({}): {}",
                file["name"], file["status"], file["error"]
            ));
        }
        for part in file["parts"].as_array().into_iter().flatten() {
            delivered.bytes += part["bytes"].as_u64().unwrap_or(0);
            delivered.csv_bytes += part["csv_bytes"].as_u64().unwrap_or(0);
            delivered.upload_ms += part["upload_ms"].as_u64().unwrap_or(0);
            delivered
                .files
                .push(PathBuf::from(part["location"].as_str().unwrap_or_default()));
            delivered
                .names
                .push(part["name"].as_str().unwrap_or_default().to_owned());
            delivered
                .sha256
                .push(part["sha256"].as_str().unwrap_or_default().to_owned());
        }
    }
    Ok((measured, delivered))
}

/// Whether this `liveramp run` has a `--threads` option.
fn supports_threads(exe: &Path) -> bool {
    Command::new(exe)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--threads"))
}

/// OpenSSH's `sftp -b` `put` of `files` into `remote`, measured.
fn sftp_put(
    sshd: &Sshd,
    run_dir: &Path,
    files: &[PathBuf],
    remote: &Path,
    round: u32,
) -> Result<Measured> {
    let batch = run_dir.join("sftp-batch");
    let mut text = String::new();
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let _ = writeln!(
            text,
            "put {} {}",
            file.display(),
            remote.join(name.unwrap_or_default()).display()
        );
    }
    fs::write(&batch, text).map_err(|e| io_error("write", &batch, &e))?;
    measure(
        &format!("reference: OpenSSH sftp -b put (round {round})"),
        &tool(
            "sftp",
            &[
                "-b".into(),
                batch.into(),
                "-i".into(),
                sshd.client_key.clone().into(),
                "-P".into(),
                sshd.port.to_string().into(),
                "-o".into(),
                "BatchMode=yes".into(),
                "-o".into(),
                "StrictHostKeyChecking=yes".into(),
                "-o".into(),
                format!("UserKnownHostsFile={}", sshd.known_hosts.display()).into(),
                format!("{TEST_USER}@127.0.0.1").into(),
            ],
        ),
        None,
    )
}

/// Checks that every one of `files` arrived in `remote` with its size.
fn check_arrived(files: &[PathBuf], remote: &Path, bytes: u64, what: &str, sshd: &Sshd) -> Result {
    let arrived: u64 = files
        .iter()
        .filter_map(|f| f.file_name())
        .map(|n| file_len(&remote.join(n)))
        .sum();
    if arrived == bytes {
        Ok(())
    } else {
        Err(format!(
            "{what} uploaded {arrived} bytes of {bytes}: see {}",
            sshd.log.display()
        ))
    }
}

/// A private GnuPG home holding the demo public key, for the `gpg --encrypt` reference.
struct Gnupg {
    home: PathBuf,
    fingerprint: String,
    version: String,
}

fn prepare_gnupg(home: &Path, key: &Path) -> Result<Gnupg> {
    fs::create_dir_all(home).map_err(|e| io_error("create", home, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(home, fs::Permissions::from_mode(0o700));
    }
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--quiet", "--import"])
        .arg(key)
        .output()
        .map_err(|e| format!("cannot run gpg: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gpg --import {} failed: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--with-colons", "--list-keys"])
        .output()
        .map_err(|e| format!("cannot run gpg: {e}"))?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let fingerprint = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .map(str::to_owned)
        .ok_or_else(|| format!("gpg did not list the key imported from {}", key.display()))?;
    let version = Command::new("gpg")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    Ok(Gnupg {
        home: home.to_path_buf(),
        fingerprint,
        version,
    })
}

// ---------------------------------------------------------------------------------------------
// The real OpenSSH server: the tests' `Sshd` (`liveramp_test_support::sshd`).

/// Starts the tests' `sshd` on 127.0.0.1 (its log in `run_dir`, kept after the run).
fn start_sshd(run_dir: &Path) -> Result<Sshd> {
    println!("\n==> starting /usr/sbin/sshd on 127.0.0.1");
    Sshd::try_start_logging_to(run_dir.join("sshd.log"))
}

/// A new, empty folder the test account may write to (what was there before is removed).
fn fresh_upload_dir(sshd: &Sshd, name: &str) -> Result<PathBuf> {
    let _ = fs::remove_dir_all(sshd.dir.path().join(name));
    sshd.try_upload_dir(name)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

// ---------------------------------------------------------------------------------------------
// The report.

struct SftpResults {
    /// OpenSSH's `sftp -b put` of scenario 3's files (the faster of two rounds).
    put: Measured,
    /// Their size.
    put_bytes: u64,
    /// `liveramp upload-files` of the same files (the faster of two rounds).
    upload: Measured,
    /// Scenario 4's published bytes and its reports' `upload_ms` (streamed while built).
    streamed_bytes: u64,
    upload_ms: u64,
}

struct Outputs<'a> {
    /// The SHA-256 of the `liveramp` binary measured (empty when `sha256sum` failed).
    binary: &'a str,
    options: &'a Options,
    command_line: &'a str,
    started_at: &'a str,
    finished_at: &'a str,
    load: (&'a str, &'a str),
    config_text: String,
    member_bytes: u64,
    counts: &'a Value,
    rows: &'a [Row],
    cat_members: &'a Measured,
    cat: &'a Measured,
    plain_bytes: u64,
    gpg: &'a Measured,
    plaintext_bytes_3: u64,
    sftp: Option<&'a SftpResults>,
    sftp_reason: Option<&'a str>,
    identity: Option<&'a Vec<(String, Vec<String>)>>,
    gnupg: &'a Gnupg,
    store: Option<&'a store::StoreResults>,
    /// The Python pipeline's run and the members it read.
    python: (&'a Measured, u64),
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn per_second(n: u64, seconds: f64) -> u64 {
    if seconds > 0.0 {
        (n as f64 / seconds).round() as u64
    } else {
        0
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

/// The peak RSS of each scenario, for the comparison between audience sizes.
fn results_json(out: &Outputs<'_>) -> Value {
    let rows: Vec<Value> = out
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "scenario": r.name,
                "members": r.members,
                "wall_s": r.measured.wall,
                "cpu_s": r.measured.cpu(),
                "max_rss_kib": r.measured.max_rss_kib,
            })
        })
        .collect();
    serde_json::json!({
        "members": out.options.members,
        "date": out.started_at,
        "commit": git_commit(),
        "binary_sha256": out.binary,
        "scenarios": rows,
    })
}

/// Results saved by runs at other audience sizes: `(members, date, scenario -> peak RSS KiB)`.
/// Only results of the same `liveramp` binary count: memory use is the binary's.
fn other_results(
    bench_dir: &Path,
    members: u64,
    binary: &str,
) -> Vec<(u64, String, BTreeMap<String, u64>)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(bench_dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let json = Path::new(&name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if !(name.starts_with("results-") && json) {
            continue;
        }
        let Some(value) = fs::read_to_string(entry.path())
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        else {
            continue;
        };
        let n = value["members"].as_u64().unwrap_or(0);
        if binary.is_empty() || value["binary_sha256"].as_str() != Some(binary) {
            continue;
        }
        // The issue compares 1M with 10M members; other sizes measure startup more than flatness.
        let pair = [members.min(n), members.max(n)];
        if pair != [1_000_000, 10_000_000] {
            continue;
        }
        let rss = value["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["scenario"].as_str()?.to_owned(),
                    s["max_rss_kib"].as_u64()?,
                ))
            })
            .collect();
        found.push((n, value["date"].as_str().unwrap_or("").to_owned(), rss));
    }
    found.sort_by_key(|(n, _, _)| *n);
    found
}

fn report(out: &Outputs<'_>, earlier: &[(u64, String, BTreeMap<String, u64>)]) -> String {
    let mut md = String::new();
    let n = out.options.members;
    let _ = writeln!(md, "### End to end, {} members", thousands(n));
    let _ = writeln!(md);
    let _ = writeln!(md, "Command: `{}`", out.command_line);
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Machine: {}; started {}, finished {}; load average {} before, {} after; commit {}.",
        machine(),
        out.started_at,
        out.finished_at,
        out.load.0,
        out.load.1,
        git_commit()
    );
    let _ = writeln!(
        md,
        "Members: {} generated (seed {}), {} bytes ({:.0} bytes a line), of which the mapping \
         saw {} malformed; rows: {} device, {} PII. {}; encryption to the demo key ({}).",
        thousands(n),
        out.options.seed,
        thousands(out.member_bytes),
        out.member_bytes as f64 / n as f64,
        out.counts["malformed"],
        thousands(out.counts["device_rows"].as_u64().unwrap_or(0)),
        thousands(out.counts["pii_rows"].as_u64().unwrap_or(0)),
        out.gnupg.version,
        out.gnupg.fingerprint
    );
    let busy = out
        .load
        .0
        .split_whitespace()
        .next()
        .and_then(|l| l.parse::<f64>().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if busy > cores as f64 {
        let _ = writeln!(
            md,
            "The machine was busy (load average {busy:.1} on {cores} cores) while this ran: \
             wall-clock figures are pessimistic; members per CPU-second and the ratios against \
             the reference programs, measured in the same run, are the figures to compare."
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Each scenario is one child process of the release `liveramp` binary, measured by GNU \
         `time` (CPU = user + system of that process; scenario 4's `sshd` is not included). \
         MB = 10⁶ bytes; output = the files as published (ciphertext when encrypted)."
    );
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| scenario | members/s | members/CPU-s | input MB/s | output MB | output MB/s | wall s | CPU s | CPU/wall | peak RSS MiB |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in out.rows {
        let m = &row.measured;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |",
            row.name,
            row.members
                .map_or("—".to_owned(), |k| thousands(per_second(k, m.wall))),
            row.members
                .map_or("—".to_owned(), |k| thousands(per_second(k, m.cpu()))),
            mb(row.input_bytes) / m.wall,
            row.output_bytes
                .map_or("—".to_owned(), |b| format!("{:.1}", mb(b))),
            row.output_bytes
                .map_or("—".to_owned(), |b| format!("{:.1}", mb(b) / m.wall)),
            m.wall,
            m.cpu(),
            m.cpu() / m.wall,
            m.rss_mib()
        );
    }
    if let Some(reason) = out.sftp_reason {
        let _ = writeln!(
            md,
            "| 4. `liveramp run`, SFTP, encryption on | {reason} | | | | | | | | |"
        );
    }
    if let Some(results) = out.store {
        let scenario3 = out
            .rows
            .iter()
            .find(|r| r.name.starts_with("3."))
            .map_or(0, |r| per_second(r.members.unwrap_or(0), r.measured.wall));
        store::report(&mut md, results, scenario3);
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "Reference points, same run, same bytes:");
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| reference | MB | MB/s | wall s | CPU s | peak RSS MiB |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    let mut reference = |name: &str, bytes: u64, m: &Measured| {
        let _ = writeln!(
            md,
            "| {name} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} |",
            mb(bytes),
            mb(bytes) / m.wall,
            m.wall,
            m.cpu(),
            m.rss_mib()
        );
    };
    reference(
        "`cat` of the member file > /dev/null",
        out.member_bytes,
        out.cat_members,
    );
    reference(
        "`cat` of scenario 2's files > /dev/null",
        out.plain_bytes,
        out.cat,
    );
    reference(
        "`gpg --encrypt --compress-algo none` of scenario 2's files (one process a file)",
        out.plain_bytes,
        out.gpg,
    );
    if let Some(s) = out.sftp {
        reference(
            "OpenSSH `sftp -b` `put` of scenario 3's encrypted files (key login)",
            s.put_bytes,
            &s.put,
        );
        reference(
            "our transport: `liveramp upload-files` of the same files (key login)",
            s.put_bytes,
            &s.upload,
        );
        let _ = writeln!(
            md,
            "| (scenario 4's reports' `upload_ms`: the upload streams while the file is built, so \
             this is not a pure upload time) | {:.1} | {:.1} | {:.2} | — | — |",
            mb(s.streamed_bytes),
            mb(s.streamed_bytes) / (s.upload_ms as f64 / 1000.0).max(0.001),
            s.upload_ms as f64 / 1000.0
        );
    }
    let _ = writeln!(md);

    // Ratios.
    let row = |i: usize| {
        out.rows
            .iter()
            .find(|r| r.name.starts_with(&format!("{i}.")))
    };
    let rate = |r: &Row| per_second(r.members.unwrap_or(0), r.measured.wall) as f64;
    let _ = writeln!(md, "Ratios:");
    let _ = writeln!(md);
    if let Some(s3) = row(3) {
        let ours = mb(out.plaintext_bytes_3) / s3.measured.wall;
        let gpg = mb(out.plain_bytes) / out.gpg.wall;
        let _ = writeln!(
            md,
            "- Scenario 3 vs gpg, plaintext MB/s: {ours:.1} / {gpg:.1} = **{:.2}×** (the whole \
             delivery against encryption alone).",
            ours / gpg
        );
        if let Some(s2) = row(2) {
            let extra = s3.measured.wall - s2.measured.wall;
            if extra > 0.0 {
                let _ = writeln!(
                    md,
                    "- Encryption's cost in the delivery (scenario 3 − scenario 2 wall): \
                     {extra:.2} s, against {:.2} s for gpg on the same plaintext.",
                    out.gpg.wall
                );
            } else {
                let _ = writeln!(
                    md,
                    "- Encryption's cost in the delivery is below this run's noise: scenario 3 \
                     took {:.2} s less than scenario 2; gpg took {:.2} s on the same plaintext.",
                    -extra, out.gpg.wall
                );
            }
        }
        let cat = mb(out.plain_bytes) / out.cat.wall;
        let _ = writeln!(
            md,
            "- Scenario 3 output vs `cat` (ceiling): {:.1} / {cat:.1} MB/s = {:.3}×.",
            mb(s3.output_bytes.unwrap_or(0)) / s3.measured.wall,
            mb(s3.output_bytes.unwrap_or(0)) / s3.measured.wall / cat
        );
        if let Some(s1) = row(1) {
            let _ = writeln!(
                md,
                "- Scenario 3 / scenario 1 (map-only) members/s: {:.2}×.",
                rate(s3) / rate(s1)
            );
        }
        let (python, python_members) = out.python;
        let python_rate = python_members as f64 / python.wall;
        let _ = writeln!(
            md,
            "- Scenario 3 / the Python pipeline (`xtask/bench/reference_pipeline.py`: csv + \
             hashlib + a gpg subprocess a file, same columns, {} members/s, {:.2} s wall, \
             {:.2} s CPU, one core), members/s: **{:.2}×** (target ≥ 8×).",
            thousands(python_rate as u64),
            python.wall,
            python.cpu(),
            rate(s3) / python_rate
        );
    }
    let mut upload_ratio = None;
    let mut sftp_ratio = None;
    if let (Some(s), Some(s3), Some(s4)) = (out.sftp, row(3), row(4)) {
        let ours = mb(s.put_bytes) / s.upload.wall;
        let theirs = mb(s.put_bytes) / s.put.wall;
        upload_ratio = Some(ours / theirs);
        sftp_ratio = Some(rate(s4) / rate(s3));
        let _ = writeln!(
            md,
            "- Our upload (`liveramp upload-files`) / `sftp put` of scenario 3's files, MB/s \
             (whole process wall, connection included, faster of two alternating rounds each): \
             {ours:.1} / {theirs:.1} = **{:.2}×**.",
            ours / theirs
        );
        let _ = writeln!(
            md,
            "- Scenario 4 / scenario 3, members/s: **{:.2}×**.",
            rate(s4) / rate(s3)
        );
    }
    let _ = writeln!(md);

    // Targets.
    let _ = writeln!(md, "Issue 9's targets:");
    let _ = writeln!(md);
    let _ = writeln!(md, "| target | measured | verdict |");
    let _ = writeln!(md, "|---|---:|---|");
    if let Some(s3) = row(3) {
        let r = rate(s3);
        let _ = writeln!(
            md,
            "| scenario 3 ≥ 650,000 members/s{} | {} ({:.0}% of target) | {} |",
            if n == 1_000_000 {
                ""
            } else {
                " (target is at 1M)"
            },
            thousands(r as u64),
            100.0 * r / TARGET_MEMBERS_PER_S,
            verdict(r >= TARGET_MEMBERS_PER_S)
        );
    }
    match upload_ratio {
        Some(r) => {
            let _ = writeln!(
                md,
                "| our upload ≥ 80% of `sftp put` | {:.0}% | {} |",
                100.0 * r,
                verdict(r >= TARGET_UPLOAD_RATIO)
            );
        }
        None => {
            let _ = writeln!(
                md,
                "| our upload ≥ 80% of `sftp put` | not measured | SFTP {} |",
                out.sftp_reason.unwrap_or("skipped")
            );
        }
    }
    match sftp_ratio {
        Some(r) => {
            let _ = writeln!(
                md,
                "| scenario 4 ≥ 75% of scenario 3 members/s | {:.0}% | {} |",
                100.0 * r,
                verdict(r >= TARGET_SFTP_RATIO)
            );
        }
        None => {
            let _ = writeln!(
                md,
                "| scenario 4 ≥ 75% of scenario 3 members/s | not measured | SFTP {} |",
                out.sftp_reason.unwrap_or("skipped")
            );
        }
    }
    let peak = out
        .rows
        .iter()
        .map(|r| r.measured.rss_mib())
        .fold(0.0_f64, f64::max);
    let _ = writeln!(
        md,
        "| peak RSS ≤ 64 MiB in every scenario | {peak:.1} MiB (largest) | {} |",
        verdict(peak <= TARGET_RSS_MIB)
    );
    if n != 1_000_000 && n != 10_000_000 {
        let _ = writeln!(
            md,
            "| peak RSS the same (±10%) at 1M and 10M | not compared at this size | — |"
        );
    } else if earlier.is_empty() {
        let _ = writeln!(
            md,
            "| peak RSS the same (±10%) at 1M and 10M | run the other size too with this binary (`--members {}`) | — |",
            if n == 10_000_000 {
                1_000_000
            } else {
                10_000_000
            }
        );
    } else {
        for (other, date, rss) in earlier {
            let mut worst: f64 = 0.0;
            let mut compared = 0;
            for row in out.rows {
                if let Some(kib) = rss.get(&row.name) {
                    let a = row.measured.max_rss_kib as f64;
                    let b = *kib as f64;
                    worst = worst.max((a - b).abs() / a.min(b).max(1.0));
                    compared += 1;
                }
            }
            let _ = writeln!(
                md,
                "| peak RSS the same (±10%) at {} and {} members | largest difference {:.0}% over {compared} scenarios (the {} run of {date}) | {} |",
                thousands(n.min(*other)),
                thousands(n.max(*other)),
                100.0 * worst,
                thousands(*other),
                verdict(compared > 0 && worst <= TARGET_RSS_FLAT)
            );
        }
    }
    match out.identity {
        Some(runs) => {
            let first = runs.first().map(|(_, h)| h.clone()).unwrap_or_default();
            let same = !first.is_empty() && runs.iter().all(|(_, h)| *h == first);
            let labels: Vec<&str> = runs.iter().map(|(l, _)| l.as_str()).collect();
            let detail = if same {
                format!(
                    "identical ({} files, sha256 {})",
                    first.len(),
                    short(&first)
                )
            } else {
                runs.iter()
                    .map(|(l, h)| format!("{l}: {}", short(h)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                md,
                "| output byte-identical whatever the thread count | scenario 2, {}: {detail} | {} |",
                labels.join(" vs "),
                verdict(same)
            );
        }
        None => {
            let _ = writeln!(
                md,
                "| output byte-identical whatever the thread count | skipped: `liveramp run` has no `--threads` option | — |"
            );
        }
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Configuration (scenario 3; scenario 2 has `encrypt = false`, scenario 4 `[sftp]` to the \
         bench's `sshd` with an ed25519 key instead of `[directory]`, scenario 1 the same \
         mapping):"
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "```toml");
    let _ = write!(md, "{}", out.config_text);
    let _ = writeln!(md, "```");
    md
}

fn short(hashes: &[String]) -> String {
    hashes
        .iter()
        .map(|h| h.get(..12).unwrap_or(h))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// The machine.

fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim())
        .to_owned();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let os = fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or_else(
            || "unknown OS".to_owned(),
            |v| v.trim_matches('"').to_owned(),
        );
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let ssh = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    format!("`nproc` {nproc} ({model}), {mem_gib:.1} GiB memory, {os}, {rustc}, {ssh}")
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn git_commit() -> String {
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(crate::root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(crate::root())
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if head.is_empty() {
        "unknown".to_owned()
    } else if dirty {
        format!("{head} (with local changes)")
    } else {
        head
    }
}
