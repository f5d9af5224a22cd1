//! Whole Firehose streams through the server: concurrent clients that retry like mParticle,
//! the store's state against the reference model, the metrics, and a shutdown with requests
//! in flight followed by a restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::float_cmp
)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use liveramp_audience_store::{
    ApplySummary, AudienceInfo, AudienceStore, Error as StoreError, Message, PurgeSummary,
    Snapshot, SqliteStore, StoreOptions, StoreStats, SubjectOutcome, SubjectRecord, SubjectRequest,
};
use liveramp_firehose_server::{ServerConfig, start};
use liveramp_test_support::store_model::Model;
use liveramp_test_support::stream::{Stream, StreamOptions, stream};

fn test_stream() -> Stream {
    stream(&StreamOptions {
        members: 2_000,
        profiles_per_message: 5,
        api_key: KEY.to_owned(),
        ..StreamOptions::default()
    })
}

/// The store message of each line (what the model replays), by line.
fn converted(stream: &Stream) -> Vec<Message> {
    stream
        .lines
        .iter()
        .map(|line| {
            let message = liveramp_firehose::Message::from_json(line.as_bytes()).unwrap();
            liveramp_connector::ingest::store_message(&message)
                .unwrap()
                .unwrap()
        })
        .collect()
}

/// Checks that the store holds exactly what the model makes of `messages`.
fn assert_store_is(store: &dyn AudienceStore, messages: &[Message]) {
    let model = Model::replay(messages);
    let expected = model.audiences();
    let actual = store.audiences().unwrap();
    assert_eq!(
        actual
            .iter()
            .map(|a| (a.id, a.connected, a.members))
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|a| (a.id, a.connected, a.members))
            .collect::<Vec<_>>()
    );
    for audience in &expected {
        assert_eq!(
            snapshot(store, audience.id),
            model.lines(audience.id),
            "audience {}",
            audience.id
        );
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    /// Answers received, by status.
    statuses: std::collections::BTreeMap<u16, usize>,
    /// Requests that failed without an answer (connection refused, reset).
    failures: usize,
    /// Lines acknowledged with a 200.
    acked: BTreeSet<usize>,
    /// When the server was told to stop (set by the test).
    stop_at: Option<Instant>,
    /// Requests sent before `stop_at` and acknowledged after it: in flight during shutdown.
    finished_in_flight: usize,
}

/// `clients` threads post every line once, each retrying on 5xx and connection errors (after
/// a short pause, as mParticle does with back-off) until it gets a 200, reading the address
/// from `addr` at every try. Returns once every line is acknowledged or `give_up` passed.
fn post_all(
    lines: &[String],
    clients: usize,
    addr: &Mutex<SocketAddr>,
    seen: &Mutex<Seen>,
    give_up: Duration,
) {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let agent = agent();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(line) = lines.get(i) else { return };
                    loop {
                        assert!(start.elapsed() < give_up, "line {i} was never acknowledged");
                        let url = format!("http://{}/firehose", *addr.lock().unwrap());
                        let sent = Instant::now();
                        let result = agent
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .send(line.as_bytes());
                        match result {
                            Ok(mut response) => {
                                let answer = Answer::from(&mut response);
                                let mut seen = seen.lock().unwrap();
                                *seen.statuses.entry(answer.status).or_default() += 1;
                                match answer.status {
                                    200 => {
                                        seen.acked.insert(i);
                                        if seen.stop_at.is_some_and(|stop| sent < stop) {
                                            seen.finished_in_flight += 1;
                                        }
                                        break;
                                    }
                                    500..=599 => {}
                                    _ => panic!("line {i}: {answer:?}"),
                                }
                            }
                            Err(_) => seen.lock().unwrap().failures += 1,
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            });
        }
    });
}

