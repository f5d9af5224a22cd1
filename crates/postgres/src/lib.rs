//! The PostgreSQL plumbing the connector's store and ledger share: a small connection pool,
//! passwords kept out of every message, versioned migrations under an advisory lock, and
//! errors that say whether a retry can help.
//!
//! `liveramp-audience-store`'s `PgStore` and `liveramp-scheduler`'s `PgLedger` (each behind its
//! crate's `postgres` feature) are built on it, so that several `liveramp serve` nodes share
//! one database. It is tested on PostgreSQL 15 only.
//!
//! ```no_run
//! use liveramp_postgres::{Migration, Pool, PoolOptions};
//!
//! let url = std::env::var("LIVERAMP_DATABASE_URL")?;
//! let pool = Pool::connect(&url, PoolOptions::default())?;
//! // Never the password: `postgres://liveramp@db.internal:5432/audiences`.
//! println!("{}", pool.database());
//! let migrations = [Migration::new(1, "CREATE TABLE notes (id bigint PRIMARY KEY)")];
//! assert_eq!(pool.migrate("example", &migrations)?, 1);
//! let mut conn = pool.get()?;
//! let n: i64 = conn
//!     .query_one("SELECT count(*) FROM notes", &[])
//!     .map_err(|e| pool.error(&e))?
//!     .get(0);
//! assert_eq!(n, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The rules
//!
//! 1. **The password never prints.** [`Pool::database`] and every [`Error`] name the database
//!    as `postgres://USER@HOST:PORT/DBNAME`; an error text that would contain the password has
//!    it replaced by `***`; a URL that cannot be read is not echoed.
//! 2. **Transient or not.** [`Error::is_transient`] is true when the database cannot be
//!    reached, restarts, is overloaded, or a transaction lost a serialization conflict or a
//!    timeout: a server answers 503 and the sender retries. Everything else needs someone to
//!    act.
//! 3. **Migrations** are numbered from 1 per component, embedded in the program, and applied
//!    in order, each in its own transaction, under one `pg_advisory_lock` so that nodes
//!    starting together apply each once; a database whose version for the component is newer
//!    than the program's newest migration is refused with [`Error::NewerSchema`].
//! 4. **The pool** opens at most [`PoolOptions::size`] connections, on demand, and drops a
//!    connection that broke; each has the statement timeout set.
//! 5. **TLS as libpq reads the URL.** `sslmode` is `disable`, `prefer` (the default: TLS when
//!    the server offers it), `require` (TLS or no connection, the certificate not checked),
//!    `verify-ca` (signed by the authority in `sslrootcert=PATH`, or by the system's without
//!    it) or `verify-full` (and issued for the host). A certificate refused, or a server
//!    without TLS when the URL demands it, is an [`Error::Failed`] that says what to change,
//!    not a transient error.
//!
//! This crate exposes `postgres::Client` (re-exported as [`postgres`]) through [`Conn`]: it is
//! the plumbing of our own crates. Its errors hold no third-party type.
#![deny(missing_docs)]

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use postgres;
use postgres::Client;
use postgres::config::Host;
use postgres_native_tls::MakeTlsConnector;

mod tls;

/// The key of the advisory lock migrations are applied under.
const MIGRATION_LOCK: i64 = 0x6c69_7665_7261_6d70; // "liveramp"

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a PostgreSQL connection URL (it is not shown: it may hold a password).
    #[error(
        "the PostgreSQL URL cannot be read ({detail}); it is not shown here because it may \
         hold a password: write it as postgres://USER:PASSWORD@HOST:PORT/DBNAME"
    )]
    Url {
        /// What is wrong.
        detail: String,
    },
    /// TLS could not be set up on this machine.
    #[error("cannot set up TLS for PostgreSQL ({detail})")]
    Tls {
        /// The TLS library's message.
        detail: String,
    },
    /// The database cannot be reached, is restarting, or the connection broke.
    #[error("the database {database} is unavailable ({detail}): retry when it is back")]
    Unavailable {
        /// The database, without its password.
        database: String,
        /// What happened.
        detail: String,
    },
    /// A conflict with another transaction, a timeout, or every pooled connection in use.
    #[error("the database {database} is busy ({detail}): retry later")]
    Busy {
        /// The database, without its password.
        database: String,
        /// What happened.
        detail: String,
    },
    /// The database holds a schema newer than this program knows.
    #[error(
        "the database {database} has schema version {found} of {component}, newer than \
         version {supported} that this program knows: upgrade this program on every node (or \
         point it at another database)"
    )]
    NewerSchema {
        /// The database, without its password.
        database: String,
        /// Whose schema (e.g. `audience-store`).
        component: String,
        /// The version in the database.
        found: i32,
        /// The newest version this program knows.
        supported: i32,
    },
    /// Any other failure: wrong credentials, missing permissions, a bug.
    #[error("the database {database} failed: {detail}")]
    Failed {
        /// The database, without its password.
        database: String,
        /// The server's or client's message.
        detail: String,
    },
}

