//! The SFTP transport on libssh2 (`ssh2`).

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use ssh2::{ErrorCode, File, MethodType, OpenFlags, OpenType, Session, Sftp};

use crate::hostkey::{self, Lookup};
use crate::names;
use crate::rawsftp::RawSftp;
use crate::settings::{Endpoint, SftpSettings};
use liveramp_transport::{
    CheckReport, Receipt, Transport, UploadStream, part_name, retry, run_producer, validate_name,
};
use liveramp_transport::{Error, Result};

/// Bytes handed to libssh2 per write call. libssh2 splits one large write into many SFTP
/// WRITE requests and keeps them in flight together (up to the channel window), so large
/// chunks keep the pipe full; small writes wait for every acknowledgement. 2 MiB (the
/// channel window) moved as fast as 4 MiB did and keeps a streamed delivery's peak RSS at
/// 47 MiB instead of 69 (docs/BENCHMARKS.md, 2026-12-03).
const CHUNK: usize = 2 << 20;
/// Chunks queued between the producer and the network thread.
const QUEUE: usize = 1;

// libssh2 session error codes (`LIBSSH2_ERROR_*`).
const ERR_TIMEOUT: i32 = -9;
const ERR_FILE: i32 = -16;
const ERR_AUTHENTICATION_FAILED: i32 = -18;
const ERR_PUBLICKEY_UNVERIFIED: i32 = -19;
// SFTP status codes (`LIBSSH2_FX_*`).
const FX_NO_SUCH_FILE: i32 = 2;
const FX_PERMISSION_DENIED: i32 = 3;
const FX_NO_CONNECTION: i32 = 6;
const FX_CONNECTION_LOST: i32 = 7;
const FX_OP_UNSUPPORTED: i32 = 8;
const FX_NO_SUCH_PATH: i32 = 10;

/// The ciphers we accept (modern AEAD and CTR modes only), tried in libssh2's own order of
/// preference: the stock library prefers ChaCha20-Poly1305; the patched copy in
/// `vendor/libssh2-sys` prefers AES-GCM, which it encrypts a whole packet at a time (stock
/// libssh2 calls OpenSSL once per 16-byte AES block, which costs more CPU than the transfer).
const ALLOWED_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];

/// Uploads to an SFTP server: host key verified before authentication, atomic publish,
/// retries per policy, one SSH session reused for every file.
///
/// Created from [`SftpSettings`]; connects lazily on first use (or on
/// [`Transport::check`]).
pub struct SftpTransport {
    settings: SftpSettings,
    endpoint: Endpoint,
    conn: Option<Connection>,
}

impl fmt::Debug for SftpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpTransport")
            .field("settings", &self.settings)
            .field("endpoint", &self.endpoint)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// The server's address and the per-operation timeout, for error messages.
#[derive(Clone)]
struct Peer {
    address: String,
    timeout: Duration,
}

struct Connection {
    session: Session,
    sftp: Sftp,
    peer: Peer,
    fingerprint: String,
    verified_by: String,
    warnings: Vec<String>,
    dir_ready: bool,
    raw: Option<RawSftp>,
    raw_tried: bool,
}

impl SftpTransport {
    /// Checks the settings (URL, port, credentials, host-key policy) without connecting.
    pub fn new(settings: SftpSettings) -> Result<Self> {
        let endpoint = settings.endpoint()?;
        Ok(SftpTransport {
            settings,
            endpoint,
            conn: None,
        })
    }

    /// The settings this transport was made from.
    pub fn settings(&self) -> &SftpSettings {
        &self.settings
    }

