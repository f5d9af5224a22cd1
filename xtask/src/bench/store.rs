//! The store and endpoint scenarios of `cargo xtask bench` (skipped with `--skip-store`):
//!
//! 5. `liveramp ingest` of a Firehose stream file made from the same members (one
//!    subscription, then every member's `add` in messages of 100 profiles): changes applied per
//!    second, and the store's bytes on disk per member afterwards;
//! 6. `liveramp members` of that audience: a snapshot, streamed, members per second;
//! 7. `liveramp run` from the store (snapshot -> files), local folder, encryption on: the same
//!    delivery as scenario 3 from the store instead of the NDJSON file;
//! 5-7 again with the store on PostgreSQL (a throw-away cluster started here, `fsync` on; the
//!    server's own CPU is not in the figures, which are the client's);
//! 8. `liveramp serve` under load: `CLIENTS` real HTTP clients (ureq) posting the same messages
//!    concurrently to the real endpoint, every 2xx durable; changes/s, p50/p99 request latency,
//!    the server's CPU and peak RSS (from `/proc`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{
    Measured, Result, Row, io_error, liveramp, measure, per_second, scenario_dir, thousands,
};

/// Concurrent clients of scenario 8 (the performance issue's load).
pub(super) const CLIENTS: usize = 8;
/// Profiles per message.
const PER_MESSAGE: usize = 100;
/// The audience of the stream.
const AUDIENCE: (i64, &str) = (40001, "Bench store audience");

/// What the store scenarios measured.
pub(super) struct StoreResults {
    pub(super) rows: Vec<Row>,
    ingest: Measured,
    snapshot: Measured,
    members: u64,
    messages: u64,
    stream_bytes: u64,
    store_bytes: u64,
    serve: Option<ServeResults>,
    /// Scenarios 5-7 on PostgreSQL, or why they were skipped.
    pg: std::result::Result<PgResults, String>,
}

/// Scenarios 5-7 on a PostgreSQL store (a throw-away cluster on this machine, fsync on).
struct PgResults {
    version: String,
    ingest: Measured,
    snapshot: Measured,
    delivery: Measured,
    delivered: u64,
    database_bytes: u64,
}

struct ServeResults {
    wall: f64,
    cpu: f64,
    peak_rss_kib: u64,
    latencies_ms: Vec<f64>,
    retried: u64,
}

/// The configuration of scenarios 5-8: a store, no `[[audiences]]` (the store's connected
/// audience is delivered), the same file settings as scenario 3; with `server`, a `[server]`.
fn store_config(dir: &Path, key: &Path, server: Option<(u16, u16)>) -> Result<PathBuf> {
    store_config_with(dir, key, server, "path = \"state/audiences.sqlite\"\n")
}

/// [`store_config`] with `store` as the `[store]` section's body.
fn store_config_with(
    dir: &Path,
    key: &Path,
    server: Option<(u16, u16)>,
    store: &str,
) -> Result<PathBuf> {
    let server = server.map_or_else(String::new, |(port, admin)| {
        format!("\n[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n")
    });
    let text = format!(
        "configuration_name = \"bench\"\n\
         org_id = \"3242\"\n\
         state_dir = \"state\"\n\
         \n\
         [store]\n\
         {store}\
         {server}\
         \n\
         [directory]\n\
         path = \"out\"\n\
         \n\
         [file]\n\
         encrypt = true\n\
         public_key_path = \"{}\"\n\
         compression = \"none\"\n\
         \n\
         [data]\n\
         send_device_ids = true\n\
         send_pii = true\n\
         \n\
         [pii]\n\
         hash_emails_and_phones = true\n\
         columns = [\"FIRSTNAME\", \"LASTNAME\", \"CITY\", \"STATE\", \"ZIP\", \"COUNTRY\", \"EMAIL\", \"PHONE\"]\n",
        key.display()
    );
    let path = dir.join("connector.toml");
    fs::write(&path, text).map_err(|e| io_error("write", &path, &e))?;
    Ok(path)
}

