//! Starting, serving connections (HTTP/1.1, optionally over TLS) and stopping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use liveramp_audience_store::AudienceStore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::app::{Shared, router};
use crate::config::ServerConfig;
use crate::error::Error;
use crate::metrics::IngestHistory;
use crate::tls;

/// The largest request head (request line and headers) read: larger ones are answered 431.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Starts the server on `config.listen` and returns at once; requests are served on the
/// server's own threads until [`ServerHandle::shutdown`].
///
/// Fails before binding anything when the configuration cannot be served:
/// [`Error::NoApiKeyOnPublicAddress`] without an API key on an address other than loopback,
/// [`Error::InvalidConfig`], [`Error::Tls`]; then [`Error::Bind`] when the address cannot be
/// listened on.
pub fn start(config: &ServerConfig, store: Arc<dyn AudienceStore>) -> Result<ServerHandle, Error> {
    let prepared = prepare(config, config.listen)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    launch(listener, config, store, prepared)
}

/// Like [`start`], on a listener bound by the caller (`config.listen` is ignored; the key rule
/// applies to the listener's address).
pub fn start_with_listener(
    listener: std::net::TcpListener,
    config: &ServerConfig,
    store: Arc<dyn AudienceStore>,
) -> Result<ServerHandle, Error> {
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let prepared = prepare(config, addr)?;
    launch(listener, config, store, prepared)
}

/// What is checked and loaded before anything listens.
struct Prepared {
    tls: Option<TlsAcceptor>,
}

fn prepare(config: &ServerConfig, addr: SocketAddr) -> Result<Prepared, Error> {
    if config.api_key.is_none() && !addr.ip().to_canonical().is_loopback() {
        return Err(Error::NoApiKeyOnPublicAddress {
            addr,
            env_var: config.api_key_env.clone(),
        });
    }
    let positive = |setting: &'static str, value: usize| {
        if value == 0 {
            Err(Error::InvalidConfig {
                setting,
                reason: "must be at least 1".to_owned(),
            })
        } else {
            Ok(())
        }
    };
    positive("max_body_bytes", config.max_body_bytes)?;
    positive("max_concurrent_requests", config.max_concurrent_requests)?;
    positive("max_connections", config.max_connections)?;
    positive("worker_threads", config.worker_threads)?;
    if config.max_buffered_bytes < config.max_body_bytes {
        return Err(Error::InvalidConfig {
            setting: "max_buffered_bytes",
            reason: format!(
                "must be at least max_body_bytes ({}), or no request of the largest size can \
                 be read",
                config.max_body_bytes
            ),
        });
    }
    // Semaphores hold at most `Semaphore::MAX_PERMITS`.
    if config.max_concurrent_requests > Semaphore::MAX_PERMITS
        || config.max_connections > Semaphore::MAX_PERMITS
    {
        return Err(Error::InvalidConfig {
            setting: "max_concurrent_requests",
            reason: format!("must be at most {}", Semaphore::MAX_PERMITS),
        });
    }
    for (setting, value) in [
        ("request_timeout", config.request_timeout),
        ("header_read_timeout", config.header_read_timeout),
    ] {
        if value.is_zero() {
            return Err(Error::InvalidConfig {
                setting,
                reason: "must be longer than zero".to_owned(),
            });
        }
    }
    if config
        .api_key
        .as_ref()
        .is_some_and(|k| k.expose().is_empty())
    {
        return Err(Error::InvalidConfig {
            setting: "api_key",
            reason: format!(
                "is empty: set {} to the apiKey entered in mParticle",
                config.api_key_env
            ),
        });
    }
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    Ok(Prepared { tls })
}

fn launch(
    listener: std::net::TcpListener,
    config: &ServerConfig,
    store: Arc<dyn AudienceStore>,
    prepared: Prepared,
) -> Result<ServerHandle, Error> {
    if config.api_key.is_none() {
        tracing::warn!(
            addr = %listener.local_addr().unwrap_or(config.listen),
            "no API key configured ({} is not set): every request on this loopback address is accepted",
            config.api_key_env
        );
    }
    let shared = Arc::new(Shared::new(config, store));
    let ingest = shared.metrics.ingest.clone();
    let app = router(Arc::clone(&shared));
    let launch = Launch {
        what: "Firehose endpoint",
        threads: "firehose-http",
        worker_threads: config.worker_threads,
        max_blocking_threads: config.max_concurrent_requests.saturating_add(8),
        settings: Settings {
            header_read_timeout: config.header_read_timeout,
            shutdown_timeout: config.shutdown_timeout,
            max_connections: config.max_connections,
        },
        on_stop: Box::new(move || shared.shutting_down.store(true, Relaxed)),
        ingest,
    };
    run_with_tls(listener, config.listen, app, prepared.tls, launch)
}

/// How [`run`] runs a server.
pub(crate) struct Launch {
    /// What it is, for the log.
    pub(crate) what: &'static str,
    /// The name of its threads.
    pub(crate) threads: &'static str,
    /// Threads running connections.
    pub(crate) worker_threads: usize,
    /// Threads for blocking work.
    pub(crate) max_blocking_threads: usize,
    /// Timeouts and bounds.
    pub(crate) settings: Settings,
    /// Called once when the server stops accepting.
    pub(crate) on_stop: Box<dyn FnOnce() + Send>,
    /// The handle's ingest history.
    pub(crate) ingest: IngestHistory,
}