    /// The resolved host, port, user and folder.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether a session is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    fn connection(&mut self) -> Result<&mut Connection> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.settings, &self.endpoint)?);
        }
        let conn = self.conn.as_mut().ok_or_else(|| Error::Connection {
            address: self.endpoint.address(),
            during: "connecting".to_owned(),
            detail: "no session".to_owned(),
        })?;
        if !conn.dir_ready {
            ensure_dir(
                conn,
                &self.endpoint.remote_dir,
                self.settings.create_remote_dir,
            )?;
            conn.dir_ready = true;
        }
        Ok(conn)
    }

    /// Runs `op` on the session; drops the session when the error shows it is broken.
    fn with_conn<T>(&mut self, op: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let conn = self.connection()?;
        let result = op(conn);
        if let Err(e) = &result
            && breaks_session(e)
        {
            abandon(&mut self.conn);
        }
        result
    }

    fn open_stream(&mut self, remote_name: &str) -> Result<SftpStream<'_>> {
        validate_name(remote_name)?;
        let dir = self.endpoint.remote_dir.clone();
        let part = names::join(&dir, &part_name(remote_name));
        let target = names::join(&dir, remote_name);
        let file = self.with_conn(|conn| {
            conn.sftp
                .open_mode(
                    Path::new(&part),
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                    0o644,
                    OpenType::File,
                )
                .map_err(|e| {
                    if is_not_found(&e) {
                        // The folder vanished since it was checked.
                        conn.dir_ready = false;
                        Error::RemoteDirMissing { dir: dir.clone() }
                    } else {
                        sftp_error(&conn.peer, &part, "creating the temporary file", &e)
                    }
                })
        })?;
        let peer = Peer {
            address: self.endpoint.address(),
            timeout: self.settings.operation_timeout,
        };
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let worker = std::thread::Builder::new()
            .name("sftp-upload".to_owned())
            .spawn(move || write_chunks(file, &rx, &free_tx))
            .map_err(|e| Error::Local {
                path: part.clone().into(),
                during: "starting the upload thread for".to_owned(),
                detail: e.to_string(),
            })?;
        Ok(SftpStream {
            conn: &mut self.conn,
            peer,
            part,
            target,
            buf: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            free: free_rx,
            worker: Some(worker),
            written: 0,
            started: Instant::now(),
            error: None,
            finished: false,
        })
    }

    /// Removes a `.part` file left by failed attempts, if the server can be reached.
    fn remove_leftover(&mut self, remote_name: &str) {
        let part = names::join(&self.endpoint.remote_dir, &part_name(remote_name));
        let _ = self.with_conn(|conn| {
            conn.sftp
                .unlink(Path::new(&part))
                .map_err(|e| sftp_error(&conn.peer, &part, "removing", &e))
        });
    }
}

impl Transport for SftpTransport {
    fn describe(&self) -> String {
        let e = &self.endpoint;
        format!(
            "sftp://{}@{}/{}",
            e.username,
            e.address(),
            e.remote_dir.trim_start_matches('/')
        )
    }

    fn check(&mut self) -> Result<CheckReport> {
        let destination = self.describe();
        let probe = names::join(
            &self.endpoint.remote_dir,
            &format!(".liveramp-check-{}", std::process::id()),
        );
        self.with_conn(|conn| {
            let mut file = conn
                .sftp
                .open_mode(
                    Path::new(&probe),
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                    0o644,
                    OpenType::File,
                )
                .map_err(|e| sftp_error(&conn.peer, &probe, "creating a probe file", &e))?;
            let written = file
                .write_all(b"liveramp check\n")
                .map_err(|e| io_error(&conn.peer, "writing a probe file", &e))
                .and_then(|()| {
                    file.close()
                        .map_err(|e| sftp_error(&conn.peer, &probe, "closing a probe file", &e))
                });
            if let Err(e) = written {
                drop(file);
                let _ = conn.sftp.unlink(Path::new(&probe));
                return Err(e);
            }
            conn.sftp
                .unlink(Path::new(&probe))
                .map_err(|e| sftp_error(&conn.peer, &probe, "removing a probe file", &e))?;
            let mut report = CheckReport::new(destination, conn.verified_by.clone());
            report.host_key_fingerprint = Some(conn.fingerprint.clone());
            report.warnings.clone_from(&conn.warnings);
            Ok(report)
        })
    }