impl Error {
    /// Whether retrying later can succeed without anyone fixing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Busy { .. })
    }
}

/// Settings of a [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// At most this many connections (default 8).
    pub size: usize,
    /// Statements running longer are cancelled (default 30 s; zero: none).
    pub statement_timeout: Duration,
    /// How long a connection attempt may take when the URL does not say (default 5 s).
    pub connect_timeout: Duration,
    /// How long a caller waits for a free connection when all are in use (default 10 s).
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            size: 8,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// One embedded schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its number, from 1, without gaps.
    pub version: i32,
    /// The SQL, run in one transaction.
    pub sql: &'static str,
}

impl Migration {
    /// A migration from its number and SQL.
    pub const fn new(version: i32, sql: &'static str) -> Migration {
        Migration { version, sql }
    }
}

/// The database named without its password: `postgres://USER@HOST:PORT/DBNAME`.
///
/// A URL that cannot be read gives a placeholder, never the text.
pub fn redact(url: &str) -> String {
    let rest = tls::settings(url).map(|s| s.rest);
    match rest.and_then(|rest| postgres::Config::from_str(&rest).map_err(|_| tls_url_error())) {
        Ok(config) => describe(&config),
        Err(_) => "(a PostgreSQL URL that cannot be read; not shown)".to_owned(),
    }
}

fn tls_url_error() -> Error {
    Error::Url {
        detail: String::new(),
    }
}

fn describe(config: &postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!(
        "postgres://{at}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or(user)
    )
}

struct Inner {
    config: postgres::Config,
    tls_mode: &'static str,
    tls: MakeTlsConnector,
    database: String,
    password: Option<String>,
    options: PoolOptions,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Default)]
struct State {
    /// Idle connections and when each was given back.
    idle: Vec<(Client, Instant)>,
    open: usize,
    /// Bumped whenever the database was found unavailable: connections handed out before are
    /// closed when given back, not reused.
    generation: u64,
}

