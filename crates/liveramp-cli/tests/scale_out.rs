//! Several `liveramp serve` nodes on one PostgreSQL database (`[store] url_env`), as real
//! processes against a throw-away cluster: a stream posted to both at random ends as the
//! reference model says; at the night each file is delivered exactly once (the ledger and the
//! destination folder agree); the database restarted mid-ingest loses nothing acknowledged;
//! a node `kill -9`ed mid-delivery leaves the night to the other; a node paused past its lease
//! mid-upload writes nothing more once it runs again; TLS to the database where the URL asks;
//! `liveramp check` names the database and its schema version, never the password.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use std::sync::Mutex;
use std::time::Duration;

use liveramp_test_support::config::TestConfig;
use liveramp_test_support::files::wait_until;
use liveramp_test_support::net::free_port;
use liveramp_test_support::postgres::{PASSWORD, PgCluster};
use liveramp_test_support::process::signal;
use liveramp_test_support::sender::{post_all, post_all_spread};
use liveramp_test_support::serve::{self, KEY, Serve, files_in, quiet_time};
use liveramp_test_support::store_model::Model;
use liveramp_test_support::stream::{StreamOptions, stream};
use liveramp_test_support::{liveramp, text};

const URL_ENV: &str = "LIVERAMP_DATABASE_URL";

/// A `liveramp serve` node on the database at `db_url` (test-support's process fixture).
fn start(config: &Path, port: u16, db_url: &str) -> Serve {
    let mut command = liveramp!();
    command
        .args(["serve", "--config"])
        .arg(config)
        .env(URL_ENV, db_url);
    Serve::start(command, port)
}

/// A node's configuration in `dir`: the store and ledger in PostgreSQL, files into the shared
/// folder `out`, the night at `time` UTC.
fn config(dir: &Path, out: &Path, port: u16, time: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    TestConfig::directory(out.to_str().unwrap())
        .no_audiences()
        .hash(true)
        .section(&format!(
            "[store]\nurl_env = \"{URL_ENV}\"\npool_size = 4\nstatement_timeout = \"20s\"\nlease = 3"
        ))
        .section(&format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{}\"",
            free_port()
        ))
        .section(&format!(
            "[schedule]\ntime = \"{time}\"\ntimezone = \"UTC\"\nretry_delay_minutes = 1"
        ))
        .write(dir)
}

fn assert_store_is(config: &Path, db_url: &str, model: &Model) {
    let with_database = || {
        let mut command = liveramp!();
        command.env(URL_ENV, db_url);
        command
    };
    serve::assert_members_are(with_database, config, model);
}

#[test]
fn two_serve_nodes_on_one_database_behave_as_one_connector() {
    let pg = PgCluster::start();
    let db = pg.create_db("connector");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(25);
    let time = at.format("%H:%M:%S").to_string();
    let (pa, pb) = (free_port(), free_port());
    let ca = config(&dir.path().join("a"), &out, pa, &time);
    let cb = config(&dir.path().join("b"), &out, pb, &time);
    let a = start(&ca, pa, &db);
    let b = start(&cb, pb, &db);
    let s = stream(&StreamOptions {
        members: 600,
        api_key: KEY.to_owned(),
        start_ms: connected_minutes_ago(),
        ..StreamOptions::default()
    });
    let sent = post_all_spread(
        &[a.url(), b.url()],
        &s.lines,
        4,
        None,
        Duration::from_secs(60),
    );
    assert_eq!(sent.acked.len(), s.lines.len(), "{:?}", sent.statuses);
    assert!(sent.refused.is_empty());
    let model = Model::replay(&s.messages);
    assert_store_is(&ca, &db, &model);

    let today = at.date_naive();
    let expected: BTreeSet<String> = ["30001", "30002"]
        .iter()
        .flat_map(|a| {
            ["D", "PII"]
                .iter()
                .map(move |t| format!("3242_{a}-{t}_{today}.csv"))
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
            expected.is_subset(&files_in(&out))
        }),
        "{:?}\n--- a:\n{}\n--- b:\n{}",
        files_in(&out),
        a.stderr(),
        b.stderr()
    );
    // Both nodes have looked at the night by now; nothing more may come.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        files_in(&out),
        expected,
        "exactly these files, no temporary ones"
    );
    // The shared ledger: one attempt and one delivery per file, by one of the nodes.
    let events = pg.psql(
        "connector",
        "SELECT audience || '/' || data_type || ' ' || event FROM ledger_entries ORDER BY 1",
    );
    assert_eq!(
        events,
        "30001/device delivered\n30001/device started\n30001/pii delivered\n30001/pii started\n\
         30002/device delivered\n30002/device started\n30002/pii delivered\n30002/pii started"
    );
    let names = pg.psql(
        "connector",
        "SELECT f->>'name' FROM ledger_entries, json_array_elements(line::json->'files') AS f \
         WHERE event = 'delivered' ORDER BY 1",
    );
    assert_eq!(
        names.lines().map(str::to_owned).collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(names.lines().count(), expected.len());
}

