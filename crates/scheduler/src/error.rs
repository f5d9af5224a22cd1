//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Every message says what is wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A timezone name that is not in the IANA time zone database.
    #[error(
        "unknown timezone {name:?}: use an IANA zone name such as \"America/New_York\" (US \
         Eastern, EST/EDT) or \"EST\" (UTC-5 all year){}",
        suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default()
    )]
    UnknownTimezone {
        /// The name as given.
        name: String,
        /// A zone whose name differs only in letter case, if there is one.
        suggestion: Option<String>,
    },
    /// A time of day that is not `HH:MM` (or `HH:MM:SS`) on a 24-hour clock.
    #[error(
        "invalid schedule time {value:?}: write it as \"HH:MM\" on a 24-hour clock, e.g. \"00:00\""
    )]
    InvalidTime {
        /// The value as given.
        value: String,
    },
    /// A file-system operation on the ledger failed.
    #[error("could not {action} {}: {source}; check that the state folder exists, is writable and the disk is not full", path.display())]
    Io {
        /// What was being done, e.g. "append to the ledger journal".
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A complete (newline-terminated) journal line that is not a valid ledger entry.
    ///
    /// Only the last line can be torn by a crash (entries are fsynced one by one), so a bad line
    /// before it means the journal was edited or damaged: the ledger refuses to guess, because
    /// skipping a `delivered` entry could send a file twice.
    #[error(
        "ledger journal {} line {line} is not a valid entry ({reason}): the journal was edited \
         or damaged; fix or remove that line (every line is one JSON object), then restart",
        path.display()
    )]
    CorruptJournal {
        /// The journal file.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A [`Claim`](crate::Claim) was handed to a ledger that did not issue it, or twice.
    #[error(
        "the claim for {key} was not issued by this ledger or was already finished: finish each \
         claim exactly once, on the ledger that issued it"
    )]
    ForeignClaim {
        /// The run the claim is for, as text.
        key: String,
    },
    /// The PostgreSQL ledger's database failed (it never holds the password).
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL ledger: {0}")]
    Database(liveramp_postgres::Error),
    /// This node's lease on a delivery expired and another node took the delivery over: the
    /// outcome is not recorded over the new holder's.
    #[error(
        "the lease on {key} was lost (it expired and another node took the delivery over): \
         this node's outcome is not recorded; the other node's is"
    )]
    LeaseLost {
        /// The run.
        key: String,
    },
    /// A plan that cannot work, e.g. zero attempts per night.
    #[error("invalid plan: {reason}")]
    InvalidPlan {
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl Error {
    /// Whether trying again later can succeed without anyone acting: the PostgreSQL ledger's
    /// database is unreachable, restarting or busy. The [`Runner`](crate::Runner)'s nightly
    /// loop waits and tries again on these instead of stopping.
    pub fn is_transient(&self) -> bool {
        #[cfg(feature = "postgres")]
        if let Error::Database(e) = self {
            return e.is_transient();
        }
        false
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
