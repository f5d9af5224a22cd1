//! `liveramp daemon`: the nightly loop (the scheduler's `Runner`), with catch-up at start and
//! a clean stop on SIGTERM/SIGINT.

use std::path::Path;
use std::time::Duration;

use liveramp_connector::{Connector, DataType, DeliverOptions, FileStatus};
use liveramp_scheduler::{DeliveryId, Night, Plan, Runner, RunnerOptions, SystemClock};
use tracing::{error, info};

use crate::{Failure, classify, load, print_warnings};

/// The longest single sleep: the clock is re-read after each, so a suspended machine or a
/// clock change delays a night by at most this, never skips it.
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub(crate) fn run(config_path: &Path) -> Result<u8, Failure> {
    let config = load(config_path)?;
    if config.audiences.is_empty() && config.store.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} has no [[audiences]]: add one with id, external_name and members",
            config_path.display()
        )));
    }
    let connector = Connector::new(config).map_err(classify)?;
    print_warnings(connector.warnings());
    {
        let cancel = connector.cancel_handle();
        ctrlc::set_handler(move || cancel.cancel()).map_err(Failure::delivery)?;
    }
    nightly(&connector, "liveramp daemon")?;
    eprintln!("liveramp daemon: stopped");
    Ok(0)
}

/// The nightly loop until the connector's cancel handle is cancelled: `liveramp daemon`, and
/// `liveramp serve` beside its endpoint. `name` starts its lines.
pub(crate) fn nightly(connector: &Connector, name: &str) -> Result<(), Failure> {
    let settings = connector.config().schedule.clone();
    let mut plan = Plan::new(settings.schedule, Vec::new());
    plan.catch_up = settings.catch_up;
    plan.max_attempts = settings.max_attempts;
    refresh_plan(connector, &mut plan);
    // A night another node holds is looked at again after the longest sleep: with a shared
    // ledger, no later than a lease, so that a dead node's night is taken over soon after its
    // lease runs out.
    let max_sleep = match &connector.config().store {
        Some(store) if store.url_env.is_some() => {
            MAX_SLEEP.min(store.lease.max(Duration::from_secs(1)))
        }
        _ => MAX_SLEEP,
    };
    let options = RunnerOptions {
        max_sleep,
        retry_delay: Duration::from_secs(u64::from(settings.retry_delay_minutes) * 60),
    };
    let clock = SystemClock;
    let audiences = plan.deliveries.len() / connector.config().data_types().len().max(1);
    let mut runner = Runner::new(plan, clock, connector.ledger())
        .map_err(|e| Failure::usage(anyhow::Error::new(e)))?
        .with_options(options)
        .with_cancel_handle(connector.cancel_handle());
    eprintln!(
        "{name}: {audiences} audience(s), nightly at {}; next run {}",
        settings.schedule,
        settings
            .schedule
            .next_run_after(liveramp_scheduler::Clock::now(&clock))
    );
    say_where_the_last_night_stands(connector, runner.plan(), name);
    runner
        .run_nights_with(
            |plan| refresh_plan(connector, plan),
            |night: &Night<'_>| {
                let delivered = deliver_night(connector, night, name);
                eprintln!(
                    "{name}: next run {}",
                    settings
                        .schedule
                        .next_run_after(liveramp_scheduler::Clock::now(&clock))
                );
                delivered
            },
        )
        .map_err(|e| Failure::delivery(anyhow::Error::new(e).context("the ledger cannot be read")))
}

