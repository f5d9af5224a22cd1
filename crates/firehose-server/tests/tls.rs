//! HTTPS with a self-signed certificate made here, and a client that trusts only it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use liveramp_audience_store::{AudienceStore, SqliteStore, StoreOptions};
use liveramp_firehose_server::{Error, ServerConfig, start};

/// A certificate for `localhost` and 127.0.0.1, written as PEM files in `dir`.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.pem())
}

fn trusting(cert_pem: &str) -> ureq::Agent {
    let cert = ureq::tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

#[test]
fn https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path, cert_pem) = self_signed(dir.path());
    let store =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), StoreOptions::default()).unwrap());
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap())
        .with_api_key(KEY)
        .with_tls(&cert_path, &key_path);
    let server = start(&config, store.clone()).unwrap();
    let port = server.local_addr().port();
    let agent = trusting(&cert_pem);

    let body = membership(
        "7a5e0000-0000-4000-8000-000000000001",
        1_767_225_600_000,
        Some(KEY),
        &[profile("1", "a@example.org", 17095, "add")],
    );
    for host in ["localhost", "127.0.0.1"] {
        let mut response = agent
            .post(&format!("https://{host}:{port}/firehose"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .unwrap();
        let answer = Answer::from(&mut response);
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_envelope(&answer.json(), "audience_membership_change_response");
    }
    assert_eq!(store.audience(17095).unwrap().unwrap().members, 1);

    // A client that does not trust the certificate fails; so does plain HTTP.
    let untrusting = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[]))
                .unversioned_rustls_crypto_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .build(),
        )
        .build()
        .new_agent();
    assert!(
        untrusting
            .get(&format!("https://localhost:{port}/healthz"))
            .call()
            .is_err()
    );
    let plain = raw(
        server.local_addr(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        plain.as_deref().is_none_or(|p| !p.contains("200 OK")),
        "{plain:?}"
    );
    // The server still serves.
    let mut health = agent
        .get(&format!("https://localhost:{port}/healthz"))
        .call()
        .unwrap();
    assert_eq!(Answer::from(&mut health).status, 200);
    server.shutdown().unwrap();
}

#[test]
fn unusable_certificates_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path, _) = self_signed(dir.path());
    let store: Arc<dyn AudienceStore> =
        Arc::new(SqliteStore::open(dir.path().join("a.db"), StoreOptions::default()).unwrap());
    let config = |cert: &std::path::Path, key: &std::path::Path| {
        ServerConfig::new("127.0.0.1:0".parse().unwrap()).with_tls(cert, key)
    };
    let missing = dir.path().join("missing.pem");
    let err = start(&config(&missing, &key_path), Arc::clone(&store)).unwrap_err();
    assert!(
        matches!(&err, Error::Tls { what: "certificate", path, .. } if *path == missing),
        "{err:?}"
    );
    // The key where the certificate belongs, and the certificate where the key belongs.
    let err = start(&config(&key_path, &key_path), Arc::clone(&store)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                what: "certificate",
                ..
            }
        ),
        "{err:?}"
    );
    let err = start(&config(&cert_path, &cert_path), Arc::clone(&store)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                what: "private key",
                ..
            }
        ),
        "{err:?}"
    );
    // The message never shows the key file's content.
    let key_pem = std::fs::read_to_string(&key_path).unwrap();
    let body_line = key_pem.lines().nth(1).unwrap();
    assert!(!err.to_string().contains(body_line));
    // Another certificate's key.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key, _) = self_signed(other.path());
    let err = start(&config(&cert_path, &other_key), store).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                what: "private key",
                ..
            }
        ),
        "{err:?}"
    );
}
