//! The PostgreSQL ledger's lease rules, against a real PostgreSQL: two ledgers (two nodes) on
//! one database, one claim at a time, a lease kept alive by renewal, an expired lease taken
//! over, a stale finish refused, a delivered night never claimed again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use liveramp_scheduler::{
    Begin, Claim, Delivered, DeliveredFile, DeliveryId, Error, Ledger, Outcome, PgLedger,
    PgLedgerOptions, RunKey,
};
use liveramp_test_support::postgres::PgCluster;

fn key() -> RunKey {
    DeliveryId::new("acme", "30001", "pii").on(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
}

fn at(s: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, s).unwrap()
}

fn delivered() -> Delivered {
    Delivered {
        files: vec![DeliveredFile {
            name: "3242_30001-PII_2026-12-01.csv".to_owned(),
            rows: 2,
            bytes: 40,
            sha256: "ab".repeat(32),
        }],
        header_fingerprint: "cd".repeat(32),
    }
}

fn options(holder: &str, lease_ms: u64, renew_ms: u64) -> PgLedgerOptions {
    let mut o = PgLedgerOptions::default();
    holder.clone_into(&mut o.holder);
    o.lease = Duration::from_millis(lease_ms);
    o.renew_every = Duration::from_millis(renew_ms);
    o
}

