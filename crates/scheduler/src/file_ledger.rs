//! The default ledger: a JSON-lines journal in a state folder, fsynced and OS-locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::ledger::{State, next_ledger_id, outcome_entry, stamp};
use crate::{
    Begin, Claim, DeliveredRecord, DeliveryId, Entry, Error, Ledger, Outcome, RunKey, RunStatus,
};

/// The journal's file name inside the state folder.
pub const JOURNAL_FILE: &str = "ledger.jsonl";
/// Where torn journal tails are moved to, inside the state folder.
pub const TORN_FILE: &str = "ledger.jsonl.torn";
/// The folder of per-delivery lock files, inside the state folder.
pub const LOCKS_DIR: &str = "locks";

/// A journal tail left by a crash mid-write, found and set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Its 1-based line number in the journal.
    pub line: u64,
    /// Its byte offset in the journal.
    pub offset: u64,
    /// Its length in bytes.
    pub bytes: usize,
    /// `true` if it was a whole entry missing only its newline (kept, newline added);
    /// `false` if it was cut short (moved to [`TORN_FILE`] and removed from the journal).
    pub kept: bool,
}

/// The default [`Ledger`]: a JSON-lines journal in a state folder.
///
/// * `<state>/ledger.jsonl`: one JSON object per line, appended and fsynced per entry;
///   readable with `jq` (e.g. `jq -c 'select(.event == "failed")' ledger.jsonl`).
/// * A crash mid-write can only tear the last line. A torn tail is reported
///   ([`torn_tails`](Self::torn_tails) and a `tracing` warning), copied to
///   `<state>/ledger.jsonl.torn` and cut off; it is never fatal. A tail that is a whole entry
///   missing only its newline is kept (it may record a delivery that did happen).
/// * Appends and replays hold an exclusive OS lock on the journal (`flock`), so several
///   processes can share one state folder; each [`begin`](Ledger::begin) re-reads what the
///   others appended (incrementally, from where it stopped).
/// * `<state>/locks/<delivery>.lock`: an OS lock held by the process running that delivery,
///   so two processes on one machine never run the same delivery at once. The lock dies with
///   its process, so a crash never leaves a delivery locked.
#[derive(Debug)]
pub struct FileLedger {
    dir: PathBuf,
    journal_path: PathBuf,
    id: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    offset: u64,
    lines: u64,
    state: State,
    torn: Vec<TornTail>,
    buf: Vec<u8>,
}

/// Holds the journal's exclusive OS lock until dropped.
struct JournalLock<'a>(&'a File);

