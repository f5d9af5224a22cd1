//! A sender of Firehose messages with mParticle's behaviour: several senders at once, each
//! message posted until it is acknowledged (200), a 5xx answer or a broken connection retried
//! after a growing pause, a 4xx answer final. It is a real HTTP client (`ureq`), against the
//! real server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the senders saw.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Attempts that got no answer (refused or broken connections, timeouts).
    pub broken: u64,
    /// The lines (by index) acknowledged with 200.
    pub acked: BTreeSet<usize>,
    /// Lines refused with a 4xx: `(index, status, body)`.
    pub refused: Vec<(usize, u16, String)>,
}

/// Posts `lines` to `url` (read again before each attempt, so a test can move the server)
/// with `senders` threads until every line is acknowledged or refused, or `give_up` passed.
/// `api_key`, when given, goes in `Authorization: Bearer`.
pub fn post_all(
    url: &Mutex<String>,
    lines: &[String],
    senders: usize,
    api_key: Option<&str>,
    give_up: Duration,
) -> Sent {
    post_with(
        &|_, _| url.lock().unwrap().clone(),
        lines,
        senders,
        api_key,
        give_up,
    )
}

/// Like [`post_all`], to several endpoints (nodes behind a load balancer): each attempt of
/// each message goes to one of `urls` picked at random (a retry usually to another node).
pub fn post_all_spread(
    urls: &[String],
    lines: &[String],
    senders: usize,
    api_key: Option<&str>,
    give_up: Duration,
) -> Sent {
    let pick = |i: usize, attempt: usize| {
        // splitmix64 of (message, attempt): deterministic, well spread.
        let mut z = (i as u64) << 16 ^ attempt as u64;
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        urls[usize::try_from(z % urls.len() as u64).unwrap()].clone()
    };
    post_with(&pick, lines, senders, api_key, give_up)
}

fn post_with(
    pick: &(dyn Fn(usize, usize) -> String + Sync),
    lines: &[String],
    senders: usize,
    api_key: Option<&str>,
    give_up: Duration,
) -> Sent {
    let next = AtomicUsize::new(0);
    let sent = Mutex::new(Sent::default());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..senders.max(1) {
            scope.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .new_agent();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(line) = lines.get(i) else { break };
                    let mut pause = Duration::from_millis(20);
                    let mut attempt = 0;
                    while start.elapsed() < give_up {
                        let target = pick(i, attempt);
                        attempt += 1;
                        let mut request = agent
                            .post(&target)
                            .header("Content-Type", "application/json");
                        if let Some(key) = api_key {
                            request = request.header("Authorization", &format!("Bearer {key}"));
                        }
                        match request.send(line.as_bytes()) {
                            Ok(mut response) => {
                                let status = response.status().as_u16();
                                let mut seen = sent.lock().unwrap();
                                *seen.statuses.entry(status).or_default() += 1;
                                if status == 200 {
                                    seen.acked.insert(i);
                                    break;
                                }
                                if (400..500).contains(&status) {
                                    let body =
                                        response.body_mut().read_to_string().unwrap_or_default();
                                    seen.refused.push((i, status, body));
                                    break;
                                }
                            }
                            Err(_) => sent.lock().unwrap().broken += 1,
                        }
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_millis(500));
                    }
                }
            });
        }
    });
    sent.into_inner().unwrap()
}