/// Serves `app` (plain HTTP) on `listener`, on a runtime and a thread of its own.
pub(crate) fn run(
    listener: std::net::TcpListener,
    configured: SocketAddr,
    app: axum::Router,
    launch: Launch,
) -> Result<ServerHandle, Error> {
    run_with_tls(listener, configured, app, None, launch)
}

fn run_with_tls(
    listener: std::net::TcpListener,
    configured: SocketAddr,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    launch: Launch,
) -> Result<ServerHandle, Error> {
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: configured,
        source,
    })?;
    let bind_error = |source| Error::Bind { addr, source };
    listener.set_nonblocking(true).map_err(bind_error)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(launch.worker_threads)
        .max_blocking_threads(launch.max_blocking_threads)
        .thread_name(launch.threads)
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| Error::Runtime { source })?;
    let listener = {
        let _entered = runtime.enter();
        TcpListener::from_std(listener).map_err(bind_error)?
    };
    let (stop, stopped) = watch::channel(false);
    let settings = launch.settings;
    let what = launch.what;
    let on_stop = launch.on_stop;
    tracing::info!(%addr, tls = tls.is_some(), "{what} listening");
    let thread = std::thread::Builder::new()
        .name(launch.threads.to_owned())
        .spawn(move || {
            runtime.block_on(serve(listener, app, tls, settings, stopped, what, on_stop));
            // Blocking work still running (a store apply) is waited for, up to this long.
            runtime.shutdown_timeout(settings.shutdown_timeout);
        })
        .map_err(|source| Error::Runtime { source })?;
    Ok(ServerHandle {
        addr,
        stopper: Stopper {
            stop: Arc::new(stop),
        },
        thread: Some(thread),
        ingest: launch.ingest,
    })
}

/// Timeouts and bounds of a server's connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) header_read_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// The running server: its address, and how to stop it.
///
/// Dropping the handle stops the server as [`ServerHandle::shutdown`] does.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
    ingest: IngestHistory,
}

impl ServerHandle {
    /// Membership changes this server applied, minute by minute (for a status page's ingest
    /// rate over the last hour).
    pub fn ingest_history(&self) -> IngestHistory {
        self.ingest.clone()
    }

    /// The address the server listens on (the actual port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// A [`Stopper`] that stops the server from another thread (a signal handler, say).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops the server and returns once it has stopped: no new connection is accepted, new
    /// requests on open connections are answered 503, and requests in flight finish (each is
    /// committed and answered, or answered 503), for at most
    /// [`ServerConfig::shutdown_timeout`], after which their connections are cut.
    ///
    /// Must not be called from inside an async runtime (it blocks).
    pub fn shutdown(self) -> Result<(), Error> {
        self.stopper.stop();
        self.join()
    }

    /// Waits until the server has stopped (after [`Stopper::stop`] or [`ServerHandle::shutdown`]
    /// from elsewhere).
    pub fn join(mut self) -> Result<(), Error> {
        self.wait()
    }

    fn wait(&mut self) -> Result<(), Error> {
        match self.thread.take() {
            None => Ok(()),
            Some(thread) => thread.join().map_err(|panic| Error::Crashed {
                reason: panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "it panicked".to_owned()),
            }),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stopper.stop();
            let _ = self.wait();
        }
    }
}

/// Stops a server from any thread; cheap to clone. Stopping twice is harmless.
#[derive(Debug, Clone)]
pub struct Stopper {
    stop: Arc<watch::Sender<bool>>,
}

impl Stopper {
    /// Begins a graceful stop (see [`ServerHandle::shutdown`]) and returns at once.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// Returns once `stopped` says so (or its sender is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|&stop| stop).await;
}

/// Accepts connections until stopped, then lets them finish.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    settings: Settings,
    mut stopped: watch::Receiver<bool>,
    what: &'static str,
    on_stop: Box<dyn FnOnce() + Send>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = stop_requested(&mut stopped) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop_requested(&mut stopped) => break,
        };
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors, a connection reset before it was accepted: wait a
                // little and go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    () = stop_requested(&mut stopped) => break,
                }
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        let stopped = stopped.clone();
        connections.spawn(async move {
            connection(stream, tls, app, settings, stopped).await;
            drop(slot);
        });
    }
    // Stop accepting: connections still in the backlog are refused.
    drop(listener);
    on_stop();
    let open = connections.len();
    tracing::info!(open, "{what} stopping: finishing the requests in flight");
    let deadline = tokio::time::Instant::now() + settings.shutdown_timeout;
    while !connections.is_empty() {
        tokio::select! {
            _ = connections.join_next() => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    open = connections.len(),
                    "shutdown timeout: cutting the connections still open"
                );
                connections.abort_all();
                while connections.join_next().await.is_some() {}
            }
        }
    }
    tracing::info!("{what} stopped");
}

/// One connection: the TLS handshake if any, then HTTP/1.1 requests until the client closes,
/// a timeout, or a graceful stop.
async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    settings: Settings,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => http(TokioIo::new(stream), app, settings, stopped).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream));
            let stream = tokio::select! {
                result = handshake => match result {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
                () = stop_requested(&mut stopped) => return,
            };
            http(TokioIo::new(stream), app, settings, stopped).await;
        }
    }
}

async fn http<I>(
    io: TokioIo<I>,
    app: axum::Router,
    settings: Settings,
    mut stopped: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stop_requested(&mut stopped) => {
            // Finish the request in flight (if any), then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