fn claimed(b: Begin) -> Claim {
    match b {
        Begin::Claimed(c) => c,
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[test]
fn one_node_at_a_time_and_a_delivered_night_is_never_claimed_again() {
    let pg = PgCluster::start();
    let url = pg.create_db("ledger");
    let a = PgLedger::open(&url, options("a", 60_000, 20_000)).unwrap();
    let b = PgLedger::open(&url, options("b", 60_000, 20_000)).unwrap();
    assert_eq!(a.schema_version().unwrap(), Some(1));
    let claim = claimed(a.begin(&key(), at(0), false).unwrap());
    assert_eq!(claim.attempt(), 1);
    assert!(matches!(
        b.begin(&key(), at(1), false).unwrap(),
        Begin::Busy
    ));
    assert!(matches!(
        a.begin(&key(), at(1), false).unwrap(),
        Begin::Busy
    ));
    assert_eq!(
        pg.psql("ledger", "SELECT holder, token FROM ledger_leases"),
        "a|1"
    );
    a.finish(claim, at(2), Outcome::Delivered(delivered()))
        .unwrap();
    match b.begin(&key(), at(3), false).unwrap() {
        Begin::AlreadyDelivered(record) => {
            assert_eq!(record.delivered, delivered());
            assert_eq!(record.at, at(2));
        }
        other => panic!("{other:?}"),
    }
    let status = b.status(&key()).unwrap();
    assert_eq!((status.attempts, status.in_progress), (1, false));
    assert_eq!(
        b.last_delivered(&key().delivery)
            .unwrap()
            .unwrap()
            .delivered,
        delivered()
    );
    // Forced, it is claimed again (attempt 2).
    let forced = claimed(b.begin(&key(), at(4), true).unwrap());
    assert_eq!((forced.attempt(), forced.forced()), (2, true));
    b.finish(forced, at(5), Outcome::Failed("stopped".to_owned()))
        .unwrap();
    assert_eq!(
        pg.psql(
            "ledger",
            "SELECT string_agg(event, ',' ORDER BY seq) FROM ledger_entries"
        ),
        "started,delivered,started,failed"
    );
}

#[test]
fn a_renewed_lease_holds_and_a_dropped_claim_releases_at_once() {
    let pg = PgCluster::start();
    let url = pg.create_db("ledger");
    let a = PgLedger::open(&url, options("a", 1_000, 250)).unwrap();
    let b = PgLedger::open(&url, options("b", 1_000, 250)).unwrap();
    let claim = claimed(a.begin(&key(), at(0), false).unwrap());
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(
        matches!(b.begin(&key(), at(1), false).unwrap(), Begin::Busy),
        "renewed every 250 ms, a 1 s lease is still held after 2.5 s"
    );
    drop(claim);
    let taken = claimed(b.begin(&key(), at(2), false).unwrap());
    assert_eq!(taken.attempt(), 2);
    let status = b.status(&key()).unwrap();
    assert_eq!(status.attempts, 2);
    b.finish(taken, at(3), Outcome::Delivered(delivered()))
        .unwrap();
    assert_eq!(
        pg.psql(
            "ledger",
            "SELECT string_agg(event, ',' ORDER BY seq) FROM ledger_entries"
        ),
        "started,failed,started,delivered"
    );
    let interrupted = pg.psql(
        "ledger",
        "SELECT line::json->>'error' FROM ledger_entries WHERE event = 'failed'",
    );
    assert_eq!(
        interrupted,
        "interrupted: attempt 1 (started 2026-12-01T05:00:00+00:00) recorded no outcome (its \
         process stopped or crashed); check whether its files reached LiveRamp"
    );
}

#[test]
fn an_expired_lease_is_taken_over_and_the_stale_finish_is_refused() {
    let pg = PgCluster::start();
    let url = pg.create_db("ledger");
    // `a` renews too rarely to keep its 1 s lease: like a node that stopped (kill -9).
    let a = PgLedger::open(&url, options("a", 1_000, 60_000)).unwrap();
    let b = PgLedger::open(&url, options("b", 1_000, 250)).unwrap();
    let stale = claimed(a.begin(&key(), at(0), false).unwrap());
    assert!(matches!(
        b.begin(&key(), at(0), false).unwrap(),
        Begin::Busy
    ));
    std::thread::sleep(Duration::from_millis(1_500));
    let fresh = claimed(b.begin(&key(), at(2), false).unwrap());
    assert_eq!(fresh.attempt(), 2);
    assert_eq!(
        pg.psql("ledger", "SELECT holder, token FROM ledger_leases"),
        "b|2"
    );
    let e = a
        .finish(stale, at(3), Outcome::Delivered(delivered()))
        .unwrap_err();
    assert!(matches!(e, Error::LeaseLost { .. }));
    assert_eq!(
        e.to_string(),
        "the lease on acme/30001/pii on 2026-12-01 was lost (it expired and another node took \
         the delivery over): this node's outcome is not recorded; the other node's is"
    );
    b.finish(fresh, at(4), Outcome::Delivered(delivered()))
        .unwrap();
    let status = a.status(&key()).unwrap();
    assert_eq!(status.attempts, 2);
    assert_eq!(status.delivered.unwrap().at, at(4));
    assert!(matches!(
        a.begin(&key(), at(5), false).unwrap(),
        Begin::AlreadyDelivered(_)
    ));
    assert_eq!(
        pg.psql(
            "ledger",
            "SELECT string_agg(event, ',' ORDER BY seq) FROM ledger_entries"
        ),
        "started,failed,started,delivered"
    );
}

#[test]
fn an_unreachable_database_is_a_transient_error() {
    let mut pg = PgCluster::start();
    let url = pg.create_db("ledger");
    let a = PgLedger::open(&url, options("a", 60_000, 20_000)).unwrap();
    pg.stop();
    match a.begin(&key(), at(0), false).unwrap_err() {
        Error::Database(e) => assert!(e.is_transient(), "{e}"),
        other => panic!("{other}"),
    }
    pg.start_again();
    let claim = claimed(a.begin(&key(), at(1), false).unwrap());
    a.finish(claim, at(2), Outcome::Delivered(delivered()))
        .unwrap();
}

/// The fence of a claim whose lease runs out fails before any other node can claim the
/// delivery: whoever checks it before each write has stopped writing by the time another node
/// may start. Ordering only, no timing: the holder counts from before its claim was sent, the
/// database from when it committed it.
#[test]
fn a_lapsing_lease_fences_its_holder_before_another_node_can_claim() {
    let pg = PgCluster::start();
    let url = pg.create_db("ledger");
    // `a` never renews within its 1 s lease: a node paused (a long GC, a frozen VM) or cut
    // off from the database.
    let a = PgLedger::open(&url, options("a", 1_000, 60_000)).unwrap();
    let b = PgLedger::open(&url, options("b", 1_000, 250)).unwrap();
    assert!(a.leases() && b.leases());
    let stale = claimed(a.begin(&key(), at(0), false).unwrap());
    let fence = stale.fence();
    assert!(fence.is_lease());
    assert!(fence.is_held(), "held right after the claim");
    fence.check().unwrap();
    let mut fence_failed_first = false;
    let fresh = loop {
        let held_before = fence.is_held();
        match b.begin(&key(), at(1), false).unwrap() {
            Begin::Claimed(c) => {
                assert!(!held_before, "b claimed while a's fence still let a write");
                break c;
            }
            Begin::Busy => fence_failed_first |= !held_before,
            other @ Begin::AlreadyDelivered(_) => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        fence_failed_first,
        "a's fence failed while b was still refused (the safety margin)"
    );
    let e = fence.check().unwrap_err();
    assert_eq!(
        e.to_string(),
        "the lease on acme/30001/pii on 2026-12-01 was lost (it expired and another node took \
         the delivery over): this node's outcome is not recorded; the other node's is"
    );
    // b's own fence holds while it renews, long past the lease.
    let own = fresh.fence();
    std::thread::sleep(Duration::from_secs(2));
    assert!(own.is_held(), "renewals keep the fence");
    b.finish(fresh, at(2), Outcome::Delivered(delivered()))
        .unwrap();
    assert!(!own.is_held(), "a finished claim holds nothing");
    drop(stale);
}

#[test]
fn a_claim_of_a_ledger_on_one_machine_is_never_fenced() {
    let ledger = liveramp_scheduler::MemoryLedger::new();
    assert!(!ledger.leases());
    let claim = claimed(ledger.begin(&key(), at(0), false).unwrap());
    let fence = claim.fence();
    assert!(!fence.is_lease() && fence.is_held());
    fence.check().unwrap();
}
