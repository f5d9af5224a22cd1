//! `liveramp serve`: mParticle's Firehose endpoint and the nightly loop in one process, over
//! one membership store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use liveramp_connector::{Config, Connector};
use liveramp_firehose_server as server;
use tracing::{info, warn};

use crate::{Failure, classify, load, print_warnings};

/// How often the store's retention is applied (a bounded amount of work each time).
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The server's settings from `[server]`, with the API key read from its variable.
fn server_config(config: &Config) -> server::ServerConfig {
    let s = &config.server;
    let mut c = server::ServerConfig::new(s.listen).with_api_key_from_env(&s.api_key_env);
    c.max_body_bytes = usize::try_from(s.max_body_bytes).unwrap_or(usize::MAX);
    c.max_concurrent_requests = usize::try_from(s.max_concurrent_requests).unwrap_or(256);
    c.request_timeout = s.request_timeout;
    c.shutdown_timeout = s.request_timeout + Duration::from_secs(5);
    env!("CARGO_PKG_VERSION").clone_into(&mut c.registration_version);
    if let (Some(cert), Some(key)) = (&s.tls_cert_path, &s.tls_key_path) {
        c = c.with_tls(cert.clone(), key.clone());
    }
    c
}

/// Last-delivery gauges for `GET /metrics`, from the ledger.
fn delivery_metrics(connector: &Arc<Connector>) -> impl Fn() -> String + Send + Sync + 'static {
    let connector = Arc::clone(connector);
    move || crate::metrics::last_deliveries(&connector)
}

/// Applies the store's retention now and then until stopped.
fn purge_loop(connector: &Arc<Connector>, cancel: &liveramp_scheduler::CancelHandle) {
    let Some(store) = connector.store().cloned() else {
        return;
    };
    let cancel = cancel.clone();
    let spawned = std::thread::Builder::new()
        .name("liveramp-purge".to_owned())
        .spawn(move || {
            let clock = liveramp_scheduler::SystemClock;
            while !cancel.is_cancelled() {
                loop {
                    let now = chrono::Utc::now().timestamp_millis();
                    match store.purge(now) {
                        Ok(summary) if summary.more && !cancel.is_cancelled() => {}
                        Ok(_) => break,
                        Err(e) => {
                            warn!("the store's retention could not be applied: {e}");
                            break;
                        }
                    }
                }
                liveramp_scheduler::Clock::sleep(&clock, PURGE_EVERY, &cancel);
            }
        });
    if let Err(e) = spawned {
        warn!("the store's retention will not be applied (no thread): {e}");
    }
}

/// `liveramp serve --config FILE`.
pub(crate) fn run(config_path: &Path) -> Result<u8, Failure> {
    let config = load(config_path)?;
    if config.store.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} has no [store]: liveramp serve keeps mParticle's real-time audiences in it; add \
             [store] with path = \"state/audiences.sqlite\"",
            config_path.display()
        )));
    }
    let mut server_settings = server_config(&config);
    // The status page's key is checked before anything listens.
    let admin_config = server::admin::AdminConfig::new(
        config.server.admin_listen,
        liveramp_status::CONTENT_SECURITY_POLICY,
    )
    .with_api_key_from_env(config.server.admin_api_key_env.as_deref());
    server::admin::check(&admin_config).map_err(Failure::usage)?;
    let connector = Arc::new(Connector::new(config).map_err(classify)?);
    print_warnings(connector.warnings());
    let Some(store) = connector.store().cloned() else {
        return Err(Failure::usage(anyhow::anyhow!("the store is not open")));
    };
    server_settings = server_settings.with_extra_metrics(Arc::new(delivery_metrics(&connector)));
    let handle = server::start(&server_settings, store).map_err(|e| match e {
        server::Error::NoApiKeyOnPublicAddress { .. } => Failure::usage(e),
        other => Failure::delivery(other),
    })?;
    let scheme = if connector.config().server.tls_cert_path.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "liveramp serve: Firehose endpoint on {scheme}://{}/firehose (health /healthz, /readyz, \
         /metrics)",
        handle.local_addr()
    );
    let pages = crate::status::AdminPages::new(Arc::clone(&connector), handle.ingest_history());
    let admin = server::admin::bind(&admin_config)
        .and_then(|listener| listener.serve(Arc::new(pages)))
        .map_err(|e| {
            Failure::delivery(anyhow::anyhow!(
                "the status page ([server] admin_listen): {e}"
            ))
        })?;
    eprintln!(
        "liveramp serve: status page on http://{}/ (JSON at /api/status{})",
        admin.local_addr(),
        if admin_config.api_key.is_some() {
            "; key required"
        } else {
            ""
        }
    );
    let cancel = connector.cancel_handle();
    {
        let cancel = cancel.clone();
        let stopper = handle.stopper();
        let admin_stopper = admin.stopper();
        ctrlc::set_handler(move || {
            // Stop taking requests, let a running delivery stop cleanly, end the loop.
            stopper.stop();
            admin_stopper.stop();
            cancel.cancel();
        })
        .map_err(Failure::delivery)?;
    }
    purge_loop(&connector, &cancel);
    let looped = crate::daemon::nightly(&connector, "liveramp serve");
    info!("stopping: waiting for requests in flight");
    let stopped = handle.shutdown();
    let admin_stopped = admin.shutdown();
    looped?;
    stopped.map_err(Failure::delivery)?;
    admin_stopped.map_err(Failure::delivery)?;
    eprintln!("liveramp serve: stopped");
    Ok(0)
}
