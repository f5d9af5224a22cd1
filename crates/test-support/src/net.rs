//! TCP fault injection on 127.0.0.1: a proxy that cuts or stalls the first connections, a
//! proxy that throttles the client-to-server direction, and a server that never answers.
//!
//! A real peer cannot be made to fail on cue or to be slow; everything behind these proxies is
//! the real server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP proxy in front of `127.0.0.1:target` that cuts (or stalls) each of the first `faulty`
/// connections after `cut_after` client-to-server bytes; later connections pass through.
pub struct CuttingProxy {
    /// The port clients dial.
    pub port: u16,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Sockets kept open (without forwarding) by a stalling proxy.
    _held: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    /// Cuts each of the first `faulty` connections (both directions shut down) once `cut_after`
    /// bytes have gone from the client to the server.
    pub fn start(target: u16, faulty: usize, cut_after: usize) -> CuttingProxy {
        Self::start_with(target, faulty, cut_after, false)
    }

    /// Like [`CuttingProxy::start`], but the faulty connections stall (stay open, forward
    /// nothing more) instead of being cut.
    pub fn stalling(target: u16, faulty: usize, stall_after: usize) -> CuttingProxy {
        Self::start_with(target, faulty, stall_after, true)
    }

    fn start_with(target: u16, faulty: usize, cut_after: usize, stall: bool) -> CuttingProxy {
        let held = Arc::new(Mutex::new(Vec::new()));
        let holder = held.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let limit = if n < faulty { Some(cut_after) } else { None };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                if stall && limit.is_some() {
                    let mut held = holder.lock().unwrap();
                    held.push(client.try_clone().unwrap());
                    held.push(server.try_clone().unwrap());
                }
                let cut = !stall;
                std::thread::spawn(move || cutting_pump(client, server, limit, cut));
                std::thread::spawn(move || cutting_pump(s2, c2, None, true));
            }
        });
        CuttingProxy {
            port,
            connections,
            _held: held,
            stop,
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn cutting_pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>, cut: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(limit) = limit
            && total + n >= limit
        {
            let _ = to.write_all(&buf[..limit - total]);
            if !cut {
                // Stall: keep both sockets open, forward nothing more.
                return;
            }
            break;
        }
        total += n;
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A server that accepts connections and never says anything (the kernel completes the TCP
/// handshake; nobody ever reads or writes).
pub struct SilentServer {
    /// The port clients dial.
    pub port: u16,
    _listener: TcpListener,
}

impl SilentServer {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        SilentServer {
            port,
            _listener: listener,
        }
    }
}

/// A TCP proxy in front of `127.0.0.1:target` that forwards client-to-server bytes at most at
/// `bytes_per_second` (server-to-client unlimited): a slow link, so the upload phase of a
/// delivery lasts long enough to be interrupted at a chosen moment.
pub struct Throttle {
    /// The port clients dial.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Throttle {
    /// Starts the proxy on a free port of 127.0.0.1.
    pub fn start(target: u16, bytes_per_second: u64) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = server.set_nodelay(true);
                let _ = client.set_nodelay(true);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || throttling_pump(client, server, Some(bytes_per_second)));
                std::thread::spawn(move || throttling_pump(s2, c2, None));
            }
        });
        Throttle { port, stop }
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[allow(clippy::cast_precision_loss)] // a rate in bytes per second: f64 is exact enough
fn throttling_pump(mut from: TcpStream, mut to: TcpStream, rate: Option<u64>) {
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut total: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        total += n as u64;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
