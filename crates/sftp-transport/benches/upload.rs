//! Upload throughput of a 1 GiB file over loopback to the real OpenSSH `sshd`: this crate's
//! `SftpTransport` next to OpenSSH's own `sftp -b` `put` of the same file to the same server
//! in the same run (key login, batch mode, strict host-key checking with the test
//! `known_hosts`). Prints a Markdown table for `docs/BENCHMARKS.md`.
//!
//! Run with `cargo bench -p liveramp-sftp-transport` (needs `cargo xtask test-env` once).
//! `LIVERAMP_BENCH_MIB` overrides the file size (MiB), `LIVERAMP_BENCH_ROUNDS` the rounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![allow(clippy::cast_precision_loss)]

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use liveramp_sftp_transport::{SftpTransport, Transport};
use liveramp_test_support::files::data;
use liveramp_test_support::sshd::{Sshd, TEST_USER};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of this process and of its waited-for children.
fn cpu_seconds() -> (f64, f64) {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime in clock ticks (100 per second on Linux).
    let tick = |i: usize| fields.get(i).copied().unwrap_or(0.0) / 100.0;
    (tick(11) + tick(12), tick(13) + tick(14))
}

fn main() {
    let mib = env_or("LIVERAMP_BENCH_MIB", 1024);
    let rounds = env_or("LIVERAMP_BENCH_ROUNDS", 3);
    let bytes = (mib as u64) << 20;
    let sshd = Sshd::start();
    let folder = sshd.upload_dir("bench");
    let local_dir = tempfile::tempdir().unwrap();
    let local = local_dir.path().join("source.bin");
    {
        let mut out = std::io::BufWriter::new(fs::File::create(&local).unwrap());
        for i in 0..mib {
            out.write_all(&data(1 << 20, i as u64 + 1)).unwrap();
        }
        out.flush().unwrap();
    }
    // Warm the page cache for both contenders.
    let _ = fs::read(&local).map(|v| v.len());

    let mut settings = sshd.settings(&folder);
    settings.password = None;
    settings.private_key_path = Some(sshd.client_key.clone());
    let mut transport = SftpTransport::new(settings).unwrap();
    transport.check().unwrap();

    let batch = local_dir.path().join("batch");
    fs::write(
        &batch,
        format!(
            "put {} {}\n",
            local.display(),
            folder.join("openssh.bin").display()
        ),
    )
    .unwrap();

    let mut ours = Vec::new();
    let mut openssh = Vec::new();
    let (mut ours_cpu, mut openssh_cpu) = (0.0, 0.0);
    for _ in 0..rounds {
        let cpu = cpu_seconds();
        let started = Instant::now();
        let receipt = transport.upload_file(&local, "ours.bin").unwrap();
        ours.push(started.elapsed());
        ours_cpu += cpu_seconds().0 - cpu.0;
        assert_eq!(receipt.bytes, bytes);
        assert_eq!(fs::metadata(folder.join("ours.bin")).unwrap().len(), bytes);
        fs::remove_file(folder.join("ours.bin")).unwrap();

        let cpu = cpu_seconds();
        let started = Instant::now();
        let status = Command::new("sftp")
            .arg("-b")
            .arg(&batch)
            .arg("-i")
            .arg(&sshd.client_key)
            .arg("-P")
            .arg(sshd.port.to_string())
            .arg("-o")
            .arg("BatchMode=yes")
            .arg("-o")
            .arg("StrictHostKeyChecking=yes")
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", sshd.known_hosts.display()))
            .arg(format!("{TEST_USER}@127.0.0.1"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        openssh.push(started.elapsed());
        openssh_cpu += cpu_seconds().1 - cpu.1;
        assert!(status.success(), "sftp -b failed");
        assert_eq!(
            fs::metadata(folder.join("openssh.bin")).unwrap().len(),
            bytes
        );
        fs::remove_file(folder.join("openssh.bin")).unwrap();
    }
    transport.close().unwrap();

    let mbps = |d: &Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (ours_median, openssh_median) = (median(&mut ours), median(&mut openssh));
    println!(
        "\nUpload of a {mib} MiB file over loopback to OpenSSH sshd ({rounds} rounds, median; MB = 10^6 bytes)\n"
    );
    println!("| uploader | median time | throughput | all rounds (MB/s) | client CPU per GiB |");
    println!("| --- | ---: | ---: | --- | ---: |");
    let per_gib = |cpu: f64| cpu / rounds as f64 / (bytes as f64 / f64::from(1u32 << 30));
    for (name, median, all, cpu) in [
        (
            "liveramp-sftp-transport `upload_file`",
            ours_median,
            &ours,
            ours_cpu,
        ),
        (
            "OpenSSH `sftp -b` `put`",
            openssh_median,
            &openssh,
            openssh_cpu,
        ),
    ] {
        let rounds: Vec<String> = all.iter().map(|d| format!("{:.0}", mbps(d))).collect();
        println!(
            "| {name} | {:.2} s | {:.0} MB/s | {} | {:.2} s |",
            median.as_secs_f64(),
            mbps(&median),
            rounds.join(", "),
            per_gib(cpu)
        );
    }
    println!(
        "\nratio (ours / OpenSSH, median throughput): {:.2}",
        mbps(&ours_median) / mbps(&openssh_median)
    );
}
