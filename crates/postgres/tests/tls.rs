//! TLS to a real PostgreSQL that refuses plain TCP (`hostssl` only), with libpq's meanings of
//! `sslmode`: `require` encrypts, `verify-full` also checks the certificate against
//! `sslrootcert`; a mode the server cannot meet fails with a message that says what to change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_postgres::{Error, Pool, PoolOptions};
use liveramp_test_support::postgres::{PASSWORD, PgCluster};

/// Whether the pool's connection is encrypted, as the server sees it.
fn encrypted(pool: &Pool) -> (bool, String) {
    let mut conn = pool.get().unwrap();
    let row = conn
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn failed_detail(e: &Error) -> &str {
    match e {
        Error::Failed { detail, .. } => detail,
        other => panic!("not Failed: {other:?}"),
    }
}

#[test]
fn sslmode_require_connects_over_tls_and_plain_text_is_refused() {
    let pg = PgCluster::start_tls();
    let url = pg.url("postgres");

    let pool = Pool::connect(&format!("{url}?sslmode=require"), PoolOptions::default()).unwrap();
    let (ssl, version) = encrypted(&pool);
    assert!(ssl, "the connection is encrypted");
    assert!(version.starts_with("TLSv1."), "{version}");
    assert_eq!(
        pool.database(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );

    // No sslmode is libpq's `prefer`: TLS, because the server offers it.
    let pool = Pool::connect(&url, PoolOptions::default()).unwrap();
    assert!(encrypted(&pool).0);

    // Plain text: the server's pg_hba rejects it, and the message says so.
    let e = Pool::connect(&format!("{url}?sslmode=disable"), PoolOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("no encryption"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[test]
fn verify_full_checks_the_certificate_against_sslrootcert() {
    let pg = PgCluster::start_tls();
    let ca = pg.ca_pem();
    let base = pg.url("postgres");

    let url = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
    let pool = Pool::connect(&url, PoolOptions::default()).unwrap();
    assert!(encrypted(&pool).0);

    // By a name the certificate is issued for, too.
    let by_name = url.replace("@127.0.0.1:", "@localhost:");
    assert!(encrypted(&Pool::connect(&by_name, PoolOptions::default()).unwrap()).0);

    // The system's roots do not know the throw-away authority: refused, not transient, and
    // the message says what to give.
    let e = Pool::connect(
        &format!("{base}?sslmode=verify-full"),
        PoolOptions::default(),
    )
    .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    let detail = failed_detail(&e);
    assert!(
        detail.contains("certificate verify failed")
            && detail.contains("give the authority that signed it with sslrootcert=PATH"),
        "{detail}"
    );
    assert!(!e.to_string().contains(PASSWORD));

    // Another authority than the one that signed it: refused.
    let other = PgCluster::start_tls();
    let wrong = format!(
        "{base}?sslmode=verify-ca&sslrootcert={}",
        other.ca_pem().display()
    );
    let e = Pool::connect(&wrong, PoolOptions::default()).unwrap_err();
    assert!(
        failed_detail(&e).contains("certificate verify failed"),
        "{e}"
    );
}

#[test]
fn sslmode_require_against_a_server_without_tls_fails_saying_so() {
    let pg = PgCluster::start();
    let e = Pool::connect(
        &format!("{}?sslmode=require", pg.url("postgres")),
        PoolOptions::default(),
    )
    .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    let detail = failed_detail(&e);
    assert!(
        detail.contains("server does not support TLS")
            && detail.contains("the URL asks for TLS (sslmode=require)"),
        "{detail}"
    );
}
