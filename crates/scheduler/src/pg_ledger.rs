//! The ledger on PostgreSQL, shared by several nodes: the journal as rows, and a lease per
//! delivery so that one node at a time runs it.

use std::collections::HashMap;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use liveramp_postgres::postgres::Transaction;
use liveramp_postgres::{Migration, Pool, PoolOptions};

use crate::Error;
use crate::ledger::{
    Begin, Claim, DeliveredRecord, DeliveryId, Entry, Event, Fence, LeaseState, Ledger, Outcome,
    RunKey, RunStatus, State, next_ledger_id, outcome_entry, stamp,
};

/// The component name of the ledger's schema in the `liveramp_schema` table.
pub const LEDGER_COMPONENT: &str = "ledger";

/// The ledger schema version this crate reads and writes.
pub const LEDGER_SCHEMA_VERSION: i32 = 1;

const SCHEMA_1: &str = "
-- The journal: the same entries as the file ledger's lines (`Entry::to_json_line`).
CREATE TABLE ledger_entries (
    seq bigserial PRIMARY KEY,
    configuration text NOT NULL,
    audience text NOT NULL,
    data_type text NOT NULL,
    run_date text NOT NULL,      -- YYYY-MM-DD
    event text NOT NULL,
    line text NOT NULL
);
CREATE INDEX ledger_entries_run ON ledger_entries (configuration, audience, data_type, run_date, seq);
CREATE INDEX ledger_entries_delivered ON ledger_entries (configuration, audience, data_type, seq)
    WHERE event = 'delivered';
-- One lease per delivery: who runs it until when; `token` grows with every claim (fencing).
CREATE TABLE ledger_leases (
    configuration text NOT NULL,
    audience text NOT NULL,
    data_type text NOT NULL,
    run_date text,
    holder text NOT NULL DEFAULT '',
    token bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (configuration, audience, data_type)
);
";

const MIGRATIONS: [Migration; 1] = [Migration::new(1, SCHEMA_1)];

/// Settings of a [`PgLedger`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgLedgerOptions {
    /// How long a claim holds its delivery without being renewed (default 60 s). A node that
    /// dies holds it this long at most; then another node takes the delivery over.
    pub lease: Duration,
    /// How often a live claim renews its lease (default 20 s: a third of the lease).
    pub renew_every: Duration,
    /// At most this many connections (default 4).
    pub pool_size: usize,
    /// Statements running longer are cancelled (default 30 s).
    pub statement_timeout: Duration,
    /// This node's name in the leases (default: host name and process id).
    pub holder: String,
}

impl Default for PgLedgerOptions {
    fn default() -> PgLedgerOptions {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "node".to_owned(), |h| h.trim().to_owned());
        PgLedgerOptions {
            lease: Duration::from_secs(60),
            renew_every: Duration::from_secs(20),
            pool_size: 4,
            statement_timeout: Duration::from_secs(30),
            holder: format!("{host}:{}", std::process::id()),
        }
    }
}

/// A [`Ledger`] in PostgreSQL that several processes (nodes) share.
///
/// [`begin`](Ledger::begin) takes the delivery's lease in the same transaction that records
/// `started`, so of all nodes asking at once exactly one gets [`Begin::Claimed`], the others
/// [`Begin::Busy`] (or [`Begin::AlreadyDelivered`] once it is recorded). The claim renews its
/// lease in the background every [`PgLedgerOptions::renew_every`]; a node that dies stops
/// renewing, and once the lease expires another node's `begin` takes the delivery over
/// (recording the dead attempt as interrupted). Every claim gets a new fencing token: a
/// [`finish`](Ledger::finish) whose lease was taken over meanwhile is refused with
/// [`Error::LeaseLost`], so a late node never records an outcome over the new holder's.
pub struct PgLedger {
    pool: Pool,
    id: u64,
    options: PgLedgerOptions,
    /// The fencing token of each live claim of this ledger.
    tokens: Arc<Mutex<HashMap<DeliveryId, i64>>>,
}

impl std::fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLedger")
            .field("database", &self.pool.database())
            .field("holder", &self.options.holder)
            .finish_non_exhaustive()
    }
}

/// Keeps a claim's lease alive until dropped, then releases it.
struct Lease {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl PgLedger {
    /// Connects to the database at `url`, applying the ledger's migrations (under the shared
    /// advisory lock) and refusing a newer schema.
    pub fn open(url: &str, options: PgLedgerOptions) -> Result<PgLedger, Error> {
        let mut pool_options = PoolOptions::default();
        pool_options.size = options.pool_size.max(2);
        pool_options.statement_timeout = options.statement_timeout;
        let pool = Pool::connect(url, pool_options).map_err(Error::Database)?;
        pool.migrate(LEDGER_COMPONENT, &MIGRATIONS)
            .map_err(Error::Database)?;
        Ok(PgLedger {
            pool,
            id: next_ledger_id(),
            options,
            tokens: Arc::default(),
        })
    }

