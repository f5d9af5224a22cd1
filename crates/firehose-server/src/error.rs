//! The one error type of this crate.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start, or stopped.
///
/// Requests never produce an `Error`: every bad request gets its HTTP answer. These are the
/// problems an operator must fix (a missing API key, a port in use, an unreadable
/// certificate), each saying what to do. No variant ever contains the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No API key is configured and the address is reachable from other machines: anyone
    /// could write to the store. Nothing was bound.
    #[error(
        "no API key is configured and {addr} is not a loopback address: set the environment \
         variable {env_var} to the apiKey entered in mParticle's connection settings (or \
         listen on 127.0.0.1 for local tests)"
    )]
    NoApiKeyOnPublicAddress {
        /// The address the server was asked to listen on.
        addr: SocketAddr,
        /// The environment variable the key is read from ([`ServerConfig::api_key_env`](crate::ServerConfig::api_key_env)).
        env_var: String,
    },
    /// The operators' status page has no key: a variable for it is configured but unset or
    /// empty, or none is configured and the address is reachable from other machines. Nothing
    /// was bound.
    #[error(
        "the status page on {addr} has no key: {}",
        match env_var {
            Some(var) => format!(
                "{setting} names the environment variable {var}, which is not set or empty; \
                 set it to the key operators will send (as a bearer token or HTTP basic \
                 password)"
            ),
            None => format!(
                "{addr} is not a loopback address, so {setting} must name an environment \
                 variable holding the key operators will send (or listen on 127.0.0.1)"
            ),
        }
    )]
    NoAdminKey {
        /// The status page's address.
        addr: SocketAddr,
        /// The setting naming the key's variable (`[server] admin_api_key_env`).
        setting: String,
        /// The variable, when one is configured.
        env_var: Option<String>,
    },
    /// The address cannot be listened on (in use, not an address of this machine, a
    /// privileged port), or a listener given to
    /// [`start_with_listener`](crate::start_with_listener) cannot be used.
    #[error(
        "cannot listen on {addr} ({source}): check that no other process uses the port and \
         that the address belongs to this machine"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The TLS certificate or key cannot be read or used.
    #[error("cannot use the TLS {what} {} ({detail})", path.display())]
    Tls {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The PEM file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A setting of [`ServerConfig`](crate::ServerConfig) is out of range.
    #[error("invalid server setting {setting}: {reason}")]
    InvalidConfig {
        /// The field of `ServerConfig`, such as `max_body_bytes`.
        setting: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The server's threads could not be started.
    #[error("cannot start the server's threads ({source})")]
    Runtime {
        /// The operating system's error.
        source: io::Error,
    },
    /// The server's thread ended abnormally (a bug): see the log.
    #[error("the server thread stopped abnormally: {reason}")]
    Crashed {
        /// What is known about it.
        reason: String,
    },
}