    fn begin(&mut self, remote_name: &str) -> Result<Box<dyn UploadStream + '_>> {
        Ok(Box::new(self.open_stream(remote_name)?))
    }

    fn upload_with(
        &mut self,
        remote_name: &str,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<Receipt> {
        validate_name(remote_name)?;
        let policy = self.settings.retry.clone();
        let mut opened = false;
        let result = retry(&policy, remote_name, |_| {
            let mut stream = Box::new(self.open_stream(remote_name)?);
            opened = true;
            run_producer(stream.as_mut(), remote_name, produce)?;
            stream.commit()
        });
        if result.is_err() && opened {
            self.remove_leftover(remote_name);
        }
        result
    }

    fn list(&mut self) -> Result<Vec<String>> {
        let dir = self.endpoint.remote_dir.clone();
        self.with_conn(|conn| {
            let entries = conn
                .sftp
                .readdir(Path::new(&dir))
                .map_err(|e| sftp_error(&conn.peer, &dir, "listing", &e))?;
            let mut names: Vec<String> = entries
                .into_iter()
                .filter(|(_, stat)| stat.is_file())
                .filter_map(|(path, _)| path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            names.sort();
            Ok(names)
        })
    }

    fn close(&mut self) -> Result<()> {
        if let Some(conn) = self.conn.take() {
            drop(conn.raw);
            drop(conn.sftp);
            conn.session.disconnect(None, "done", None).map_err(|e| {
                ssh_error(&conn.peer.address, "disconnecting", &e, conn.peer.timeout)
            })?;
        }
        Ok(())
    }

    fn new_session(&self) -> Result<Box<dyn Transport>> {
        Ok(Box::new(SftpTransport {
            settings: self.settings.clone(),
            endpoint: self.endpoint.clone(),
            conn: None,
        }))
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

fn connect(settings: &SftpSettings, endpoint: &Endpoint) -> Result<Connection> {
    let address = endpoint.address();
    let timeout = settings.connect_timeout;
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| Error::Connect {
            address: address.clone(),
            detail: format!("cannot resolve the host name: {e}"),
        })?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    let mut tcp = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some(tcp) = tcp else {
        return Err(match last.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
                address,
                during: "opening the TCP connection".to_owned(),
                after: timeout,
            },
            _ => Error::Connect {
                address,
                detail: last.to_string(),
            },
        });
    };
    let _ = tcp.set_nodelay(true);

    let mut session = Session::new().map_err(|e| ssh_error(&address, "starting", &e, timeout))?;
    session.set_timeout(millis(timeout));
    for method in [MethodType::CryptCs, MethodType::CryptSc] {
        let ciphers: Vec<&str> = session
            .supported_algs(method)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| ALLOWED_CIPHERS.contains(c))
            .collect();
        if !ciphers.is_empty() {
            // Only fails when libssh2 knows none of them; its defaults then apply.
            let _ = session.method_pref(method, &ciphers.join(","));
        }
    }
    session.set_tcp_stream(tcp);
    session
        .handshake()
        .map_err(|e| ssh_error(&address, "performing the SSH handshake", &e, timeout))?;

    let (fingerprint, verified_by, warnings) = {
        let (blob, _) = session.host_key().ok_or_else(|| Error::Connection {
            address: address.clone(),
            during: "reading the server's host key".to_owned(),
            detail: "the server sent no host key".to_owned(),
        })?;
        verify_host_key(settings, endpoint, blob)?
    };

    authenticate(&session, settings, endpoint, &address)?;
    session.set_timeout(millis(settings.operation_timeout));
    let sftp = session
        .sftp()
        .map_err(|e| ssh_error(&address, "starting the SFTP subsystem", &e, timeout))?;
    tracing::debug!(
        "connected to {address} as {} (cipher {}, MAC {})",
        endpoint.username,
        session.methods(MethodType::CryptCs).unwrap_or("?"),
        session.methods(MethodType::MacCs).unwrap_or("?")
    );
    Ok(Connection {
        session,
        sftp,
        peer: Peer {
            address,
            timeout: settings.operation_timeout,
        },
        fingerprint,
        verified_by,
        warnings,
        dir_ready: false,
        raw: None,
        raw_tried: false,
    })
}