/// Writes the stream of `members` members (`seed`), timestamps from now: returns its lines.
fn write_stream(path: &Path, members: u64, seed: u64) -> Result<u64> {
    println!(
        "\n==> writing the Firehose stream of {} members",
        thousands(members)
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let file = fs::File::create(path).map_err(|e| io_error("create", path, &e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let lines = liveramp_test_support::stream::write_membership_stream(
        &mut out,
        members,
        seed,
        PER_MESSAGE,
        AUDIENCE,
        "bench-api-key",
        now_ms,
    )
    .and_then(|lines| out.flush().map(|()| lines))
    .map_err(|e| io_error("write", path, &e))?;
    Ok(lines)
}

fn dir_bytes(dir: &Path, prefix: &str) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

pub(super) fn run(
    exe: &Path,
    run_dir: &Path,
    members: u64,
    seed: u64,
    key: &Path,
    member_bytes: u64,
) -> Result<StoreResults> {
    let stream = run_dir.join("stream.ndjson");
    let messages = write_stream(&stream, members, seed)? - 1;
    let stream_bytes = fs::metadata(&stream).map_or(0, |m| m.len());
    let mut rows = Vec::new();

    // 5. ingest from the file.
    let s5 = scenario_dir(run_dir, "5-store")?;
    let config = store_config(&s5, key, None)?;
    let ingest = measure(
        "scenario 5: liveramp ingest of the stream file",
        &liveramp(
            exe,
            &[
                "ingest".into(),
                "--config".into(),
                config.clone().into(),
                stream.clone().into(),
            ],
        ),
        Some(&s5),
    )?;
    let store_bytes = dir_bytes(&s5.join("state"), "audiences.sqlite");

    // 6. a snapshot.
    let snapshot = measure(
        "scenario 6: liveramp members (a snapshot of the store audience)",
        &liveramp(exe, &members_args(&config)),
        None,
    )?;

    // 7. the delivery from the store.
    let (m7, r7) = deliver_store(exe, &config, &s5)?;
    rows.push(Row {
        name: "7. `liveramp run` from the SQLite store, local `[directory]`, encryption on"
            .to_owned(),
        members: Some(r7),
        input_bytes: member_bytes,
        output_bytes: None,
        measured: m7,
    });

    // 8. serve under load.
    let serve = serve_load(exe, run_dir, key, &stream)?;
    // 5-7 on PostgreSQL.
    let pg = postgres_scenarios(exe, run_dir, key, &stream);
    if let Err(why) = &pg {
        println!("\n==> scenarios 5-7 on PostgreSQL skipped: {why}");
    }
    let _ = fs::remove_file(&stream);
    Ok(StoreResults {
        rows,
        ingest,
        snapshot,
        members,
        messages,
        stream_bytes,
        store_bytes,
        serve: Some(serve),
        pg,
    })
}

/// Why PostgreSQL cannot be measured here, if it cannot.
fn postgres_missing() -> Option<String> {
    let initdb = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("bin/initdb").is_file());
    if !initdb {
        return Some("PostgreSQL is not installed (apt-get install postgresql)".to_owned());
    }
    if !super::is_root() {
        return Some(
            "the throw-away cluster runs as the postgres user, which needs root".to_owned(),
        );
    }
    None
}

/// `liveramp ARGS` with the database URL in its environment (through `env`, so that `measure`
/// times `liveramp` itself).
fn liveramp_on(exe: &Path, url: &str, args: &[OsString]) -> (OsString, Vec<OsString>) {
    let mut all: Vec<OsString> = vec![format!("LIVERAMP_DATABASE_URL={url}").into(), exe.into()];
    all.extend(args.iter().cloned());
    ("/usr/bin/env".into(), all)
}

/// Scenarios 5-7 with the store on PostgreSQL 15 (a cluster started here, `fsync` on).
fn postgres_scenarios(
    exe: &Path,
    run_dir: &Path,
    key: &Path,
    stream: &Path,
) -> std::result::Result<PgResults, String> {
    if let Some(why) = postgres_missing() {
        return Err(why);
    }
    let cluster = liveramp_test_support::postgres::PgCluster::start_durable();
    let url = cluster.create_db("bench");
    let version = cluster.psql("bench", "SHOW server_version");
    let dir = scenario_dir(run_dir, "5-7-postgres")?;
    let config = store_config_with(
        &dir,
        key,
        None,
        "url_env = \"LIVERAMP_DATABASE_URL\"\npool_size = 4\nstatement_timeout = \"600s\"\n",
    )?;
    let ingest = measure(
        "scenario 5 on PostgreSQL: liveramp ingest of the stream file",
        &liveramp_on(
            exe,
            &url,
            &[
                "ingest".into(),
                "--config".into(),
                config.clone().into(),
                stream.into(),
            ],
        ),
        Some(&dir),
    )?;
    let database_bytes = cluster
        .psql("bench", "SELECT pg_database_size('bench')")
        .parse()
        .unwrap_or(0);
    let snapshot = measure(
        "scenario 6 on PostgreSQL: liveramp members (a snapshot)",
        &liveramp_on(exe, &url, &members_args(&config)),
        None,
    )?;
    let report_path = dir.join("report.json");
    let _ = fs::remove_dir_all(dir.join("out"));
    let delivery = measure(
        "scenario 7 on PostgreSQL: liveramp run from the store, encrypted",
        &liveramp_on(exe, &url, &run_args(&config, &report_path)),
        Some(&dir),
    )?;
    let delivered = delivered_members(&report_path, "scenario 7 on PostgreSQL")?;
    let _ = fs::remove_dir_all(dir.join("out"));
    Ok(PgResults {
        version,
        ingest,
        snapshot,
        delivery,
        delivered,
        database_bytes,
    })
}

/// The members of a delivery's report, once every file of it was delivered.
fn delivered_members(report_path: &Path, what: &str) -> Result<u64> {
    let text = fs::read_to_string(report_path).map_err(|e| io_error("read", report_path, &e))?;
    let report: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a report: {e}", report_path.display()))?;
    let audience = &report[0];
    for file in audience["files"].as_array().into_iter().flatten() {
        if file["status"] != "delivered" {
            return Err(format!(
                "{what}: {} was not delivered ({}): {}",
                file["name"], file["status"], file["error"]
            ));
        }
    }
    Ok(audience["members"].as_u64().unwrap_or(0))
}

/// `liveramp members --config CONFIG --audience ID` of the bench's audience.
fn members_args(config: &Path) -> Vec<OsString> {
    vec![
        "members".into(),
        "--config".into(),
        config.into(),
        "--audience".into(),
        AUDIENCE.0.to_string().into(),
    ]
}

/// `liveramp run --config CONFIG --date RUN_DATE --force --report REPORT`.
fn run_args(config: &Path, report: &Path) -> Vec<OsString> {
    vec![
        "run".into(),
        "--config".into(),
        config.into(),
        "--date".into(),
        super::RUN_DATE.into(),
        "--force".into(),
        "--report".into(),
        report.into(),
    ]
}

/// `liveramp run` of the store audience (its state folder kept: the store is in it).
fn deliver_store(exe: &Path, config: &Path, dir: &Path) -> Result<(Measured, u64)> {
    let _ = fs::remove_dir_all(dir.join("out"));
    let report_path = dir.join("report.json");
    let args = run_args(config, &report_path);
    let measured = measure(
        "scenario 7: liveramp run from the store, encrypted",
        &liveramp(exe, &args),
        Some(dir),
    )?;
    let members = delivered_members(&report_path, "scenario 7")?;
    let _ = fs::remove_dir_all(dir.join("out"));
    Ok((measured, members))
}

/// `(utime + stime) seconds, VmHWM KiB` of a running process.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    (ticks / 100.0, hwm)
}

fn serve_load(exe: &Path, run_dir: &Path, key: &Path, stream: &Path) -> Result<ServeResults> {
    let s8 = scenario_dir(run_dir, "8-serve")?;
    let port = liveramp_test_support::net::free_port();
    let admin = liveramp_test_support::net::free_port();
    let config = store_config(&s8, key, Some((port, admin)))?;
    let file = fs::File::open(stream).map_err(|e| io_error("read", stream, &e))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .map_err(|e| io_error("read", stream, &e))?;
    println!(
        "\n==> scenario 8: liveramp serve, {CLIENTS} clients posting {} messages",
        thousands(lines.len() as u64)
    );
    let mut child = Command::new(exe)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(&s8)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start liveramp serve: {e}"))?;
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while ureq::get(&format!("{base}/healthz")).call().is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err("liveramp serve did not answer /healthz within 30 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("{base}/firehose");
    // The subscription first, alone: the memberships need no order, but a connected audience.
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(lines.len()));
    let retried = AtomicUsize::new(0);
    let failure = Mutex::new(None::<String>);
    let send = |agent: &ureq::Agent, line: &str| -> std::result::Result<f64, String> {
        for _ in 0..100 {
            let t = Instant::now();
            match agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(line.as_bytes())
            {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let _ = response.body_mut().read_to_vec();
                    if status == 200 {
                        return Ok(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    if status < 500 {
                        return Err(format!("the server answered {status}"));
                    }
                }
                Err(e) => {
                    if t.elapsed() > Duration::from_secs(30) {
                        return Err(format!("no answer: {e}"));
                    }
                }
            }
            retried.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("still refused after 100 attempts".to_owned())
    };
    let agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent()
    };
    if let Some(first) = lines.first() {
        send(&agent(), first)?;
    }
    let (cpu_before, _) = proc_usage(pid);
    let load_started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                let agent = agent();
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) + 1;
                    let Some(line) = lines.get(i) else { break };
                    match send(&agent, line) {
                        Ok(ms) => mine.push(ms),
                        Err(e) => {
                            *failure
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                            break;
                        }
                    }
                }
                latencies
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(mine);
            });
        }
    });
    let wall = load_started.elapsed().as_secs_f64();
    let (cpu_after, peak_rss_kib) = proc_usage(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    if let Some(e) = failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(format!("scenario 8: {e}"));
    }
    let mut latencies_ms = latencies
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    latencies_ms.sort_by(f64::total_cmp);
    println!(
        "<== scenario 8: {:.2} s wall, {:.2} s server CPU, {:.1} MiB server peak RSS",
        wall,
        cpu_after - cpu_before,
        peak_rss_kib as f64 / 1024.0
    );
    Ok(ServeResults {
        wall,
        cpu: cpu_after - cpu_before,
        peak_rss_kib,
        latencies_ms,
        retried: retried.into_inner() as u64,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The report's section for scenarios 5-8; `scenario3` is the NDJSON delivery's members/s.
/// ` (N% of scenario 3)`, or nothing when scenario 3 did not run.
fn of_scenario3(rate: u64, scenario3_per_s: u64) -> String {
    if scenario3_per_s == 0 {
        String::new()
    } else {
        format!(
            " ({:.0}% of scenario 3)",
            100.0 * rate as f64 / scenario3_per_s as f64
        )
    }
}

pub(super) fn report(md: &mut String, results: &StoreResults, scenario3_per_s: u64) {
    let n = results.members;
    let _ = writeln!(md);
    let _ = writeln!(md, "#### The store and the endpoint (scenarios 5-8)");
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "The stream: {} Firehose messages ({} MB): one subscription, then every member's `add` \
         to audience {}, {PER_MESSAGE} profiles a message (one change each).",
        thousands(results.messages + 1),
        results.stream_bytes / 1_000_000,
        AUDIENCE.0
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "| what | figure | wall s | CPU s | peak RSS MiB |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    let i = &results.ingest;
    let _ = writeln!(
        md,
        "| 5. `liveramp ingest` of the stream file | {} changes/s | {:.2} | {:.2} | {:.1} |",
        thousands(per_second(n, i.wall)),
        i.wall,
        i.cpu(),
        i.rss_mib()
    );
    let _ = writeln!(
        md,
        "| store on disk after scenario 5 (database + WAL) | {} bytes/member | | | |",
        thousands(results.store_bytes / n.max(1))
    );
    let s = &results.snapshot;
    let _ = writeln!(
        md,
        "| 6. `liveramp members` (snapshot, streamed to /dev/null) | {} members/s | {:.2} | {:.2} | {:.1} |",
        thousands(per_second(n, s.wall)),
        s.wall,
        s.cpu(),
        s.rss_mib()
    );
    if let Some(row) = results.rows.first() {
        let m = &row.measured;
        let rate = per_second(row.members.unwrap_or(0), m.wall);
        let _ = writeln!(
            md,
            "| 7. delivery from the store (snapshot -> files, encrypted) | {} members/s{} | {:.2} | {:.2} | {:.1} |",
            thousands(rate),
            of_scenario3(rate, scenario3_per_s),
            m.wall,
            m.cpu(),
            m.rss_mib()
        );
    }
    match &results.pg {
        Ok(pg) => {
            let _ = writeln!(
                md,
                "| 5. on PostgreSQL {} (fsync on): `liveramp ingest` | {} changes/s ({:.0}% of SQLite's) | {:.2} | {:.2} (client) | {:.1} (client) |",
                pg.version,
                thousands(per_second(n, pg.ingest.wall)),
                100.0 * i.wall / pg.ingest.wall.max(1e-9),
                pg.ingest.wall,
                pg.ingest.cpu(),
                pg.ingest.rss_mib()
            );
            let _ = writeln!(
                md,
                "| PostgreSQL database after scenario 5 (`pg_database_size`) | {} bytes/member | | | |",
                thousands(pg.database_bytes / n.max(1))
            );
            let _ = writeln!(
                md,
                "| 6. on PostgreSQL: `liveramp members` | {} members/s ({:.0}% of SQLite's) | {:.2} | {:.2} (client) | {:.1} (client) |",
                thousands(per_second(n, pg.snapshot.wall)),
                100.0 * s.wall / pg.snapshot.wall.max(1e-9),
                pg.snapshot.wall,
                pg.snapshot.cpu(),
                pg.snapshot.rss_mib()
            );
            let rate = per_second(pg.delivered, pg.delivery.wall);
            let _ = writeln!(
                md,
                "| 7. on PostgreSQL: delivery from the store | {} members/s{} | {:.2} | {:.2} (client) | {:.1} (client) |",
                thousands(rate),
                of_scenario3(rate, scenario3_per_s),
                pg.delivery.wall,
                pg.delivery.cpu(),
                pg.delivery.rss_mib()
            );
        }
        Err(why) => {
            let _ = writeln!(md, "| 5-7 on PostgreSQL | skipped: {why} | | | |");
        }
    }
    if let Some(serve) = &results.serve {
        let _ = writeln!(
            md,
            "| 8. `liveramp serve`, {CLIENTS} clients, {PER_MESSAGE} profiles a request | {} changes/s; p50 {:.1} ms, p99 {:.1} ms; {} retried | {:.2} | {:.2} (server) | {:.1} (server) |",
            thousands(per_second(n, serve.wall)),
            percentile(&serve.latencies_ms, 50.0),
            percentile(&serve.latencies_ms, 99.0),
            serve.retried,
            serve.wall,
            serve.cpu,
            serve.peak_rss_kib as f64 / 1024.0
        );
    }
}