#[test]
fn the_database_restarted_mid_ingest_loses_nothing_acknowledged() {
    let mut pg = PgCluster::start();
    let db = pg.create_db("connector");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config(dir.path(), &dir.path().join("out"), port, &quiet_time());
    let serve = start(&config, port, &db);
    let s = stream(&StreamOptions {
        members: 4_000,
        profiles_per_message: 5,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let url = Mutex::new(serve.url());
    let sent = std::thread::scope(|scope| {
        let posting = scope.spawn(|| post_all(&url, &s.lines, 4, None, Duration::from_secs(120)));
        // Stop the database once some changes are in, with most still to come.
        assert!(
            wait_until(Duration::from_secs(60), Duration::from_millis(5), || {
                serve::acknowledged_changes(port) >= 40
            }),
            "{}",
            serve.stderr()
        );
        pg.stop();
        std::thread::sleep(Duration::from_secs(2));
        pg.start_again();
        posting.join().unwrap()
    });
    assert_eq!(sent.acked.len(), s.lines.len(), "{:?}", sent.statuses);
    assert!(
        sent.statuses.get(&503).copied().unwrap_or(0) > 0,
        "the restart was seen as 503s: {:?}\n{}",
        sent.statuses,
        serve.stderr()
    );
    assert!(!serve.stderr().contains(PASSWORD));
    assert_store_is(&config, &db, &Model::replay(&s.messages));
}

#[test]
fn check_names_the_database_and_its_schema_version_never_the_password() {
    let pg = PgCluster::start();
    let db = pg.create_db("connector");
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &dir.path().join("out"),
        free_port(),
        &quiet_time(),
    );
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .env(URL_ENV, &db)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let port = pg.port();
    assert!(
        stdout.contains(&format!(
            "the membership store postgres://postgres@127.0.0.1:{port}/connector (PostgreSQL, \
             schema version 2): 0 audience(s), 0 connected"
        )),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(!stdout.contains(PASSWORD) && !text(&out.stderr).contains(PASSWORD));

    // A wrong password: refused, and neither password printed.
    let wrong = db.replace(PASSWORD, "Wrong-Pass-77");
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .env(URL_ENV, &wrong)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(
        !all.contains("Wrong-Pass-77") && !all.contains(PASSWORD),
        "{all}"
    );

    // The variable unset: says which one.
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .env_remove(URL_ENV)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("store.url_env: the environment variable LIVERAMP_DATABASE_URL is not set"),
        "{all}"
    );
}

#[test]
fn a_night_with_the_database_away_is_caught_up_when_it_returns() {
    let mut pg = PgCluster::start();
    let db = pg.create_db("connector");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(20);
    let (pa, pb) = (free_port(), free_port());
    let time = at.format("%H:%M:%S").to_string();
    let ca = config(&dir.path().join("a"), &out, pa, &time);
    let cb = config(&dir.path().join("b"), &out, pb, &time);
    let a = start(&ca, pa, &db);
    let b = start(&cb, pb, &db);
    let s = stream(&StreamOptions {
        members: 300,
        api_key: KEY.to_owned(),
        start_ms: connected_minutes_ago(),
        ..StreamOptions::default()
    });
    let sent = post_all_spread(
        &[a.url(), b.url()],
        &s.lines,
        4,
        None,
        Duration::from_secs(60),
    );
    assert_eq!(sent.acked.len(), s.lines.len());
    // The database goes away before the night and comes back some seconds after it.
    let wait = at - chrono::Utc::now() - chrono::TimeDelta::seconds(3);
    std::thread::sleep(wait.to_std().unwrap_or_default());
    pg.stop();
    std::thread::sleep(Duration::from_secs(10));
    assert!(
        files_in(&out).is_empty(),
        "nothing delivered without the database"
    );
    pg.start_again();
    let today = at.date_naive();
    let expected: BTreeSet<String> = ["30001", "30002"]
        .iter()
        .flat_map(|a| {
            ["D", "PII"]
                .iter()
                .map(move |t| format!("3242_{a}-{t}_{today}.csv"))
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(150), Duration::from_millis(200), || {
            expected.is_subset(&files_in(&out))
        }),
        "{:?}\n--- a:\n{}\n--- b:\n{}",
        files_in(&out),
        a.stderr(),
        b.stderr()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(files_in(&out), expected);
    let delivered = pg.psql(
        "connector",
        "SELECT count(*) FROM ledger_entries WHERE event = 'delivered'",
    );
    assert_eq!(delivered, "4");
    assert!(!a.stderr().contains(PASSWORD) && !b.stderr().contains(PASSWORD));
}

#[test]
fn serve_and_check_reach_a_database_that_demands_tls() {
    let pg = PgCluster::start_tls();
    let db = format!("{}?sslmode=require", pg.create_db("connector"));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config(dir.path(), &dir.path().join("out"), port, &quiet_time());
    let out = liveramp!()
        .args(["check", "--config"])
        .arg(&config)
        .env(URL_ENV, &db)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "the membership store postgres://postgres@127.0.0.1:{}/connector (PostgreSQL, \
             schema version 2)",
            pg.port()
        )),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // Changes posted to `serve` are stored over the encrypted connections.
    let serve = start(&config, port, &db);
    let s = stream(&StreamOptions {
        members: 50,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    });
    let url = Mutex::new(serve.url());
    let sent = post_all(&url, &s.lines, 2, None, Duration::from_secs(60));
    assert_eq!(sent.acked.len(), s.lines.len(), "{:?}", sent.statuses);
    assert_store_is(&config, &db, &Model::replay(&s.messages));
    // The node's connections, as the server sees them: all encrypted.
    let connections = pg.psql(
        "postgres",
        "SELECT DISTINCT ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE datname = 'connector'",
    );
    assert_eq!(connections, "t", "only encrypted connections to the store");
}

