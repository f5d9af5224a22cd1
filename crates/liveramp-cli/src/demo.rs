//! `liveramp demo`: the real-time path end to end on this machine, with nothing installed: the
//! real Firehose endpoint on 127.0.0.1, the demo stream posted to it as mParticle would (several
//! senders at once, each message retried after a 5xx or a broken connection until it is
//! acknowledged), then tonight's delivery of every connected audience from the store.
//!
//! What is the demo and what production runs: the sender stands in for mParticle, and the
//! delivery runs at once instead of at midnight; `liveramp serve` is the same endpoint and the
//! same delivery, on the schedule.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use liveramp_connector::{Connector, DeliverOptions};
use liveramp_firehose_server as server;

use crate::{Failure, classify, load, print_report, print_warnings};

/// Senders posting at once, as mParticle's parallel senders do.
const SENDERS: usize = 4;
/// The demo stream's `apiKey` (`liveramp_test_support::stream`'s default, not a secret).
const DEMO_API_KEY: &str = "demo-api-key-not-secret";

/// What the senders saw.
#[derive(Default)]
struct Sent {
    statuses: BTreeMap<u16, u64>,
    broken: u64,
}

/// Posts every line until it is acknowledged (200), retrying 5xx answers and broken
/// connections with a growing pause; a 4xx answer is final (mParticle does not retry those).
fn post_all(url: &str, lines: &[String]) -> Result<Sent, String> {
    let next = AtomicUsize::new(0);
    let sent = Mutex::new(Sent::default());
    let refused = Mutex::new(None::<String>);
    std::thread::scope(|scope| {
        for _ in 0..SENDERS {
            scope.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .new_agent();
                while let Some(line) = lines.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let mut pause = Duration::from_millis(50);
                    for _ in 0..10 {
                        let answer = agent
                            .post(url)
                            .header("Content-Type", "application/json")
                            .send(line.as_bytes());
                        let mut sent = sent
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        match answer {
                            Ok(mut response) => {
                                let status = response.status().as_u16();
                                *sent.statuses.entry(status).or_default() += 1;
                                if status == 200 {
                                    break;
                                }
                                if (400..500).contains(&status) {
                                    let body =
                                        response.body_mut().read_to_string().unwrap_or_default();
                                    *refused
                                        .lock()
                                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                                        Some(format!("the endpoint answered {status}: {body}"));
                                    return;
                                }
                            }
                            Err(_) => sent.broken += 1,
                        }
                        drop(sent);
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                }
            });
        }
    });
    if let Some(why) = refused.into_inner().unwrap_or(None) {
        return Err(why);
    }
    Ok(sent.into_inner().unwrap_or_default())
}

/// `liveramp demo [--config FILE] [--stream FILE]`.
pub(crate) fn run(config_path: &Path, stream_path: &Path) -> Result<u8, Failure> {
    let config = load(config_path)?;
    if config.store.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} has no [store]: the demo keeps the stream in it",
            config_path.display()
        )));
    }
    let text = std::fs::read_to_string(stream_path)
        .with_context(|| format!("cannot read the demo stream {}", stream_path.display()))
        .map_err(Failure::usage)?;
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let run_date = config.schedule.schedule.run_date(Utc::now());
    let connector = Connector::new(config).map_err(classify)?;
    print_warnings(connector.warnings());
    let Some(store) = connector.store().cloned() else {
        return Err(Failure::usage(anyhow::anyhow!("the store is not open")));
    };

    // 1. The endpoint mParticle posts to, on a free port of this machine.
    let mut settings = server::ServerConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .with_api_key(DEMO_API_KEY);
    env!("CARGO_PKG_VERSION").clone_into(&mut settings.registration_version);
    let handle = server::start(&settings, store).map_err(Failure::delivery)?;
    let url = format!("http://{}/firehose", handle.local_addr());

    // 2. The stream, as mParticle sends it.
    let started = Instant::now();
    let sent = post_all(&url, &lines).map_err(|e| Failure::delivery(anyhow::anyhow!(e)))?;
    let seconds = started.elapsed().as_secs_f64();
    handle.shutdown().map_err(Failure::delivery)?;
    let answers: Vec<String> = sent
        .statuses
        .iter()
        .map(|(status, n)| format!("{n} answered {status}"))
        .collect();
    out!(
        "demo: posted {} Firehose messages from {} to {url} with {SENDERS} senders in {seconds:.2} s \
         ({}{}); each 200 came only once the change was durable in the store",
        lines.len(),
        stream_path.display(),
        answers.join(", "),
        if sent.broken > 0 {
            format!(", {} broken connections retried", sent.broken)
        } else {
            String::new()
        }
    );

    // 3. Tonight's files, from a snapshot of the store.
    let audiences = connector.audiences().map_err(classify)?;
    let mut failed = false;
    for audience in &audiences {
        match connector.deliver_audience(audience, run_date, &DeliverOptions::new(), &mut |_| {}) {
            Ok(report) => {
                print_report(&report);
                failed |= !report.succeeded();
            }
            Err(e) => {
                eprintln!("error: audience {}: {e}", audience.id);
                failed = true;
            }
        }
    }
    out!(
        "demo: that was the demo's sender and an immediate delivery; in production mParticle posts \
         to `liveramp serve --config FILE`, which delivers every connected audience at 00:00 {}",
        connector.config().schedule.schedule.timezone
    );
    Ok(u8::from(failed))
}
