//! TLS with rustls (the ring provider): loading the PEM certificate chain and key.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;
use crate::error::Error;

fn tls_error(what: &'static str, path: &Path, detail: impl Into<String>) -> Error {
    Error::Tls {
        what,
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Reads the files and builds the acceptor (TLS 1.2 and 1.3, HTTP/1.1 by ALPN).
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, Error> {
    let cert_path = &files.cert_path;
    let key_path = &files.key_path;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| tls_error("certificate", cert_path, pem_problem(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error("certificate", cert_path, pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(tls_error(
            "certificate",
            cert_path,
            "no CERTIFICATE block in the file: give the PEM certificate chain, leaf first",
        ));
    }
    // The error never quotes the key file's content.
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| tls_error("private key", key_path, pem_problem(&e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("certificate", cert_path, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_error(
                "private key",
                key_path,
                format!("it does not fit the certificate or is not supported: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    match e {
        Pem::Io(io) => format!("cannot read it: {io}"),
        Pem::NoItemsFound => "no PEM block of the expected kind in the file".to_owned(),
        _ => "not a valid PEM file".to_owned(),
    }
}
