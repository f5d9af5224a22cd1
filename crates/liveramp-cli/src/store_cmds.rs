//! The commands of the real-time path: `liveramp ingest` (Firehose messages into the store),
//! `liveramp members` (an audience's snapshot) and `liveramp audiences` (what the store holds).

use std::io::{self, BufRead, Write};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use liveramp_connector::audience_store::AudienceStore;
use liveramp_connector::ingest::{IngestReport, ingest};
use liveramp_connector::{Config, DataType, open_ledger, open_store};
use liveramp_scheduler::{DeliveryId, Ledger};
use serde_json::json;

use crate::{Failure, classify, load};

/// `liveramp ingest --config FILE [PATH|-]`.
pub(crate) fn ingest_command(config_path: &Path, input: Option<&Path>) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let store = open_store(&config).map_err(classify)?;
    let stdin = input.is_none_or(|p| p.as_os_str() == "-");
    let name = if stdin {
        "stdin".to_owned()
    } else {
        input.map(|p| p.display().to_string()).unwrap_or_default()
    };
    let reader: Box<dyn BufRead> = if stdin {
        Box::new(io::BufReader::with_capacity(1 << 20, io::stdin()))
    } else {
        let path = input.unwrap_or(Path::new("-"));
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read the Firehose messages from {}", path.display()))
            .map_err(Failure::usage)?;
        Box::new(io::BufReader::with_capacity(1 << 20, file))
    };
    let mut err = io::stderr().lock();
    let result = ingest(store.as_ref(), reader, &name, &mut |line, reason| {
        let _ = writeln!(err, "line {line}: {reason}");
    });
    drop(err);
    match result {
        Ok(report) => {
            print_ingest(&name, &report);
            Ok(0)
        }
        Err(e) => Err(classify(e)),
    }
}

fn print_ingest(name: &str, r: &IngestReport) {
    let a = &r.applied;
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "ingested {name}: {} lines, {} messages, {} malformed lines",
        r.lines, r.messages, r.malformed
    );
    let _ = writeln!(
        out,
        "  applied {} messages: {} subscriptions, {} membership changes with {} profiles \
         ({} adds, {} deletes, {} attribute updates)",
        a.messages,
        a.subscriptions,
        a.messages.saturating_sub(a.subscriptions),
        a.profiles,
        a.adds,
        a.deletes,
        a.attribute_updates
    );
    let _ = writeln!(
        out,
        "  data subject requests: {} recorded, {} members erased (older changes for them \
         ignored: {})",
        r.data_subject_requests, r.members_erased, a.erased_profiles
    );
    let _ = writeln!(
        out,
        "  skipped: {} duplicates, {} expired, {} profiles without mpid or identity, {} pings, \
         {} registrations",
        a.duplicates, a.expired, a.rejected_profiles, r.pings, r.registrations
    );
}

/// `liveramp members --config FILE --audience ID`: the audience's snapshot, one profile JSON
/// per line, in snapshot order (a file-sourced audience: its file's lines).
pub(crate) fn members_command(config_path: &Path, audience: &str) -> Result<u8, Failure> {
    let config = load(config_path)?;
    if let Some(path) = config.audience(audience).and_then(|a| a.members.clone()) {
        let mut file = std::fs::File::open(&path)
            .with_context(|| {
                format!(
                    "cannot read the members of audience {audience} from {}",
                    path.display()
                )
            })
            .map_err(Failure::delivery)?;
        io::copy(&mut file, &mut io::stdout().lock())
            .context("could not write to stdout")
            .map_err(Failure::delivery)?;
        return Ok(0);
    }
    let store = open_store(&config).map_err(classify)?;
    let id = store_id(store.as_ref(), audience)?;
    let mut snapshot = store
        .snapshot(id)
        .context("could not take a snapshot from the membership store")
        .map_err(Failure::delivery)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = snapshot
            .read_into(&mut buf, 1 << 20)
            .context("the store snapshot failed")
            .map_err(Failure::delivery)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf)
            .context("could not write to stdout")
            .map_err(Failure::delivery)?;
    }
    out.flush()
        .context("could not write to stdout")
        .map_err(Failure::delivery)?;
    Ok(0)
}