/// At start, one line per audience about the most recent night whose run time has passed:
/// already delivered (and what), failed for good, not due, or about to be delivered: so an
/// operator who starts the loop on a delivered night sees why nothing is sent.
fn say_where_the_last_night_stands(connector: &Connector, plan: &Plan, name: &str) {
    let now = chrono::Utc::now();
    let Some(latest) = plan.schedule.latest_run(now) else {
        return;
    };
    let night = latest.date;
    let ledger = connector.ledger();
    let mut audiences: Vec<&str> = Vec::new();
    for delivery in &plan.deliveries {
        if !audiences.contains(&delivery.audience.as_str()) {
            audiences.push(&delivery.audience);
        }
    }
    for audience in audiences {
        let runs: Vec<_> = plan
            .deliveries
            .iter()
            .filter(|d| d.audience == audience)
            .collect();
        if plan
            .connected_at
            .get(audience)
            .is_some_and(|connected| latest.at < *connected)
        {
            eprintln!(
                "{name}: audience {audience}, night {night}: not due (connected after that \
                 night's run); its first night is the next"
            );
            continue;
        }
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        let mut pending = 0;
        for delivery in runs {
            match ledger.status(&delivery.on(night)) {
                Ok(status) => match (&status.delivered, &status.last_error) {
                    (Some(record), _) => {
                        for file in &record.delivered.files {
                            delivered.push(format!("{} ({} rows)", file.name, file.rows));
                        }
                    }
                    (None, Some(error)) if status.attempts >= plan.max_attempts => {
                        failed.push(format!(
                            "{} failed after {} attempt(s): {error}",
                            delivery.data_type, status.attempts
                        ));
                    }
                    _ => pending += 1,
                },
                Err(e) => failed.push(format!("the ledger cannot be read: {e}")),
            }
        }
        let mut said = Vec::new();
        if !delivered.is_empty() {
            said.push(format!("already delivered: {}", delivered.join(", ")));
        }
        if !failed.is_empty() {
            said.push(failed.join("; "));
        }
        if pending > 0 {
            said.push("due: delivering now".to_owned());
        }
        eprintln!(
            "{name}: audience {audience}, night {night}: {}",
            said.join("; ")
        );
    }
}

/// The deliveries of every audience to deliver now (file-sourced, and connected in the store),
/// each store audience from the night after it was first connected.
pub(crate) fn refresh_plan(connector: &Connector, plan: &mut Plan) {
    let audiences = match connector.audiences() {
        Ok(audiences) => audiences,
        Err(e) => {
            error!("cannot list the audiences to deliver: {e:#}");
            return;
        }
    };
    let config = connector.config();
    plan.deliveries.clear();
    plan.connected_at.clear();
    for audience in &audiences {
        for data_type in config.data_types() {
            plan.deliveries.push(DeliveryId::new(
                &config.configuration_name,
                &audience.id,
                data_type.as_str(),
            ));
        }
        if let Some(at) = audience
            .store
            .as_ref()
            .and_then(|s| s.first_connected_ms)
            .and_then(chrono::DateTime::from_timestamp_millis)
        {
            plan.connected_at.insert(audience.id.clone(), at);
        }
    }
}

/// Delivers one audience's due data types for one night, in one pass over its members, and
/// says what it did, one line per file.
pub(crate) fn deliver_night(
    connector: &Connector,
    night: &Night<'_>,
    name: &str,
) -> Result<(), String> {
    let audiences = connector.audiences().map_err(|e| format!("{e:#}"))?;
    let Some(audience) = audiences.iter().find(|a| a.id == night.audience) else {
        return Ok(());
    };
    let types: Vec<DataType> = night
        .runs
        .iter()
        .filter_map(|run| run.key.delivery.data_type.parse().ok())
        .collect();
    info!(audience = %audience.id, run_date = %night.run_date, "delivering");
    let options = DeliverOptions::new().data_types(types);
    match connector.deliver_audience(audience, night.run_date, &options, &mut |_| {}) {
        Ok(report) => {
            for file in &report.files {
                let what = match file.status {
                    FileStatus::Delivered => format!("delivered, {} rows", file.rows),
                    FileStatus::AlreadyDelivered => "already delivered".to_owned(),
                    FileStatus::BelowMinimumRows => "NOT uploaded (under 25 rows)".to_owned(),
                    FileStatus::DryRun => "built (dry run)".to_owned(),
                    _ => "FAILED".to_owned(),
                };
                eprintln!(
                    "{name}: audience {}, night {}: {} {what}{}",
                    audience.id,
                    night.run_date,
                    file.name,
                    file.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Err(e) => {
            let failure = classify(e);
            eprintln!(
                "{name}: audience {}, night {}: FAILED: {:#}",
                audience.id, night.run_date, failure.error
            );
            error!("audience {}: {:#}", audience.id, failure.error);
            Err(format!("{:#}", failure.error))
        }
    }
}
