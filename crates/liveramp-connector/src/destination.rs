//! The configuration's destination turned into the one transport value a connector holds.
//!
//! This is the only place that knows which transports exist: a new destination (an object
//! store) is a crate implementing `liveramp_transport::Transport` plus one arm here and one
//! configuration section in `config.rs`. The delivery itself talks only to the trait.

use liveramp_sftp_transport::SftpTransport;
use liveramp_transport::{DirectoryTransport, Transport};

use crate::config::{Config, ConfigError, Destination};
use crate::error::Error;

/// Reads the secrets the destination names by environment variable into its settings, then
/// builds its transport (which connects only when first used).
pub(crate) fn transport_for(config: &mut Config) -> Result<Box<dyn Transport>, Error> {
    let source_file = config.source.clone();
    let problem = |text: String| {
        Error::Config(ConfigError {
            source_file: source_file.clone(),
            problems: vec![text],
        })
    };
    match &mut config.destination {
        // A `[directory]` destination is created when missing, as a delivery always did.
        Destination::Directory { path } => Ok(Box::new(
            DirectoryTransport::new(path.clone()).create_dir(true),
        )),
        Destination::Sftp {
            settings,
            password_env,
            passphrase_env,
        } => {
            if let Some(var) = password_env {
                match std::env::var(var.as_str()) {
                    Ok(value) if !value.is_empty() => settings.password = Some(value.into()),
                    _ => {
                        return Err(problem(format!(
                            "sftp.password_env: the environment variable {var} is not set; \
                             export it with the SFTP password"
                        )));
                    }
                }
            }
            if let Some(var) = passphrase_env {
                match std::env::var(var.as_str()) {
                    Ok(value) if !value.is_empty() => {
                        settings.private_key_passphrase = Some(value.into());
                    }
                    _ => {
                        return Err(problem(format!(
                            "sftp.private_key_passphrase_env: the environment variable {var} is \
                             not set; export it with the private key's passphrase, or remove the \
                             setting if the key has none"
                        )));
                    }
                }
            }
            let transport =
                SftpTransport::new((**settings).clone()).map_err(|source| Error::Transport {
                    action: "set up the SFTP connection",
                    source,
                })?;
            Ok(Box::new(transport))
        }
    }
}

/// What `liveramp check` says it was doing when the destination's check fails.
pub(crate) fn check_action(destination: &Destination) -> &'static str {
    match destination {
        Destination::Directory { .. } => "check the output folder",
        Destination::Sftp { .. } => "check the SFTP server",
    }
}
