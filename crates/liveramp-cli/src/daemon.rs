//! `liveramp daemon`: the nightly loop, with catch-up at start and a clean stop on
//! SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta};
use liveramp_connector::{Connector, DataType, DeliverOptions};
use liveramp_scheduler::{Clock, DeliveryId, Plan, SystemClock};
use tracing::{error, info, warn};

use crate::{Failure, classify, load, print_warnings};

/// The longest single sleep: the clock is re-read after each, so a suspended machine or a
/// clock change delays a night by at most this, never skips it.
const MAX_SLEEP: Duration = Duration::from_secs(60);

fn data_type_of(name: &str) -> DataType {
    if name == "device" {
        DataType::Device
    } else {
        DataType::Pii
    }
}

pub(crate) fn run(config_path: &Path) -> Result<u8, Failure> {
    let config = load(config_path)?;
    if config.audiences.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} has no [[audiences]]: add one with id, external_name and members",
            config_path.display()
        )));
    }
    let settings = config.schedule.clone();
    let mut deliveries = Vec::new();
    for audience in &config.audiences {
        for data_type in config.data_types() {
            let name = if data_type == DataType::Device {
                "device"
            } else {
                "pii"
            };
            deliveries.push(DeliveryId::new(
                &config.configuration_name,
                &audience.id,
                name,
            ));
        }
    }
    let audiences = config.audiences.clone();
    let connector = Connector::new(config).map_err(classify)?;
    print_warnings(connector.warnings());
    let cancel = connector.cancel_handle();
    {
        let cancel = cancel.clone();
        ctrlc::set_handler(move || cancel.cancel()).map_err(Failure::delivery)?;
    }
    let mut plan = Plan::new(settings.schedule, deliveries);
    plan.catch_up = settings.catch_up;
    plan.max_attempts = settings.max_attempts;
    let retry = TimeDelta::minutes(i64::from(settings.retry_delay_minutes));
    let clock = SystemClock;
    eprintln!(
        "liveramp daemon: {} audience(s), nightly at {}; next run {}",
        audiences.len(),
        settings.schedule,
        settings.schedule.next_run_after(clock.now())
    );
    while !cancel.is_cancelled() {
        let now = clock.now();
        let due = plan.due_runs(now, connector.ledger()).map_err(|e| {
            Failure::delivery(anyhow::Error::new(e).context("the ledger cannot be read"))
        })?;
        let mut wake = settings.schedule.next_run_after(now);
        let mut groups: BTreeMap<(String, NaiveDate), Vec<DataType>> = BTreeMap::new();
        for run in due {
            if run.status.last_error.is_some() {
                if let Some(ready) = run.status.last_finished_at.map(|t| t + retry) {
                    if ready > now {
                        wake = wake.min(ready);
                        continue;
                    }
                }
            }
            groups
                .entry((run.key.delivery.audience.clone(), run.key.run_date))
                .or_default()
                .push(data_type_of(&run.key.delivery.data_type));
        }
        for ((audience_id, run_date), types) in groups {
            if cancel.is_cancelled() {
                break;
            }
            let Some(audience) = audiences.iter().find(|a| a.id == audience_id) else {
                continue;
            };
            let Some(path) = &audience.members else {
                warn!(audience = %audience.id, "no members file configured: skipped");
                continue;
            };
            info!(audience = %audience.id, %run_date, "delivering");
            let members = match std::fs::File::open(path) {
                Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
                Err(e) => {
                    error!(audience = %audience.id, "cannot read {}: {e}", path.display());
                    wake = wake.min(now + retry);
                    continue;
                }
            };
            let options = DeliverOptions::new().data_types(types);
            match connector.deliver_ndjson(audience, members, run_date, &options, &mut |_| {}) {
                Ok(report) => {
                    for file in &report.files {
                        eprintln!(
                            "{} {}: {:?}{}",
                            run_date,
                            file.name,
                            file.status,
                            file.error
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        );
                    }
                    if !report.succeeded() {
                        wake = wake.min(clock.now() + retry);
                    }
                }
                Err(e) => {
                    let failure = classify(e);
                    error!("audience {}: {:#}", audience.id, failure.error);
                    if cancel.is_cancelled() {
                        break;
                    }
                    wake = wake.min(clock.now() + retry);
                }
            }
        }
        let now = clock.now();
        if wake > now {
            let until = (wake - now).to_std().unwrap_or(Duration::ZERO);
            clock.sleep(until.min(MAX_SLEEP), &cancel);
        }
    }
    eprintln!("liveramp daemon: stopped");
    Ok(0)
}