#[test]
fn concurrent_clients_leave_the_store_as_the_model_says() {
    let stream = test_stream();
    let lines = &stream.lines;
    assert!(lines.len() > 300, "{}", lines.len());
    // Fewer request slots than clients: some requests are shed with 503 and retried.
    let f = Fixture::with(|mut c| {
        c.max_concurrent_requests = 4;
        c
    });
    let addr = Mutex::new(f.addr);
    let seen = Mutex::new(Seen::default());
    let start = Instant::now();
    post_all(lines, 8, &addr, &seen, Duration::from_secs(300));
    let took = start.elapsed();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.acked.len(), lines.len());
    assert_eq!(seen.failures, 0);
    assert_eq!(seen.statuses[&200], lines.len());
    println!(
        "{} requests (+{} shed with 503) from 8 clients in {took:?}: {:.0} requests/s",
        lines.len(),
        seen.statuses.get(&503).copied().unwrap_or(0),
        lines.len() as f64 / took.as_secs_f64()
    );

    assert_store_is(&*f.store, &stream.messages);

    // The metrics count exactly what the clients saw.
    let metrics = f.get("/metrics");
    assert_eq!(metrics.status, 200);
    let samples = parse_metrics(&metrics.body);
    let total = |status: &str| -> f64 {
        samples
            .iter()
            .filter(|(n, _)| {
                n.starts_with("liveramp_firehose_requests_total{")
                    && n.ends_with(&format!("status=\"{status}\"}}"))
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(total("200") as usize, lines.len());
    assert_eq!(
        total("503") as usize,
        seen.statuses.get(&503).copied().unwrap_or(0)
    );
    let all: f64 = samples
        .iter()
        .filter(|(n, _)| n.starts_with("liveramp_firehose_requests_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(all as usize, seen.statuses.values().sum::<usize>());
    let distinct = stream.messages.len();
    let get = |name: &str| metric(&samples, name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(
        get("liveramp_firehose_messages_applied_total") as usize,
        distinct
    );
    assert_eq!(
        get("liveramp_firehose_duplicate_messages_total") as usize,
        lines.len() - distinct
    );
    let add_entries: usize = stream
        .messages
        .iter()
        .map(|m| match &m.change {
            liveramp_audience_store::Change::Membership(profiles) => profiles
                .iter()
                .flat_map(|p| &p.audiences)
                .filter(|a| a.action == liveramp_audience_store::MembershipAction::Add)
                .count(),
            _ => 0,
        })
        .sum();
    assert_eq!(
        get(r#"liveramp_firehose_changes_applied_total{change="add"}"#) as usize,
        add_entries
    );
    for audience in f.store.audiences().unwrap() {
        let gauge = metric(
            &samples,
            &format!("liveramp_audience_members{{audience=\"{}\"}}", audience.id),
        );
        assert_eq!(gauge, audience.connected.then_some(audience.members as f64));
    }
    // Group commit: concurrent requests shared commits.
    let stats = f.store.stats().unwrap();
    println!("{} batches in {} commits", stats.batches, stats.commits);
}

/// The SQLite store, each apply made slower so that requests are in flight when the server
/// stops.
struct Slow(Arc<SqliteStore>);

impl AudienceStore for Slow {
    fn apply(&self, batch: &[Message]) -> Result<ApplySummary, StoreError> {
        std::thread::sleep(Duration::from_millis(30));
        self.0.apply(batch)
    }
    fn audiences(&self) -> Result<Vec<AudienceInfo>, StoreError> {
        self.0.audiences()
    }
    fn audience(&self, id: i64) -> Result<Option<AudienceInfo>, StoreError> {
        self.0.audience(id)
    }
    fn snapshot(&self, id: i64) -> Result<Box<dyn Snapshot + Send>, StoreError> {
        self.0.snapshot(id)
    }
    fn purge(&self, now_ms: i64) -> Result<PurgeSummary, StoreError> {
        self.0.purge(now_ms)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.0.stats()
    }
    fn record_subject_request(&self, r: &SubjectRequest) -> Result<SubjectOutcome, StoreError> {
        self.0.record_subject_request(r)
    }
    fn subject_requests(&self) -> Result<Vec<SubjectRecord>, StoreError> {
        self.0.subject_requests()
    }
    fn export_subject(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.0.export_subject(id)
    }
}

#[test]
fn shutdown_with_requests_in_flight_loses_nothing_acknowledged() {
    let stream = test_stream();
    let messages = converted(&stream);
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), StoreOptions::default()).unwrap());
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap()).with_api_key(KEY);
    let server = start(&config, Arc::new(Slow(Arc::clone(&store)))).unwrap();
    let addr = Mutex::new(server.local_addr());
    let seen = Mutex::new(Seen::default());

    std::thread::scope(|s| {
        s.spawn(|| post_all(&stream.lines, 8, &addr, &seen, Duration::from_secs(300)));
        let deadline = Instant::now() + Duration::from_secs(300);
        // Stop once about a third is acknowledged, with requests in flight.
        while seen.lock().unwrap().acked.len() < stream.lines.len() / 3 {
            assert!(Instant::now() < deadline, "the clients stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        let stop = Instant::now();
        seen.lock().unwrap().stop_at = Some(stop);
        server.shutdown().unwrap();
        println!("shutdown took {:?}", stop.elapsed());
        // Let the clients record the answers they got before the server went away.
        std::thread::sleep(Duration::from_millis(300));
        {
            let seen = seen.lock().unwrap();
            let acked: Vec<Message> = seen.acked.iter().map(|&i| messages[i].clone()).collect();
            // Everything acknowledged is in the store, and nothing else (nothing half-applied).
            assert_store_is(&*store, &acked);
            // Requests in flight when the stop began were finished and answered.
            assert!(seen.finished_in_flight > 0, "{seen:?}");
            println!(
                "at shutdown: {} lines acknowledged ({} of them in flight when the stop began), \
                 {} answers 5xx, {} connection errors",
                seen.acked.len(),
                seen.finished_in_flight,
                seen.statuses.range(500..).map(|(_, n)| n).sum::<usize>(),
                seen.failures
            );
        }
        // A new server on the same store: the clients' retries go there.
        let restarted = start(&config, Arc::new(Slow(Arc::clone(&store)))).unwrap();
        *addr.lock().unwrap() = restarted.local_addr();
        while seen.lock().unwrap().acked.len() < stream.lines.len() {
            assert!(Instant::now() < deadline, "the clients stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
        restarted.shutdown().unwrap();
    });
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.failures > 0 || seen.statuses.contains_key(&503),
        "{seen:?}"
    );
    assert_store_is(&*store, &stream.messages);
}
