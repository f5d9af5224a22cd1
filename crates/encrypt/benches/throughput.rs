//! Encryption throughput and peak memory: our `EncryptingWriter` against
//! `gpg --encrypt --compress-algo none`, on the same generated stream to the same key, in the
//! same run. Each program runs as a child process reading the stream from a pipe and writing
//! the message to `/dev/null`; peak RSS is the child's maximum resident set size as reported
//! by GNU `time` (`/usr/bin/time -o FILE -f %M`), or sampled from `/proc/PID/status` (`VmHWM`)
//! when GNU time is missing.
//!
//! `cargo bench -p liveramp-encrypt` (1 GiB; set `LIVERAMP_ENCRYPT_BENCH_MIB` to change it).
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::doc_markdown,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use liveramp_encrypt::{EncryptingWriter, RecipientKey};

const CHILD_ENV: &str = "LIVERAMP_ENCRYPT_BENCH_CHILD_KEY";
const GNU_TIME: &str = "/usr/bin/time";
const ROUNDS: usize = 3;

fn main() {
    if let Ok(key_path) = std::env::var(CHILD_ENV) {
        child(Path::new(&key_path));
        return;
    }
    if Command::new("gpg").arg("--version").output().is_err() {
        println!("gpg not found: install GnuPG (`apt-get install gnupg`) to run this benchmark");
        return;
    }
    let mib: u64 = std::env::var("LIVERAMP_ENCRYPT_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mib << 20;

    let home = tempfile::Builder::new()
        .prefix("lrbench")
        .tempdir_in("/tmp")
        .unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
            .args(["--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    std::fs::write(
        home.path().join("gpg-agent.conf"),
        "allow-loopback-pinentry\n",
    )
    .unwrap();
    let uid = "Bench Recipient <bench@example.invalid>";
    gpg(&["--quick-gen-key", uid, "rsa3072", "sign", "never"]);
    let listing = String::from_utf8(gpg(&["--with-colons", "--list-keys", uid])).unwrap();
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .to_string();
    gpg(&["--quick-add-key", &fpr, "rsa3072", "encr", "never"]);
    let key_file = home.path().join("recipient.asc");
    std::fs::write(&key_file, gpg(&["--export", "--armor", &fpr])).unwrap();
    let key = RecipientKey::from_bytes(&std::fs::read(&key_file).unwrap()).unwrap();

    let me = std::env::current_exe().unwrap();
    let ours: Vec<String> = vec![me.to_string_lossy().into_owned()];
    let gpg_cmd: Vec<String> = [
        "gpg",
        "--homedir",
        &home.path().to_string_lossy(),
        "--batch",
        "--no-tty",
        "--trust-model",
        "always",
        "--compress-algo",
        "none",
        "--encrypt",
        "-r",
        &fpr,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let cat_cmd = vec!["cat".to_string()];

    let rss_method = if Path::new(GNU_TIME).exists() {
        "GNU time %M"
    } else {
        "/proc VmHWM sampling"
    };
    println!(
        "Encrypting {mib} MiB to {} ({}, subkey {}), best of {ROUNDS} runs, peak RSS by {rss_method}.\n",
        key.fingerprint(),
        key.algorithm(),
        key.encryption_subkey_id()
    );

    let mut results: Vec<(&str, Duration, u64)> = vec![
        ("liveramp-encrypt EncryptingWriter", Duration::MAX, 0),
        ("gpg --encrypt --compress-algo none", Duration::MAX, 0),
        ("cat (pipe and generator only)", Duration::MAX, 0),
    ];
    for _ in 0..ROUNDS {
        for (i, cmd) in [&ours, &gpg_cmd, &cat_cmd].into_iter().enumerate() {
            let (elapsed, rss) = run(cmd, &key_file, home.path(), total);
            results[i].1 = results[i].1.min(elapsed);
            results[i].2 = results[i].2.max(rss);
        }
    }

    let mib_s = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("| program | MiB/s | seconds | peak RSS (MiB) |");
    println!("|---|---:|---:|---:|");
    for (name, d, rss) in &results {
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} |",
            mib_s(*d),
            d.as_secs_f64(),
            *rss as f64 / 1024.0
        );
    }
    println!(
        "\nours / gpg throughput: {:.2}x",
        results[1].1.as_secs_f64() / results[0].1.as_secs_f64()
    );
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home.path())
        .args(["--kill", "all"])
        .status();
}

/// Runs `cmd` fed with `total` generated bytes on stdin, output to /dev/null; returns the
/// wall time and the peak RSS in KiB.
fn run(cmd: &[String], key_file: &Path, dir: &Path, total: u64) -> (Duration, u64) {
    let rss_file = dir.join("rss.txt");
    let gnu_time = Path::new(GNU_TIME).exists();
    let mut command = if gnu_time {
        let mut c = Command::new(GNU_TIME);
        c.arg("-o").arg(&rss_file).args(["-f", "%M"]).args(cmd);
        c
    } else {
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..]);
        c
    };
    command
        .env(CHILD_ENV, key_file)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create("/dev/null").unwrap())
        .stderr(Stdio::inherit());
    let block: Vec<u8> = {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    };
    let start = Instant::now();
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut left = total;
        while left > 0 {
            let n = usize::try_from(left.min(block.len() as u64)).unwrap();
            stdin.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
    });
    let mut sampled = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !gnu_time {
            sampled = sampled.max(vm_hwm(pid));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    feeder.join().unwrap();
    assert!(status.success(), "{cmd:?} failed");
    let rss = if gnu_time {
        std::fs::read_to_string(&rss_file)
            .unwrap()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    } else {
        sampled
    };
    (elapsed, rss)
}

fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Child mode: encrypt stdin to the key in `key_path`, writing the message to stdout.
fn child(key_path: &Path) {
    let key = RecipientKey::from_bytes(&std::fs::read(key_path).unwrap()).unwrap();
    // Std's stdout is line-buffered; write to the same file directly instead.
    let stdout = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/stdout")
        .unwrap();
    let mut writer = EncryptingWriter::new(stdout, &key).unwrap();
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = stdin.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        writer.write_all(&buf[..n]).unwrap();
    }
    writer.finish().unwrap();
}