fn verify_host_key(
    settings: &SftpSettings,
    endpoint: &Endpoint,
    blob: &[u8],
) -> Result<(String, String, Vec<String>)> {
    let fingerprint = hostkey::fingerprint(blob);
    let key_type = hostkey::key_type(blob);
    let host = hostkey::host_pattern_name(&endpoint.host, endpoint.port);
    if settings.insecure_skip_host_key_check {
        let warning = format!(
            "host key verification is OFF (insecure_skip_host_key_check = true): the server \
             {host} presented {key_type} key {fingerprint}; pin it with \
             `host_key_fingerprint = \"{fingerprint}\"` and remove the insecure setting"
        );
        tracing::warn!("{warning}");
        return Ok((fingerprint, "NOT VERIFIED".to_owned(), vec![warning]));
    }
    let mut verified_by = Vec::new();
    if let Some(pin) = &settings.host_key_fingerprint {
        if !hostkey::pin_matches(pin, &fingerprint) {
            return Err(Error::HostKeyMismatch {
                host,
                expected: format!("the pinned fingerprint {}", pin.trim()),
                key_type,
                fingerprint,
            });
        }
        verified_by.push("pinned fingerprint".to_owned());
    }
    if let Some(path) = &settings.known_hosts_path {
        match hostkey::lookup(path, &endpoint.host, endpoint.port, blob)? {
            Lookup::Match => verified_by.push(format!("known_hosts {}", path.display())),
            Lookup::Mismatch(recorded) => {
                return Err(Error::HostKeyMismatch {
                    host,
                    expected: format!("{} (from {})", recorded.join(" or "), path.display()),
                    key_type,
                    fingerprint,
                });
            }
            Lookup::NotFound if verified_by.is_empty() => {
                return Err(Error::HostKeyUnknown {
                    host,
                    known_hosts: path.display().to_string(),
                    key_type,
                    fingerprint,
                });
            }
            // Pinned and matching: the pin is enough.
            Lookup::NotFound => {}
        }
    }
    Ok((fingerprint, verified_by.join(" and "), Vec::new()))
}

fn authenticate(
    session: &Session,
    settings: &SftpSettings,
    endpoint: &Endpoint,
    address: &str,
) -> Result<()> {
    let user = &endpoint.username;
    let auth_error = |method: &str, e: &ssh2::Error| -> Error {
        match e.code() {
            ErrorCode::Session(ERR_AUTHENTICATION_FAILED | ERR_PUBLICKEY_UNVERIFIED) => {
                Error::Authentication {
                    username: user.clone(),
                    address: address.to_owned(),
                    method: method.to_owned(),
                    detail: e.message().to_owned(),
                }
            }
            _ => ssh_error(address, "authenticating", e, settings.connect_timeout),
        }
    };
    let mut last = None;
    if let Some(key) = &settings.private_key_path {
        if let Err(e) = std::fs::metadata(key) {
            return Err(Error::PrivateKey {
                path: key.clone(),
                detail: e.to_string(),
            });
        }
        let passphrase = settings
            .private_key_passphrase
            .as_ref()
            .map(ExposeSecret::expose_secret);
        let method = format!("public key {}", key.display());
        match session.userauth_pubkey_file(user, None, key, passphrase) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => {
                last = Some(Error::Authentication {
                    username: user.clone(),
                    address: address.to_owned(),
                    method,
                    detail: "the server asks for more authentication steps".to_owned(),
                });
            }
            Err(e) if e.code() == ErrorCode::Session(ERR_FILE) => {
                return Err(Error::PrivateKey {
                    path: key.clone(),
                    detail: format!(
                        "{} (wrong or missing passphrase, or an unsupported format)",
                        e.message()
                    ),
                });
            }
            Err(e) => {
                let err = auth_error(&method, &e);
                if err.is_transient() {
                    return Err(err);
                }
                last = Some(err);
            }
        }
    }
    if let Some(password) = &settings.password {
        match session.userauth_password(user, password.expose_secret()) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => {
                last = Some(Error::Authentication {
                    username: user.clone(),
                    address: address.to_owned(),
                    method: "password".to_owned(),
                    detail: "the server asks for more authentication steps".to_owned(),
                });
            }
            Err(e) => last = Some(auth_error("password", &e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::InvalidSettings("neither `password` nor `private_key_path` is set".to_owned())
    }))
}