/// A stream start ten minutes ago: the audiences were connected today, so tonight is their
/// first night (connected days ago, yesterday's night would be caught up as well).
fn connected_minutes_ago() -> i64 {
    (chrono::Utc::now() - chrono::TimeDelta::minutes(10)).timestamp_millis()
}

/// Fills the shared store with a large audience (so that a delivery lasts long enough to be
/// interrupted) with `liveramp ingest`, and returns the two nodes' configurations for a night
/// a few seconds from now, with the time of that night.
fn large_audience_and_a_night_soon(
    dir: &Path,
    out: &Path,
    db: &str,
    ports: (u16, u16),
) -> (PathBuf, PathBuf, chrono::DateTime<chrono::Utc>) {
    let s = stream(&StreamOptions {
        members: 150_000,
        profiles_per_message: 100,
        api_key: KEY.to_owned(),
        start_ms: connected_minutes_ago(),
        ..StreamOptions::default()
    });
    let input = dir.join("stream.ndjson");
    fs::write(&input, s.lines.join("\n") + "\n").unwrap();
    let ingest_config = config(&dir.join("ingest"), out, free_port(), &quiet_time());
    let done = liveramp!()
        .args(["ingest", "--config"])
        .arg(&ingest_config)
        .arg(&input)
        .env(URL_ENV, db)
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(6);
    let time = at.format("%H:%M:%S").to_string();
    let ca = config(&dir.join("a"), out, ports.0, &time);
    let cb = config(&dir.join("b"), out, ports.1, &time);
    (ca, cb, at)
}