/// An idle connection older than this is checked (one round trip) before it is handed out.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(2);

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A small pool of connections to one database.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("database", &self.inner.database)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for the database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DBNAME`,
    /// optionally `?sslmode=require`), with one connection opened now to check that it works.
    pub fn connect(url: &str, options: PoolOptions) -> Result<Pool, Error> {
        let pool = Pool::new(url, options)?;
        drop(pool.get()?);
        Ok(pool)
    }

    /// A pool for the database at `url` that opens no connection until one is needed.
    pub fn new(url: &str, options: PoolOptions) -> Result<Pool, Error> {
        let settings = tls::settings(url)?;
        let mut config = postgres::Config::from_str(&settings.rest).map_err(|e| {
            let mut detail = e.to_string();
            // The parser's message names a bad key or value, never the whole URL; scrub
            // anyway whatever looks like the URL's password.
            if let Some(p) = url_password(url) {
                detail = detail.replace(&p, "***");
            }
            Error::Url { detail }
        })?;
        if config.get_hosts().is_empty() {
            return Err(Error::Url {
                detail: "it names no host".to_owned(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("liveramp");
        }
        config.ssl_mode(settings.mode.ssl_mode());
        let tls = tls::connector(&settings)?;
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty());
        let database = describe(&config);
        Ok(Pool {
            inner: Arc::new(Inner {
                config,
                tls_mode: settings.mode.name(),
                tls: MakeTlsConnector::new(tls),
                database,
                password,
                options: PoolOptions {
                    size: options.size.max(1),
                    ..options
                },
                state: Mutex::new(State::default()),
                freed: Condvar::new(),
            }),
        })
    }

    /// The database, without its password: `postgres://USER@HOST:PORT/DBNAME`.
    pub fn database(&self) -> &str {
        &self.inner.database
    }

    /// The pool's settings.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// A connection: an idle one, a new one while fewer than [`PoolOptions::size`] are open,
    /// or the next one given back (waiting at most [`PoolOptions::acquire_timeout`]).
    pub fn get(&self) -> Result<Conn, Error> {
        let deadline = Instant::now() + self.inner.options.acquire_timeout;
        let mut state = lock(&self.inner.state);
        loop {
            while let Some((mut client, since)) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                if since.elapsed() < CHECK_IDLE_AFTER {
                    return Ok(self.wrap(client, state.generation));
                }
                // The server may have restarted meanwhile: check outside the lock.
                let generation = state.generation;
                drop(state);
                let alive = client.is_valid(Duration::from_secs(2)).is_ok();
                if alive {
                    return Ok(self.wrap(client, generation));
                }
                drop(client);
                state = lock(&self.inner.state);
                state.open -= 1;
            }
            if state.open < self.inner.options.size {
                state.open += 1;
                let generation = state.generation;
                drop(state);
                return match self.open() {
                    Ok(client) => Ok(self.wrap(client, generation)),
                    Err(e) => {
                        lock(&self.inner.state).open -= 1;
                        self.inner.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Busy {
                    database: self.inner.database.clone(),
                    detail: format!(
                        "all {} connections of the pool stayed in use for {:?}",
                        self.inner.options.size, self.inner.options.acquire_timeout
                    ),
                });
            }
            state = self
                .inner
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn wrap(&self, client: Client, generation: u64) -> Conn {
        Conn {
            client: Some(client),
            inner: Arc::clone(&self.inner),
            broken: false,
            generation,
        }
    }

    fn open(&self) -> Result<Client, Error> {
        let mut client = self
            .inner
            .config
            .connect(self.inner.tls.clone())
            .map_err(|e| self.error(&e))?;
        let timeout = self.inner.options.statement_timeout.as_millis();
        client
            .batch_execute(&format!("SET statement_timeout = {timeout}"))
            .map_err(|e| self.error(&e))?;
        Ok(client)
    }

    /// The client error as this crate's [`Error`], classified and without the password.
    pub fn error(&self, e: &postgres::Error) -> Error {
        let mut detail = error_text(e);
        if let Some(p) = &self.inner.password {
            detail = detail.replace(p.as_str(), "***");
        }
        let database = self.inner.database.clone();
        if e.as_db_error().is_none() && detail.contains("TLS") {
            if detail.contains("does not support TLS") {
                return Error::Failed {
                    database,
                    detail: format!(
                        "{detail}: the URL asks for TLS (sslmode={}) and the server does not \
                         offer it; turn ssl on in the server, or change sslmode",
                        self.inner.tls_mode
                    ),
                };
            }
            if detail.contains("certificate") {
                return Error::Failed {
                    database,
                    detail: format!(
                        "{detail}: the server's certificate was not accepted \
                         (sslmode={}); give the authority that signed it with \
                         sslrootcert=PATH in the URL, or connect by the name the certificate \
                         is issued for",
                        self.inner.tls_mode
                    ),
                };
            }
        }
        let code = e.code().map(postgres::error::SqlState::code);
        let unavailable = (code.is_none() && e.as_db_error().is_none())
            || code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P"));
        if unavailable {
            // The other idle connections most likely broke too (the server went away).
            let stale: Vec<_> = {
                let mut state = lock(&self.inner.state);
                state.generation += 1;
                let broken = std::mem::take(&mut state.idle);
                state.open -= broken.len();
                broken
            };
            drop(stale);
        }
        match code {
            None if e.as_db_error().is_none() => Error::Unavailable { database, detail },
            Some(c)
                if c.starts_with("08")
                    || c.starts_with("57P")
                    || c == "53300"
                    || c == "53100"
                    || c == "53200" =>
            {
                Error::Unavailable { database, detail }
            }
            Some("40001" | "40P01" | "55P03" | "57014") => Error::Busy { database, detail },
            _ => Error::Failed { database, detail },
        }
    }

    /// Applies the `migrations` of `component` not yet applied, under the migration lock, and
    /// returns the schema version now in the database. Refuses ([`Error::NewerSchema`]) a
    /// database whose version is newer than the last migration.
    pub fn migrate(&self, component: &str, migrations: &[Migration]) -> Result<i32, Error> {
        let known = migrations.last().map_or(0, |m| m.version);
        let mut conn = self.get()?;
        let e = |err: postgres::Error| self.error(&err);
        conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .map_err(e)?;
        let result = (|| {
            conn.batch_execute(
                "CREATE TABLE IF NOT EXISTS liveramp_schema (
                     component text PRIMARY KEY,
                     version integer NOT NULL
                 )",
            )
            .map_err(e)?;
            let stored = version_of(&mut conn, component).map_err(e)?.unwrap_or(0);
            if stored > known {
                return Err(self.newer(component, stored, known));
            }
            let mut found = stored;
            for m in migrations.iter().filter(|m| m.version > stored) {
                let mut tx = conn.transaction().map_err(e)?;
                tx.batch_execute(m.sql).map_err(e)?;
                tx.execute(
                    "INSERT INTO liveramp_schema (component, version) VALUES ($1, $2)
                     ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    &[&component, &m.version],
                )
                .map_err(e)?;
                tx.commit().map_err(e)?;
                found = m.version;
            }
            Ok(found)
        })();
        if conn
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .is_err()
        {
            // The session's locks go with the session.
            conn.discard();
        }
        result
    }

    /// The schema version of `component` in the database (`None` before its first migration).
    pub fn schema_version(&self, component: &str) -> Result<Option<i32>, Error> {
        let mut conn = self.get()?;
        let exists: bool = conn
            .query_one("SELECT to_regclass('liveramp_schema') IS NOT NULL", &[])
            .map_err(|e| self.error(&e))?
            .get(0);
        if !exists {
            return Ok(None);
        }
        version_of(&mut conn, component).map_err(|e| self.error(&e))
    }

    /// The error for a schema newer than this program knows.
    pub fn newer(&self, component: &str, found: i32, supported: i32) -> Error {
        Error::NewerSchema {
            database: self.inner.database.clone(),
            component: component.to_owned(),
            found,
            supported,
        }
    }
}