fn ensure_dir(conn: &mut Connection, dir: &str, create: bool) -> Result<()> {
    let address = conn.peer.clone();
    match conn.sftp.stat(Path::new(dir)) {
        Ok(stat) if stat.is_dir() => Ok(()),
        Ok(_) => Err(Error::Sftp {
            path: dir.to_owned(),
            during: "using the remote folder".to_owned(),
            detail: "it exists but is not a folder; fix `remote_dir`".to_owned(),
            transient: false,
        }),
        Err(e) if is_not_found(&e) => {
            if !create {
                return Err(Error::RemoteDirMissing {
                    dir: dir.to_owned(),
                });
            }
            let mut prefix = String::new();
            for (i, part) in dir.split('/').enumerate() {
                if i > 0 {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if part.is_empty() || part == "." {
                    continue;
                }
                match conn.sftp.stat(Path::new(&prefix)) {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => conn
                        .sftp
                        .mkdir(Path::new(&prefix), 0o755)
                        .map_err(|e| sftp_error(&address, &prefix, "creating the folder", &e))?,
                    Err(e) => return Err(sftp_error(&address, &prefix, "checking", &e)),
                }
            }
            tracing::info!("created remote folder {dir}");
            Ok(())
        }
        Err(e) => Err(sftp_error(&address, dir, "checking the remote folder", &e)),
    }
}

/// Drops a broken session without waiting for the server: closing handles and channels on a
/// dead connection would otherwise wait the whole operation timeout for each.
fn abandon(conn: &mut Option<Connection>) {
    if let Some(conn) = conn.take() {
        conn.session.set_timeout(1);
    }
}

fn is_not_found(e: &ssh2::Error) -> bool {
    matches!(e.code(), ErrorCode::SFTP(FX_NO_SUCH_FILE | FX_NO_SUCH_PATH))
}

/// Whether an error means the session can no longer be used.
fn breaks_session(e: &Error) -> bool {
    matches!(e, Error::Connection { .. } | Error::Timeout { .. })
}

fn ssh_error(address: &str, during: &str, e: &ssh2::Error, timeout: Duration) -> Error {
    match e.code() {
        ErrorCode::Session(ERR_TIMEOUT) => Error::Timeout {
            address: address.to_owned(),
            during: during.to_owned(),
            after: timeout,
        },
        _ => Error::Connection {
            address: address.to_owned(),
            during: during.to_owned(),
            detail: e.message().to_owned(),
        },
    }
}

fn sftp_error(peer: &Peer, path: &str, during: &str, e: &ssh2::Error) -> Error {
    let address = &peer.address;
    match e.code() {
        ErrorCode::SFTP(FX_PERMISSION_DENIED) => Error::PermissionDenied {
            path: path.to_owned(),
            during: during.to_owned(),
        },
        ErrorCode::SFTP(FX_NO_CONNECTION | FX_CONNECTION_LOST) => Error::Connection {
            address: address.to_owned(),
            during: format!("{during} `{path}`"),
            detail: e.message().to_owned(),
        },
        ErrorCode::SFTP(code) => Error::Sftp {
            path: path.to_owned(),
            during: during.to_owned(),
            detail: format!("{} (SFTP status {code})", e.message()),
            transient: false,
        },
        ErrorCode::Session(_) => ssh_error(address, &format!("{during} `{path}`"), e, peer.timeout),
    }
}

fn io_error(peer: &Peer, during: &str, e: &io::Error) -> Error {
    let address = &peer.address;
    if e.kind() == io::ErrorKind::TimedOut {
        Error::Timeout {
            address: address.to_owned(),
            during: during.to_owned(),
            after: peer.timeout,
        }
    } else {
        Error::Connection {
            address: address.to_owned(),
            during: during.to_owned(),
            detail: e.to_string(),
        }
    }
}

/// The network thread: writes each chunk with one libssh2 call (pipelined inside libssh2),
/// hands the buffer back, and returns the file handle with the byte count or the error.
fn write_chunks(
    mut file: File,
    chunks: &Receiver<Vec<u8>>,
    free: &mpsc::Sender<Vec<u8>>,
) -> (File, io::Result<u64>) {
    let mut sent = 0u64;
    for mut chunk in chunks {
        if let Err(e) = file.write_all(&chunk) {
            return (file, Err(e));
        }
        sent += chunk.len() as u64;
        chunk.clear();
        let _ = free.send(chunk);
    }
    (file, Ok(sent))
}

struct SftpStream<'a> {
    conn: &'a mut Option<Connection>,
    peer: Peer,
    part: String,
    target: String,
    buf: Vec<u8>,
    tx: Option<SyncSender<Vec<u8>>>,
    free: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<(File, io::Result<u64>)>>,
    written: u64,
    started: Instant,
    error: Option<Error>,
    finished: bool,
}