    /// The database, without its password.
    pub fn database(&self) -> &str {
        self.pool.database()
    }

    /// The schema version of the ledger in the database.
    pub fn schema_version(&self) -> Result<Option<i32>, Error> {
        self.pool
            .schema_version(LEDGER_COMPONENT)
            .map_err(Error::Database)
    }

    fn pg(&self) -> impl Fn(liveramp_postgres::postgres::Error) -> Error + '_ {
        |e| Error::Database(self.pool.error(&e))
    }

    fn replay(&self, tx: &mut Transaction<'_>, key: &RunKey) -> Result<State, Error> {
        let d = &key.delivery;
        let rows = tx
            .query(
                "SELECT line FROM ledger_entries WHERE configuration = $1 AND audience = $2
                 AND data_type = $3 AND run_date = $4 ORDER BY seq",
                &[
                    &d.configuration,
                    &d.audience,
                    &d.data_type,
                    &key.run_date.to_string(),
                ],
            )
            .map_err(self.pg())?;
        let mut state = State::default();
        for row in rows {
            let line: String = row.try_get(0).map_err(self.pg())?;
            state.apply(self.parse(&line)?);
        }
        Ok(state)
    }

    fn parse(&self, line: &str) -> Result<Entry, Error> {
        Entry::from_json_line(line.as_bytes()).map_err(|reason| {
            Error::Database(liveramp_postgres::Error::Failed {
                database: self.pool.database().to_owned(),
                detail: format!("a ledger_entries row is not a valid entry ({reason})"),
            })
        })
    }