impl Drop for JournalLock<'_> {
    fn drop(&mut self) {
        // Closing the file would release it too; an unlock error leaves nothing to repair.
        let _ = self.0.unlock();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 64-bit FNV-1a: a stable hash for lock file names (a collision only over-locks).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn lock_file_name(delivery: &DeliveryId) -> String {
    let readable = |s: &str| -> String {
        s.chars()
            .take(40)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "{}~{}~{}-{:016x}.lock",
        readable(&delivery.configuration),
        readable(&delivery.audience),
        readable(&delivery.data_type),
        fnv1a(&[
            &delivery.configuration,
            &delivery.audience,
            &delivery.data_type
        ])
    )
}

impl FileLedger {
    /// Opens (creating if needed) the ledger in the state folder `dir`, and replays it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join(LOCKS_DIR))
            .map_err(|e| Error::io("create the state folder", &dir, e))?;
        let journal_path = dir.join(JOURNAL_FILE);
        let existed = journal_path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&journal_path)
            .map_err(|e| Error::io("open the ledger journal", &journal_path, e))?;
        if !existed {
            // Make the new journal's directory entry durable too.
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("sync the state folder", &dir, e))?;
        }
        let ledger = FileLedger {
            dir,
            journal_path,
            id: next_ledger_id(),
            inner: Mutex::new(Inner {
                file,
                offset: 0,
                lines: 0,
                state: State::default(),
                torn: Vec::new(),
                buf: Vec::new(),
            }),
        };
        {
            let mut inner = lock(&ledger.inner);
            ledger.refresh(&mut inner)?;
        }
        Ok(ledger)
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The journal file (`<state>/ledger.jsonl`).
    pub fn journal_path(&self) -> &Path {
        &self.journal_path
    }

    /// Torn tails found (and set aside) since this ledger was opened.
    pub fn torn_tails(&self) -> Vec<TornTail> {
        lock(&self.inner).torn.clone()
    }

    /// How many journal entries have been replayed or written so far.
    pub fn entry_count(&self) -> u64 {
        lock(&self.inner).state.entries
    }

    /// Re-reads entries other processes appended, if any.
    pub fn refresh_now(&self) -> Result<(), Error> {
        let mut inner = lock(&self.inner);
        self.refresh(&mut inner)
    }

    fn journal_lock<'a>(&self, file: &'a File) -> Result<JournalLock<'a>, Error> {
        file.lock()
            .map_err(|e| Error::io("lock the ledger journal", &self.journal_path, e))?;
        Ok(JournalLock(file))
    }

    fn len(&self, inner: &Inner) -> Result<u64, Error> {
        inner
            .file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io("read the size of the ledger journal", &self.journal_path, e))
    }

    /// Brings the state up to date: takes the journal lock only if there is something new.
    fn refresh(&self, inner: &mut Inner) -> Result<(), Error> {
        if self.len(inner)? == inner.offset {
            return Ok(());
        }
        let file = inner
            .file
            .try_clone()
            .map_err(|e| Error::io("open the ledger journal", &self.journal_path, e))?;
        let _guard = self.journal_lock(&file)?;
        self.read_new(inner)
    }

    /// Reads everything after `inner.offset`; the journal lock must be held.
    fn read_new(&self, inner: &mut Inner) -> Result<(), Error> {
        let path = &self.journal_path;
        let len = self.len(inner)?;
        if len < inner.offset {
            // The journal was replaced or cut by hand: start over.
            inner.offset = 0;
            inner.lines = 0;
            inner.state = State::default();
        }
        if len == inner.offset {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut inner.buf);
        let result = (|| {
            let mut reader = BufReader::with_capacity(1 << 16, &inner.file);
            reader
                .seek(SeekFrom::Start(inner.offset))
                .map_err(|e| Error::io("read the ledger journal", path, e))?;
            loop {
                buf.clear();
                let n = reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| Error::io("read the ledger journal", path, e))?;
                if n == 0 {
                    return Ok(None);
                }
                if buf.last() != Some(&b'\n') {
                    return Ok(Some(buf.clone()));
                }
                inner.lines += 1;
                if !buf.iter().all(u8::is_ascii_whitespace) {
                    let entry =
                        Entry::from_json_line(&buf).map_err(|reason| Error::CorruptJournal {
                            path: path.clone(),
                            line: inner.lines,
                            reason,
                        })?;
                    inner.state.apply(entry);
                }
                inner.offset += n as u64;
            }
        })();
        inner.buf = buf;
        match result? {
            None => Ok(()),
            Some(tail) => self.repair_tail(inner, &tail),
        }
    }

    /// Deals with a last line without its newline (a crash mid-write); journal lock held.
    fn repair_tail(&self, inner: &mut Inner, tail: &[u8]) -> Result<(), Error> {
        let path = &self.journal_path;
        let line = inner.lines + 1;
        let offset = inner.offset;
        if let Ok(entry) = Entry::from_json_line(tail) {
            tracing::warn!(journal = %path.display(), line, "ledger journal's last entry lacked its newline (a crash mid-write); kept it");
            (&inner.file)
                .write_all(b"\n")
                .and_then(|()| inner.file.sync_data())
                .map_err(|e| Error::io("repair the ledger journal", path, e))?;
            inner.state.apply(entry);
            inner.lines = line;
            inner.offset += tail.len() as u64 + 1;
            inner.torn.push(TornTail {
                line,
                offset,
                bytes: tail.len(),
                kept: true,
            });
            return Ok(());
        }
        let torn_path = self.dir.join(crate::file_ledger::TORN_FILE);
        tracing::warn!(
            journal = %path.display(),
            line,
            bytes = tail.len(),
            moved_to = %torn_path.display(),
            "ledger journal ends in a torn line (a crash mid-write); ignored it"
        );
        let mut torn = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&torn_path)
            .map_err(|e| Error::io("open the torn-lines file", &torn_path, e))?;
        torn.write_all(tail)
            .and_then(|()| torn.write_all(b"\n"))
            .and_then(|()| torn.sync_data())
            .map_err(|e| Error::io("write the torn-lines file", &torn_path, e))?;
        inner
            .file
            .set_len(offset)
            .and_then(|()| inner.file.sync_data())
            .map_err(|e| Error::io("cut the torn line off the ledger journal", path, e))?;
        inner.torn.push(TornTail {
            line,
            offset,
            bytes: tail.len(),
            kept: false,
        });
        Ok(())
    }

    /// Appends entries (one write, one fsync); the journal lock must be held and the state
    /// fresh.
    fn append(&self, inner: &mut Inner, entries: Vec<Entry>) -> Result<(), Error> {
        let mut text = String::new();
        for entry in &entries {
            text.push_str(&entry.to_json_line());
            text.push('\n');
        }
        (&inner.file)
            .write_all(text.as_bytes())
            .and_then(|()| inner.file.sync_data())
            .map_err(|e| Error::io("append to the ledger journal", &self.journal_path, e))?;
        inner.offset += text.len() as u64;
        inner.lines += entries.len() as u64;
        for entry in entries {
            inner.state.apply(entry);
        }
        Ok(())
    }

    /// Runs `f` with the journal locked and the state fresh.
    fn locked<T>(&self, f: impl FnOnce(&Self, &mut Inner) -> Result<T, Error>) -> Result<T, Error> {
        let mut inner = lock(&self.inner);
        let file = inner
            .file
            .try_clone()
            .map_err(|e| Error::io("open the ledger journal", &self.journal_path, e))?;
        let _guard = self.journal_lock(&file)?;
        self.read_new(&mut inner)?;
        f(self, &mut inner)
    }
}

