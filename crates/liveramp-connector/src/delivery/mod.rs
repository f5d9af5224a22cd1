//! One delivery of one audience for one run date, as stages:
//!
//! 1. [`plan`]: for each data type, name the file, claim the run in the ledger (skipping what
//!    was delivered or is being delivered elsewhere) and check the header against the last
//!    one delivered;
//! 2. [`build`]: one pass over the members (the ordered parallel pipeline) writes every
//!    planned file, through gzip and encryption, into the publisher's workspace;
//! 3. [`publish`]: each finished file is checked (25 rows) and handed to the publisher: a real
//!    delivery publishes it through the transport, a dry run keeps it and previews it;
//! 4. [`record`]: the outcome goes to the ledger and the report.
//!
//! Which publisher is used is decided once, here; the stages ask it, not the options.

pub(crate) mod build;
pub(crate) mod plan;
pub(crate) mod publish;
pub(crate) mod record;

use std::time::Instant;

use chrono::NaiveDate;
use tracing::info_span;

use crate::config::Audience;
use crate::connector::Connector;
use crate::error::Error;
use crate::options::DeliverOptions;
use crate::report::Report;
use crate::source::MemberSource;

/// Delivers `audience` for `run_date` from `source`; see [`Connector::deliver_from`].
pub(crate) fn deliver(
    connector: &Connector,
    audience: &Audience,
    source: &mut dyn MemberSource,
    run_date: NaiveDate,
    options: &DeliverOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, Error> {
    let span = info_span!("audience", id = %audience.id, run_date = %run_date);
    let _entered = span.enter();
    let started = Instant::now();
    let mut report = record::new_report(connector, audience, run_date, options);
    let publisher: Box<dyn publish::Publisher + '_> = if options.dry_run {
        Box::new(publish::DryRun::new(connector, options))
    } else {
        Box::new(publish::Delivery::new(connector))
    };
    publish::prepare(publisher.as_ref())?;
    let types = connector.selected_types(options);
    let planned = plan::plan(
        connector,
        publisher.as_ref(),
        audience,
        run_date,
        &types,
        options,
        &mut report,
    )?;
    if !planned.is_empty() {
        let built = build::build(
            connector,
            publisher.as_ref(),
            audience,
            planned,
            &types,
            source,
            options,
            progress,
            &mut report,
        )?;
        for file in built {
            publish::complete(connector, publisher.as_ref(), audience, file, &mut report)?;
        }
        report.source = source.summary();
    }
    // Device file first, then PII, whatever happened to each.
    report.files.sort_by(|a, b| a.data_type.cmp(&b.data_type));
    report.duration_ms = record::millis(started);
    record::save(connector, &report);
    Ok(report)
}