/// Two nodes on one database with a large audience, caught in the middle of the night's
/// delivery: `holder` is the pid of the node delivering.
struct Night {
    pg: PgCluster,
    out: PathBuf,
    at: chrono::DateTime<chrono::Utc>,
    nodes: [Serve; 2],
    holder: u32,
    _dir: tempfile::TempDir,
}

impl Night {
    fn in_the_middle_of_a_delivery() -> Night {
        let pg = PgCluster::start();
        let db = pg.create_db("connector");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let (pa, pb) = (free_port(), free_port());
        let (ca, cb, at) = large_audience_and_a_night_soon(dir.path(), &out, &db, (pa, pb));
        let nodes = [start(&ca, pa, &db), start(&cb, pb, &db)];
        let holder = holder_of_a_live_lease(&pg);
        assert!(nodes.iter().any(|n| n.child.id() == holder), "{holder}");
        Night {
            pg,
            out,
            at,
            nodes,
            holder,
            _dir: dir,
        }
    }

    /// The node delivering when caught.
    fn holding(&self) -> &Serve {
        self.nodes
            .iter()
            .find(|n| n.child.id() == self.holder)
            .unwrap()
    }

    /// The other node.
    fn other(&self) -> &Serve {
        self.nodes
            .iter()
            .find(|n| n.child.id() != self.holder)
            .unwrap()
    }
}

/// The node holding a live lease (a delivery in progress), once one does: its pid.
fn holder_of_a_live_lease(pg: &PgCluster) -> u32 {
    let mut holder = String::new();
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(2), || {
            holder = pg.psql(
                "connector",
                "SELECT holder FROM ledger_leases WHERE expires_at > clock_timestamp() LIMIT 1",
            );
            !holder.is_empty()
        }),
        "no delivery started"
    );
    holder.rsplit(':').next().unwrap().parse().unwrap()
}

/// Each file's name, size and SHA-256 in `dir`.
fn digests(dir: &Path) -> BTreeSet<(String, u64, String)> {
    files_in(dir)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).unwrap();
            let sha = liveramp_test_support::files::sha256(&bytes);
            (name, bytes.len() as u64, sha)
        })
        .collect()
}

/// Each file's name and inode in `dir`: a file published again (renamed over) gets another.
fn inodes(dir: &Path) -> BTreeSet<(String, u64)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let inode = std::os::unix::fs::MetadataExt::ino(&e.metadata().unwrap());
            (e.file_name().into_string().unwrap(), inode)
        })
        .collect()
}

/// What the ledger says was delivered: each file's name, size and SHA-256.
fn delivered_in_ledger(pg: &PgCluster) -> BTreeSet<(String, u64, String)> {
    pg.psql(
        "connector",
        "SELECT f->>'name' || '|' || (f->>'bytes') || '|' || (f->>'sha256') \
         FROM ledger_entries, json_array_elements(line::json->'files') AS f \
         WHERE event = 'delivered'",
    )
    .lines()
    .map(|l| {
        let mut p = l.split('|');
        (
            p.next().unwrap().to_owned(),
            p.next().unwrap().parse().unwrap(),
            p.next().unwrap().to_owned(),
        )
    })
    .collect()
}