impl Ledger for FileLedger {
    fn begin(&self, key: &RunKey, at: DateTime<Utc>, force: bool) -> Result<Begin, Error> {
        let at = stamp(at);
        let lock_path = self.dir.join(LOCKS_DIR).join(lock_file_name(&key.delivery));
        let lock_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io("open the delivery lock file", &lock_path, e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Begin::Busy),
            Err(TryLockError::Error(e)) => {
                return Err(Error::io("lock the delivery lock file", &lock_path, e));
            }
        }
        self.locked(
            |this, inner| match inner.state.begin_entries(key, at, force) {
                Err(record) => Ok(Begin::AlreadyDelivered(record)),
                Ok((entries, attempt)) => {
                    this.append(inner, entries)?;
                    Ok(Begin::Claimed(Claim::new(
                        key.clone(),
                        attempt,
                        force,
                        this.id,
                        lock_file,
                    )))
                }
            },
        )
    }

    fn finish(&self, claim: Claim, at: DateTime<Utc>, outcome: Outcome) -> Result<(), Error> {
        if claim.issuer() != self.id {
            return Err(Error::ForeignClaim {
                key: claim.key().to_string(),
            });
        }
        let entry = outcome_entry(&claim, stamp(at), outcome);
        self.locked(|this, inner| this.append(inner, vec![entry]))?;
        drop(claim);
        Ok(())
    }

    fn status(&self, key: &RunKey) -> Result<RunStatus, Error> {
        let mut inner = lock(&self.inner);
        self.refresh(&mut inner)?;
        Ok(inner.state.status(key))
    }

    fn last_delivered(&self, delivery: &DeliveryId) -> Result<Option<DeliveredRecord>, Error> {
        let mut inner = lock(&self.inner);
        self.refresh(&mut inner)?;
        Ok(inner.state.last_delivered(delivery))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_names_are_readable_and_distinct() {
        let a = DeliveryId::new("acme prod", "17095", "pii");
        let b = DeliveryId::new("acme_prod", "17095", "pii");
        assert!(lock_file_name(&a).starts_with("acme_prod~17095~pii-"));
        assert_ne!(lock_file_name(&a), lock_file_name(&b));
        let long = DeliveryId::new("x".repeat(500), "a/../b", "device");
        let name = lock_file_name(&long);
        assert!(name.len() < 120 && !name.contains('/'), "{name}");
    }
}
