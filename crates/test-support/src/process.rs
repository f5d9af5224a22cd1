//! Processes: signals, process trees, and the `liveramp` binary.

use std::fs;
use std::process::{Command, Stdio};

/// The `liveramp` binary at `exe`, with no inherited log filter (`LIVERAMP_LOG` removed).
/// Tests use [`liveramp!`](crate::liveramp), which passes their `CARGO_BIN_EXE_liveramp`.
pub fn liveramp_at(exe: &str) -> Command {
    let mut command = Command::new(exe);
    command.env_remove("LIVERAMP_LOG");
    command
}

/// Sends `signal` (e.g. `"KILL"`, `"TERM"`) to `pid` with the real `kill`; a process that is
/// already gone is not an error.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The parent of `pid`, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every live descendant of `pid` (children, grandchildren, ...), from `/proc`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(p) = entry.file_name().to_str().and_then(|s| s.parse().ok())
                && let Some(parent) = parent_of(p)
            {
                all.push((p, parent));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let current = found[i];
        for (p, parent) in &all {
            if *parent == current && !found.contains(p) {
                found.push(*p);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}