/// The store id of `audience`, or a usage error listing the store's audiences.
fn store_id(store: &dyn AudienceStore, audience: &str) -> Result<i64, Failure> {
    let known = store
        .audiences()
        .context("could not list the audiences of the membership store")
        .map_err(Failure::delivery)?;
    match audience.parse::<i64>() {
        Ok(id) if known.iter().any(|a| a.id == id) => Ok(id),
        _ => {
            let ids: Vec<String> = known.iter().map(|a| a.id.to_string()).collect();
            Err(Failure::usage(anyhow::anyhow!(
                "audience {audience:?} is neither in the configuration with a members file nor in \
                 the membership store; the store's audiences are: {}",
                if ids.is_empty() {
                    "none (ingest some Firehose messages first)".to_owned()
                } else {
                    ids.join(", ")
                }
            )))
        }
    }
}

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The last delivery of an audience's files, from the ledger: `(run date, [(data type, rows)])`.
fn last_delivery(config: &Config, ledger: &dyn Ledger, id: &str) -> Option<serde_json::Value> {
    let mut run_date = None;
    let mut files = Vec::new();
    for data_type in DataType::ALL {
        let delivery = DeliveryId::new(&config.configuration_name, id, data_type.as_str());
        if let Ok(Some(record)) = ledger.last_delivered(&delivery) {
            run_date = run_date.max(Some(record.run_date));
            for f in &record.delivered.files {
                files.push(json!({
                    "data_type": data_type.as_str(),
                    "run_date": record.run_date.to_string(),
                    "name": f.name,
                    "rows": f.rows,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                }));
            }
        }
    }
    run_date.map(|d| json!({"run_date": d.to_string(), "files": files}))
}

/// `liveramp audiences --config FILE [--json]`.
pub(crate) fn audiences_command(config_path: &Path, as_json: bool) -> Result<u8, Failure> {
    let config = load(config_path)?;
    let store = open_store(&config).map_err(classify)?;
    let audiences = store
        .audiences()
        .context("could not list the audiences of the membership store")
        .map_err(Failure::delivery)?;
    let ledger = open_ledger(&config)
        .context("could not open the ledger")
        .map_err(Failure::delivery)?;
    let rows: Vec<serde_json::Value> = audiences
        .iter()
        .map(|a| {
            let id = a.id.to_string();
            let external = config
                .audience(&id)
                .map(|c| c.external_name.clone())
                .filter(|n| !n.trim().is_empty());
            json!({
                "id": a.id,
                "name": a.name,
                "external_name": external.or_else(|| a.name.clone()),
                "connected": a.connected,
                "members": a.members,
                "newest_change_ms": a.newest_change_ms,
                "newest_change": rfc3339(a.newest_change_ms),
                "first_connected": rfc3339(a.first_connected_ms),
                "disconnected_at": rfc3339(a.disconnected_at_ms),
                "last_delivery": last_delivery(&config, &ledger, &id),
            })
        })
        .collect();
    let mut out = io::stdout().lock();
    if as_json {
        let text = serde_json::to_string_pretty(&rows)
            .context("could not serialise the audiences")
            .map_err(Failure::delivery)?;
        let _ = writeln!(out, "{text}");
        return Ok(0);
    }
    if rows.is_empty() {
        let _ = writeln!(out, "the membership store holds no audience yet");
        return Ok(0);
    }
    let _ = writeln!(
        out,
        "{:<12} {:<28} {:<9} {:>10}  {:<24}  LAST DELIVERY",
        "ID", "NAME", "CONNECTED", "MEMBERS", "NEWEST CHANGE"
    );
    for row in &rows {
        let last = row["last_delivery"].as_object().map_or_else(
            || "never".to_owned(),
            |d| {
                let files: Vec<String> = d["files"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|f| {
                                format!("{} {} rows", f["name"].as_str().unwrap_or(""), f["rows"])
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "{} ({})",
                    d["run_date"].as_str().unwrap_or(""),
                    files.join(", ")
                )
            },
        );
        let _ = writeln!(
            out,
            "{:<12} {:<28} {:<9} {:>10}  {:<24}  {last}",
            row["id"].to_string(),
            row["external_name"].as_str().unwrap_or(""),
            if row["connected"] == true {
                "yes"
            } else {
                "no"
            },
            row["members"].to_string(),
            row["newest_change"].as_str().unwrap_or("-"),
        );
    }
    Ok(0)
}
