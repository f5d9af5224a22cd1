//! Files and folders: listings, SHA-256, deterministic bytes, polling, watchers that check what
//! a reader sees while files are being written, the ledger journal, and small `tmpfs` mounts.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::text;

/// The names in a folder, sorted; panics when the folder cannot be read (it must exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The names in a folder, sorted; empty when the folder does not exist (or cannot be read).
pub fn names_in_or_empty(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every regular file under `dir`, recursively, sorted (empty when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(files_under(&path)),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    out.sort();
    out
}

/// SHA-256 of `data`, lowercase hex (what `sha256sum` prints).
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SHA-256 of a file's bytes, lowercase hex; panics when it cannot be read.
pub fn sha256_file(path: &Path) -> String {
    sha256(&fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())))
}

/// `len` deterministic pseudo-random bytes (xorshift; the same `seed` gives the same bytes).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// Waits (bounded by `limit`) until `done` holds, polling every `every`; false if it never does
/// (`done` is asked once more at the end).
pub fn wait_until(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(every);
    }
    done()
}

/// Polls `dir` every millisecond until stopped, checking that `name`, whenever present, has
/// exactly `expected_len` bytes: a reader never sees a partial file under the final name.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, usize)>,
}

impl Watcher {
    /// Starts polling `dir/name`.
    pub fn start(dir: &Path, name: &str, expected_len: u64) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let target = dir.join(name);
        let handle = std::thread::spawn(move || {
            let (mut polls, mut seen) = (0, 0);
            while !stopped.load(Ordering::SeqCst) {
                polls += 1;
                if let Ok(meta) = fs::metadata(&target) {
                    seen += 1;
                    assert_eq!(
                        meta.len(),
                        expected_len,
                        "a reader saw a partial file under the final name"
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (polls, seen)
        });
        Watcher { stop, handle }
    }

    /// Stops and returns (polls, polls that saw the final name); panics if a poll saw it with
    /// another size.
    pub fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .expect("watcher saw a partial final file")
    }
}

/// What a [`FileWatcher`] saw: path -> (mode bits `0o777`, first bytes, up to 64).
pub type SeenFiles = BTreeMap<PathBuf, (u32, Vec<u8>)>;

/// Polls `dirs` (recursively) every millisecond until stopped, recording for every file seen:
/// its mode and its first bytes. A file that lives for less than a poll may be missed, so
/// tests pair this with checks of what the files were (e.g. every spool file is ciphertext).
pub struct FileWatcher {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<SeenFiles>,
}

impl FileWatcher {
    /// Starts polling `dirs`.
    pub fn start(dirs: Vec<PathBuf>) -> FileWatcher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen = SeenFiles::new();
            loop {
                let last = stopped.load(Ordering::SeqCst);
                for dir in &dirs {
                    for path in files_under(dir) {
                        let Ok(meta) = fs::metadata(&path) else {
                            continue;
                        };
                        let mut head = Vec::new();
                        if let Ok(f) = fs::File::open(&path) {
                            let _ = f.take(64).read_to_end(&mut head);
                        }
                        let entry = seen
                            .entry(path)
                            .or_insert((meta.permissions().mode() & 0o777, Vec::new()));
                        if entry.1.len() < head.len() {
                            entry.1 = head;
                        }
                    }
                }
                if last {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        FileWatcher { stop, handle }
    }

    /// Stops and returns every file seen: path -> (mode, first bytes).
    pub fn stop(self) -> SeenFiles {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

/// The ledger journal `state/ledger.jsonl`: every complete line parsed as JSON (panics on a
/// line that is not), and whether the file ends in a line without its newline (torn).
pub fn ledger_entries(state: &Path) -> (Vec<serde_json::Value>, bool) {
    let bytes = fs::read(state.join("ledger.jsonl")).unwrap_or_default();
    let torn = !bytes.is_empty() && bytes.last() != Some(&b'\n');
    let text = text(&bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if torn {
        lines.pop();
    }
    let entries = lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("ledger line {l:?} is not JSON: {e}"))
        })
        .collect();
    (entries, torn)
}

/// The `delivered` entries of a ledger: file name -> (times recorded, SHA-256 last recorded).
pub fn delivered_files(entries: &[serde_json::Value]) -> BTreeMap<String, (usize, String)> {
    let mut out: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for e in entries.iter().filter(|e| e["event"] == "delivered") {
        for f in e["files"].as_array().unwrap() {
            let entry = out
                .entry(f["name"].as_str().unwrap().to_owned())
                .or_insert((0, String::new()));
            entry.0 += 1;
            f["sha256"].as_str().unwrap().clone_into(&mut entry.1);
        }
    }
    out
}

/// A `tmpfs` of a given size mounted on a new folder (needs root); unmounted when dropped.
pub struct Tmpfs {
    /// The mount point.
    pub path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a `tmpfs` of `size` (e.g. `"512k"`, `"1m"`); panics saying the test needs root
    /// when `mount` refuses.
    pub fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("small");
        fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount -t tmpfs failed (the test needs root): {}",
            text(&out.stderr)
        );
        Tmpfs {
            path,
            _parent: parent,
        }
    }

    /// Grows (or shrinks) the file system in place, keeping its files.
    pub fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status();
    }
}