impl SftpStream<'_> {
    /// Sends the filled buffer to the network thread.
    fn ship(&mut self) -> Result<()> {
        let next = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.tx.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The network thread stopped: it failed.
            _ => Err(self
                .stop_worker()
                .err()
                .unwrap_or_else(|| Error::Connection {
                    address: self.peer.address.clone(),
                    during: format!("writing `{}`", self.part),
                    detail: "the upload thread stopped".to_owned(),
                })),
        }
    }

    /// Stops the network thread, returning the open file and the bytes it wrote.
    fn stop_worker(&mut self) -> Result<(File, u64)> {
        self.tx = None;
        let joined = self.worker.take().map(JoinHandle::join);
        let during = format!("writing `{}`", self.part);
        match joined {
            Some(Ok((file, Ok(sent)))) => Ok((file, sent)),
            Some(Ok((file, Err(e)))) => {
                let err = io_error(&self.peer, &during, &e);
                if breaks_session(&err) {
                    abandon(self.conn);
                }
                drop(file);
                self.on_failure(&err);
                Err(err)
            }
            Some(Err(_)) | None => {
                let err = Error::Connection {
                    address: self.peer.address.clone(),
                    during,
                    detail: "the upload thread stopped unexpectedly".to_owned(),
                };
                self.on_failure(&err);
                Err(err)
            }
        }
    }

    /// After a failure: drop a broken session, else remove the temporary file.
    fn on_failure(&mut self, err: &Error) {
        self.finished = true;
        if breaks_session(err) {
            abandon(self.conn);
        } else {
            self.remove_part();
        }
    }

    fn remove_part(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            match conn.sftp.unlink(Path::new(&self.part)) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    if breaks_session(&sftp_error(&conn.peer, &self.part, "removing", &e)) {
                        abandon(self.conn);
                    }
                }
            }
        }
    }

    fn publish(&mut self) -> Result<Receipt> {
        if let Some(err) = self.error.take() {
            self.on_failure(&err);
            return Err(err);
        }
        if !self.buf.is_empty() {
            self.ship()?;
        }
        let (mut file, sent) = self.stop_worker()?;
        let peer = self.peer.clone();
        let part = self.part.clone();
        let fail = |this: &mut Self, err: Error| -> Error {
            this.on_failure(&err);
            err
        };
        if sent != self.written {
            let err = Error::SizeMismatch {
                path: part,
                expected: self.written,
                actual: sent,
            };
            return Err(fail(self, err));
        }
        match file.fsync() {
            Ok(()) => {}
            Err(e) if e.code() == ErrorCode::SFTP(FX_OP_UNSUPPORTED) => {
                tracing::debug!("the server does not support fsync; relying on close");
            }
            Err(e) => return Err(fail(self, sftp_error(&peer, &part, "syncing", &e))),
        }
        let size = match file.stat() {
            Ok(stat) => stat.size.unwrap_or(0),
            Err(e) => {
                return Err(fail(
                    self,
                    sftp_error(&peer, &part, "checking the size of", &e),
                ));
            }
        };
        if let Err(e) = file.close() {
            return Err(fail(self, sftp_error(&peer, &part, "closing", &e)));
        }
        drop(file);
        if size != self.written {
            let err = Error::SizeMismatch {
                path: part,
                expected: self.written,
                actual: size,
            };
            return Err(fail(self, err));
        }
        let Some(conn) = self.conn.as_mut() else {
            let err = Error::Connection {
                address: peer.address,
                during: "renaming".to_owned(),
                detail: "the session was closed".to_owned(),
            };
            return Err(fail(self, err));
        };
        match rename_into_place(conn, &part, &self.target) {
            Ok(replaced) => {
                self.finished = true;
                tracing::info!(
                    "uploaded {} bytes to {}{}",
                    self.written,
                    self.target,
                    if replaced {
                        " (replaced the previous file)"
                    } else {
                        ""
                    }
                );
                Ok(Receipt::new(
                    self.target.clone(),
                    self.written,
                    self.started.elapsed(),
                    replaced,
                ))
            }
            Err(err) => Err(fail(self, err)),
        }
    }

    fn discard(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.tx = None;
        if let Some(worker) = self.worker.take() {
            match worker.join() {
                Ok((file, Ok(_))) => drop(file),
                Ok((file, Err(e))) => {
                    if breaks_session(&io_error(&self.peer, "writing", &e)) {
                        abandon(self.conn);
                        drop(file);
                        return;
                    }
                    drop(file);
                }
                Err(_) => {}
            }
        }
        self.remove_part();
    }
}