    fn insert(&self, tx: &mut Transaction<'_>, entry: &Entry) -> Result<(), Error> {
        let d = &entry.key.delivery;
        let event = match entry.event {
            Event::Started { .. } => "started",
            Event::Delivered(_) => "delivered",
            Event::Failed { .. } => "failed",
        };
        tx.execute(
            "INSERT INTO ledger_entries (configuration, audience, data_type, run_date, event, line)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &d.configuration,
                &d.audience,
                &d.data_type,
                &entry.key.run_date.to_string(),
                &event,
                &entry.to_json_line(),
            ],
        )
        .map_err(self.pg())?;
        Ok(())
    }

    /// How long after sending a renewal (or the claim) this node may act on the lease: the
    /// lease less a quarter, the margin for a renewal's own time and for clocks that do not
    /// tick at exactly the same rate.
    fn acting_time(&self) -> Duration {
        self.options.lease.saturating_sub(self.options.lease / 4)
    }

    /// Starts the thread that renews the lease `token` of `delivery` until the lease is dropped,
    /// then releases it (unless lost).
    fn keep(
        &self,
        delivery: &DeliveryId,
        token: i64,
        state: Arc<LeaseState>,
    ) -> Result<Lease, Error> {
        let acting = self.acting_time();
        let (stop, stopped) = channel::<()>();
        let pool = self.pool.clone();
        let d = delivery.clone();
        let lease = millis(self.options.lease);
        let every = self.options.renew_every;
        let tokens = Arc::clone(&self.tokens);
        let thread = std::thread::Builder::new()
            .name("ledger-lease".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if state.lost.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    // A failed renewal (database briefly away) is tried again next time; the
                    // lease lasts three renewals.
                    let sent = Instant::now();
                    if let Ok(mut conn) = pool.get() {
                        match conn.execute(
                            "UPDATE ledger_leases
                             SET expires_at = clock_timestamp() + make_interval(secs => $5)
                             WHERE configuration = $1 AND audience = $2 AND data_type = $3
                             AND token = $4",
                            &[&d.configuration, &d.audience, &d.data_type, &token, &lease],
                        ) {
                            Ok(0) => {
                                state.lose();
                                tracing::warn!(delivery = %d, "the lease was taken over");
                            }
                            Ok(_) => state.extend(sent + acting),
                            Err(e) => {
                                tracing::warn!(delivery = %d, error = %pool.error(&e), "lease renewal failed");
                            }
                        }
                    }
                }
                state.lose();
                // Released: another node may claim at once (an attempt without outcome is then
                // recorded as interrupted).
                if let Ok(mut conn) = pool.get() {
                    let _ = conn.execute(
                        "UPDATE ledger_leases SET expires_at = '-infinity'
                         WHERE configuration = $1 AND audience = $2 AND data_type = $3
                         AND token = $4",
                        &[&d.configuration, &d.audience, &d.data_type, &token],
                    );
                }
                let mut t = tokens.lock().unwrap_or_else(PoisonError::into_inner);
                if t.get(&d) == Some(&token) {
                    t.remove(&d);
                }
            })
            .map_err(|e| Error::io("start the lease thread for", "ledger", e))?;
        Ok(Lease {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Ledger for PgLedger {
    fn begin(&self, key: &RunKey, at: DateTime<Utc>, force: bool) -> Result<Begin, Error> {
        let at = stamp(at);
        let d = &key.delivery;
        // The lease runs from the database's clock at the claim, which is after this.
        let asked = Instant::now();
        let mut conn = self.pool.get().map_err(Error::Database)?;
        let mut tx = conn.transaction().map_err(self.pg())?;
        tx.execute(
            "INSERT INTO ledger_leases (configuration, audience, data_type) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&d.configuration, &d.audience, &d.data_type],
        )
        .map_err(self.pg())?;
        let row = tx
            .query_one(
                "SELECT expires_at > clock_timestamp() FROM ledger_leases
                 WHERE configuration = $1 AND audience = $2 AND data_type = $3 FOR UPDATE",
                &[&d.configuration, &d.audience, &d.data_type],
            )
            .map_err(self.pg())?;
        let held: bool = row.try_get(0).map_err(self.pg())?;
        if held {
            return Ok(Begin::Busy);
        }
        let state = self.replay(&mut tx, key)?;
        let (entries, attempt) = match state.begin_entries(key, at, force) {
            Err(record) => return Ok(Begin::AlreadyDelivered(record)),
            Ok(e) => e,
        };
        for entry in &entries {
            self.insert(&mut tx, entry)?;
        }
        let token: i64 = tx
            .query_one(
                "UPDATE ledger_leases SET holder = $4, run_date = $5, token = token + 1,
                     expires_at = clock_timestamp() + make_interval(secs => $6)
                 WHERE configuration = $1 AND audience = $2 AND data_type = $3
                 RETURNING token",
                &[
                    &d.configuration,
                    &d.audience,
                    &d.data_type,
                    &self.options.holder,
                    &key.run_date.to_string(),
                    &millis(self.options.lease),
                ],
            )
            .map_err(self.pg())?
            .try_get(0)
            .map_err(self.pg())?;
        tx.commit().map_err(self.pg())?;
        drop(conn);
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(d.clone(), token);
        let state = LeaseState::new(asked + self.acting_time());
        let lease = self.keep(d, token, Arc::clone(&state))?;
        Ok(Begin::Claimed(
            Claim::new(key.clone(), attempt, force, self.id, lease)
                .with_fence(Fence::leased(key, state)),
        ))
    }

    fn finish(&self, claim: Claim, at: DateTime<Utc>, outcome: Outcome) -> Result<(), Error> {
        if claim.issuer() != self.id {
            return Err(Error::ForeignClaim {
                key: claim.key().to_string(),
            });
        }
        let d = claim.key().delivery.clone();
        let token = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&d)
            .copied();
        let Some(token) = token else {
            return Err(Error::ForeignClaim {
                key: claim.key().to_string(),
            });
        };
        let entry = outcome_entry(&claim, stamp(at), outcome);
        let mut conn = self.pool.get().map_err(Error::Database)?;
        let mut tx = conn.transaction().map_err(self.pg())?;
        let current: Option<i64> = tx
            .query_opt(
                "SELECT token FROM ledger_leases
                 WHERE configuration = $1 AND audience = $2 AND data_type = $3 FOR UPDATE",
                &[&d.configuration, &d.audience, &d.data_type],
            )
            .map_err(self.pg())?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(self.pg())?;
        if current != Some(token) {
            return Err(Error::LeaseLost {
                key: claim.key().to_string(),
            });
        }
        self.insert(&mut tx, &entry)?;
        tx.execute(
            "UPDATE ledger_leases SET expires_at = '-infinity'
             WHERE configuration = $1 AND audience = $2 AND data_type = $3",
            &[&d.configuration, &d.audience, &d.data_type],
        )
        .map_err(self.pg())?;
        tx.commit().map_err(self.pg())?;
        drop(conn);
        drop(claim);
        Ok(())
    }

    fn status(&self, key: &RunKey) -> Result<RunStatus, Error> {
        let mut conn = self.pool.get().map_err(Error::Database)?;
        let mut tx = conn.transaction().map_err(self.pg())?;
        let state = self.replay(&mut tx, key)?;
        Ok(state.status(key))
    }

    fn last_delivered(&self, delivery: &DeliveryId) -> Result<Option<DeliveredRecord>, Error> {
        let mut conn = self.pool.get().map_err(Error::Database)?;
        let row = conn
            .query_opt(
                "SELECT line FROM ledger_entries WHERE configuration = $1 AND audience = $2
                 AND data_type = $3 AND event = 'delivered' ORDER BY seq DESC LIMIT 1",
                &[
                    &delivery.configuration,
                    &delivery.audience,
                    &delivery.data_type,
                ],
            )
            .map_err(self.pg())?;
        let Some(row) = row else {
            return Ok(None);
        };
        let line: String = row.try_get(0).map_err(self.pg())?;
        let entry = self.parse(&line)?;
        let mut state = State::default();
        state.apply(entry);
        Ok(state.last_delivered(delivery))
    }

    fn leases(&self) -> bool {
        true
    }
}
