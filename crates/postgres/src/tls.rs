//! TLS to the database, as the URL's `sslmode` (and `sslrootcert`) ask, with libpq's meanings.

use std::path::PathBuf;

use postgres::config::SslMode;

use crate::Error;

/// How the URL asks the connection to be protected (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `disable`: never TLS.
    Disable,
    /// `prefer` (libpq's default, and ours): TLS when the server offers it, the certificate
    /// not checked; plain text otherwise.
    Prefer,
    /// `require`: TLS or no connection; the certificate not checked (as libpq, when no root
    /// certificate is given: use `verify-full` to check it).
    Require,
    /// `verify-ca`: TLS, the certificate signed by a trusted authority (`sslrootcert`, or the
    /// system's roots), the host name not checked.
    VerifyCa,
    /// `verify-full`: TLS, the certificate trusted and issued for the host connected to.
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, Error> {
        Ok(match value {
            "disable" => Mode::Disable,
            // libpq's `allow` tries plain text first; TLS when offered is the safer reading.
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => {
                return Err(Error::Url {
                    detail: format!(
                        "sslmode={other} is not one of disable, allow, prefer, require, \
                         verify-ca, verify-full"
                    ),
                });
            }
        })
    }

    /// The mode as written in a URL.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }

    /// The client library's setting for this mode.
    pub(crate) fn ssl_mode(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

/// The TLS settings taken out of a connection URL (or `key=value` string), and the rest for
/// the client library, which knows neither `verify-*` nor `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) root_cert: Option<PathBuf>,
    pub(crate) rest: String,
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let digit = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        match (
            bytes[at],
            digit(bytes.get(at + 1)),
            digit(bytes.get(at + 2)),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                at += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits the TLS settings off `url`.
pub(crate) fn settings(url: &str) -> Result<Settings, Error> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, Error> {
        match key {
            "sslmode" => mode = Some(Mode::parse(value)?),
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&percent_decode(k), &percent_decode(v))? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        // `host=... sslmode=require`: the two keys are taken when written without quotes.
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            let (k, v) = token.split_once('=').unwrap_or((token, ""));
            if !take(k.trim(), v.trim())? {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    let mode = mode.unwrap_or(if root_cert.is_some() {
        // libpq: a root certificate makes the default check the authority.
        Mode::VerifyCa
    } else {
        Mode::Prefer
    });
    Ok(Settings {
        mode,
        root_cert,
        rest,
    })
}

/// The TLS connector for `settings`.
pub(crate) fn connector(settings: &Settings) -> Result<native_tls::TlsConnector, Error> {
    let mut builder = native_tls::TlsConnector::builder();
    match settings.mode {
        Mode::Disable | Mode::Prefer | Mode::Require => {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        Mode::VerifyCa => {
            builder.danger_accept_invalid_hostnames(true);
        }
        Mode::VerifyFull => {}
    }
    if let Some(path) = &settings.root_cert {
        let pem = std::fs::read(path).map_err(|e| Error::Tls {
            detail: format!(
                "cannot read sslrootcert {} ({e}): give the PEM file of the certificate \
                 authority that signed the database's certificate",
                path.display()
            ),
        })?;
        let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| Error::Tls {
            detail: format!(
                "sslrootcert {} is not a PEM certificate ({e})",
                path.display()
            ),
        })?;
        // As libpq: the given authority, not the system's, is trusted.
        builder
            .disable_built_in_roots(true)
            .add_root_certificate(cert);
    }
    builder.build().map_err(|e| Error::Tls {
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_sslmode_and_sslrootcert_out_of_a_url() {
        let s = settings(
            "postgres://app:pw@db:5432/x?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(s.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(s.rest, "postgres://app:pw@db:5432/x?application_name=a");

        let s = settings("postgres://app@db/x?sslmode=require").unwrap();
        assert_eq!(
            (s.mode, s.rest.as_str()),
            (Mode::Require, "postgres://app@db/x")
        );

        let s = settings("postgres://app@db/x").unwrap();
        assert_eq!(s.mode, Mode::Prefer);

        let s = settings("postgres://app@db/x?sslrootcert=/ca.pem").unwrap();
        assert_eq!(s.mode, Mode::VerifyCa);
    }

    #[test]
    fn takes_them_out_of_a_key_value_string() {
        let s = settings("host=db user=app sslmode=disable dbname=x").unwrap();
        assert_eq!(s.mode, Mode::Disable);
        assert_eq!(s.rest, "host=db user=app dbname=x");
    }

    #[test]
    fn refuses_an_unknown_mode_naming_the_choices() {
        let e = settings("postgres://app:pw@db/x?sslmode=bogus").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the PostgreSQL URL cannot be read (sslmode=bogus is not one of disable, allow, \
             prefer, require, verify-ca, verify-full); it is not shown here because it may hold \
             a password: write it as postgres://USER:PASSWORD@HOST:PORT/DBNAME"
        );
    }

    #[test]
    fn a_missing_root_certificate_says_which_file() {
        let s = settings("postgres://app@db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .unwrap();
        let e = connector(&s).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "cannot set up TLS for PostgreSQL (cannot read sslrootcert /nonexistent/ca.pem"
            ),
            "{e}"
        );
    }
}