/// Renames the temporary file to the final name; returns whether a file was replaced.
fn rename_into_place(conn: &mut Connection, part: &str, target: &str) -> Result<bool> {
    let address = conn.peer.clone();
    let exists = match conn.sftp.lstat(Path::new(target)) {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => false,
        Err(e) => return Err(sftp_error(&address, target, "checking", &e)),
    };
    if !exists {
        match conn.sftp.rename(Path::new(part), Path::new(target), None) {
            Ok(()) => return Ok(false),
            Err(e) => {
                // Someone created the target meanwhile: replace it below; else a real error.
                if conn.sftp.lstat(Path::new(target)).is_err() {
                    return Err(sftp_error(&address, part, "renaming", &e));
                }
            }
        }
    }
    if !conn.raw_tried {
        conn.raw_tried = true;
        match RawSftp::open(&conn.session) {
            Ok(raw) => conn.raw = Some(raw),
            Err(e) => tracing::debug!("no second SFTP channel for posix-rename: {e}"),
        }
    }
    if let Some(raw) = conn.raw.as_mut().filter(|r| r.has_posix_rename()) {
        return match raw.posix_rename(part, target) {
            Ok(()) => Ok(true),
            Err(detail) => Err(Error::Sftp {
                path: part.to_owned(),
                during: format!("replacing `{target}` (posix-rename)"),
                detail,
                transient: false,
            }),
        };
    }
    // No atomic replace on this server: remove, then rename. Readers may briefly see no file,
    // never a partial one.
    match conn.sftp.unlink(Path::new(target)) {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(sftp_error(&address, target, "removing the previous", &e)),
    }
    conn.sftp
        .rename(Path::new(part), Path::new(target), None)
        .map_err(|e| sftp_error(&address, part, "renaming", &e))?;
    Ok(true)
}

impl Write for SftpStream<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.finished || self.tx.is_none() {
            return Err(io::Error::other(
                "the upload has already failed or finished",
            ));
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.written += n as u64;
        if self.buf.len() == CHUNK
            && let Err(err) = self.ship()
        {
            {
                let message = err.to_string();
                self.error = Some(err);
                return Err(io::Error::other(message));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Data is sent in large chunks; `commit` sends the rest.
        Ok(())
    }
}

impl UploadStream for SftpStream<'_> {
    fn bytes_written(&self) -> u64 {
        self.written
    }

    fn commit(mut self: Box<Self>) -> Result<Receipt> {
        self.publish()
    }

    fn abort(mut self: Box<Self>) -> Result<()> {
        self.discard();
        Ok(())
    }

    fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

impl Drop for SftpStream<'_> {
    fn drop(&mut self) {
        self.discard();
    }
}