fn version_of(conn: &mut Client, component: &str) -> Result<Option<i32>, postgres::Error> {
    Ok(conn
        .query_opt(
            "SELECT version FROM liveramp_schema WHERE component = $1",
            &[&component],
        )?
        .map(|r| r.get(0)))
}

/// The client's message with the server's detail, if any.
fn error_text(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        format!("{}: {} ({})", db.severity(), db.message(), db.code().code())
    } else {
        {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let more = s.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                source = s.source();
            }
            text
        }
    }
}

/// The password of a `postgres://user:password@host` URL, for scrubbing parse errors.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_owned())
}

/// A connection of a [`Pool`], given back when dropped (or closed, after [`Conn::discard`] or
/// when it broke).
pub struct Conn {
    client: Option<Client>,
    inner: Arc<Inner>,
    broken: bool,
    generation: u64,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("database", &self.inner.database)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Closes this connection instead of giving it back (e.g. its transaction could not be
    /// ended).
    pub fn discard(&mut self) {
        self.broken = true;
    }
}

impl Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present from construction until drop.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = lock(&self.inner.state);
        if self.broken || client.is_closed() || state.generation != self.generation {
            state.open -= 1;
            drop(state);
            drop(client);
        } else {
            state.idle.push((client, Instant::now()));
            drop(state);
        }
        self.inner.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:6543/audiences?sslmode=require"),
            "postgres://app@db.internal:6543/audiences"
        );
        assert_eq!(
            redact("postgresql://app@localhost/x"),
            "postgres://app@localhost:5432/x"
        );
        assert_eq!(
            redact("postgres://app:s3cret@db/x?sslmode=bogus"),
            "(a PostgreSQL URL that cannot be read; not shown)"
        );
    }

    #[test]
    fn a_bad_url_is_not_echoed() {
        let e = Pool::new(
            "postgres://app:s3cret@db/x?sslmode=bogus",
            PoolOptions::default(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(matches!(e, Error::Url { .. }));
        assert!(!e.is_transient());
    }
}