fn expected_files(at: chrono::DateTime<chrono::Utc>) -> BTreeSet<String> {
    let today = at.date_naive();
    ["30001", "30002"]
        .iter()
        .flat_map(|a| {
            ["D", "PII"]
                .iter()
                .map(move |t| format!("3242_{a}-{t}_{today}.csv"))
        })
        .collect()
}

#[test]
fn a_node_killed_mid_delivery_leaves_the_night_to_the_other() {
    let night = Night::in_the_middle_of_a_delivery();
    let (pg, out, at) = (&night.pg, &night.out, night.at);
    signal(night.holder, "KILL");
    let survivor = night.other();
    // Killed in the middle: the run it held has started and has no outcome.
    let open = pg.psql(
        "connector",
        "SELECT count(*) FROM ledger_leases l WHERE expires_at > clock_timestamp() AND NOT \
         EXISTS (SELECT 1 FROM ledger_entries e WHERE e.audience = l.audience AND \
         e.data_type = l.data_type AND e.event <> 'started')",
    );
    assert_ne!(open, "0", "the node was killed while delivering");

    let expected = expected_files(at);
    assert!(
        wait_until(Duration::from_secs(90), Duration::from_millis(100), || {
            expected.is_subset(&files_in(out))
        }),
        "{:?}\n--- survivor:\n{}",
        files_in(out),
        survivor.stderr()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        files_in(out),
        expected,
        "exactly these files, no temporary ones"
    );
    // The ledger and the destination agree, one delivery per file; the killed attempt is
    // recorded as interrupted by the node that took over.
    assert_eq!(delivered_in_ledger(pg), digests(out));
    assert_eq!(
        pg.psql(
            "connector",
            "SELECT count(*) FROM ledger_entries WHERE event = 'delivered'"
        ),
        "4"
    );
    let interrupted = pg.psql(
        "connector",
        "SELECT count(*) FROM ledger_entries WHERE event = 'failed' AND \
         line::json->>'error' LIKE 'interrupted: attempt 1%'",
    );
    assert_ne!(interrupted, "0", "{}", survivor.stderr());
}

/// A node paused in the middle of an upload for longer than its lease (a frozen VM, a long
/// stall) loses the delivery to the other node, and once it runs again it writes nothing more
/// to the destination and publishes nothing: the other node's files stay as they were.
#[test]
fn a_node_that_lost_its_lease_mid_upload_writes_nothing_more() {
    let night = Night::in_the_middle_of_a_delivery();
    let (pg, out, at, pid) = (&night.pg, &night.out, night.at, night.holder);
    signal(pid, "STOP");
    let (paused, other) = (night.holding(), night.other());
    let expected = expected_files(at);
    let delivered = wait_until(Duration::from_secs(90), Duration::from_millis(100), || {
        expected.is_subset(&files_in(out))
    });
    if !delivered {
        signal(pid, "CONT");
    }
    assert!(
        delivered,
        "{:?}\n--- other:\n{}",
        files_in(out),
        other.stderr()
    );
    // The other node is done; let it settle, then wake the paused one.
    std::thread::sleep(Duration::from_secs(2));
    let before = digests(out);
    let listing = inodes(out);
    signal(pid, "CONT");
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            paused.stderr().contains("was lost")
        }),
        "the woken node noticed: {}",
        paused.stderr()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(digests(out), before, "nothing rewritten");
    let after = inodes(out);
    assert_eq!(after, listing, "nothing published again or created");
    assert_eq!(files_in(out), expected);
    assert_eq!(delivered_in_ledger(pg), before);
    assert_eq!(
        pg.psql(
            "connector",
            "SELECT count(*) FROM ledger_entries WHERE event = 'delivered'"
        ),
        "4",
        "{}",
        paused.stderr()
    );
}
