//! The behavioural suite on `PgStore` (one suite, two stores: `tests/sqlite.rs` runs the same
//! functions on SQLite), against a throw-away PostgreSQL cluster, plus what only PostgreSQL
//! has: several stores (nodes) on one database, migrations, schema versions, a database that
//! goes away and comes back, passwords kept out of messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[macro_use]
mod suite;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use liveramp_audience_store::{
    AudienceStore, Error, MemberChange, Message, PG_SCHEMA_VERSION, PgOptions, PgStore,
};
use liveramp_test_support::postgres::{PASSWORD, PgCluster};
use liveramp_test_support::store_model::Model;
use liveramp_test_support::stream::{StreamOptions, stream};
use suite::Backend;

struct Pg {
    cluster: PgCluster,
    n: AtomicUsize,
}

impl Pg {
    fn new() -> Pg {
        Pg {
            cluster: PgCluster::start(),
            n: AtomicUsize::new(0),
        }
    }

    fn url(&self) -> String {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        self.cluster.create_db(&format!("store_{n}"))
    }
}

impl Backend for Pg {
    fn fresh(&self) -> Box<dyn AudienceStore> {
        Box::new(PgStore::open(&self.url(), &PgOptions::default()).unwrap())
    }
}

suite_tests!(Pg);

/// Two stores (two nodes) on one database, each applying an interleaved half of a shuffled
/// stream with repeats from four threads at once, hold exactly the reference model.
#[test]
fn two_nodes_on_one_database_converge_to_the_model() {
    let pg = Pg::new();
    let url = pg.url();
    let a = PgStore::open(&url, &PgOptions::default()).unwrap();
    let b = PgStore::open(&url, &PgOptions::default()).unwrap();
    let s = stream(&StreamOptions {
        members: 600,
        profiles_per_message: 10,
        repeats_percent: 30,
        ..StreamOptions::default()
    });
    // Every message once, plus repeats, in a shuffled order, dealt round-robin to 4 senders.
    let mut arrival: Vec<Message> = s.messages.clone();
    arrival.extend(s.messages.iter().step_by(3).cloned());
    let mut x = 7u64;
    for i in (1..arrival.len()).rev() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        arrival.swap(i, usize::try_from(x >> 33).unwrap() % (i + 1));
    }
    std::thread::scope(|scope| {
        for t in 0..4 {
            let store: &PgStore = if t % 2 == 0 { &a } else { &b };
            let mine: Vec<&Message> = arrival.iter().skip(t).step_by(4).collect();
            scope.spawn(move || {
                for chunk in mine.chunks(3) {
                    let batch: Vec<Message> = chunk.iter().map(|m| (*m).clone()).collect();
                    store.apply(&batch).unwrap();
                }
            });
        }
    });
    let model = Model::replay(&s.messages);
    for store in [&a, &b] {
        assert_eq!(store.audiences().unwrap(), model.audiences());
        for info in model.audiences() {
            assert_eq!(suite::snapshot(store, info.id), model.lines(info.id));
        }
    }
    let stats = a.stats().unwrap();
    assert_eq!(stats.message_ids, s.messages.len() as u64);
}

/// A second node opening the database does not migrate again; a schema newer than this
/// program is refused with a message that says so.
#[test]
fn migrations_are_versioned_and_a_newer_schema_is_refused() {
    let pg = Pg::new();
    let url = pg.url();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let first = PgStore::open(&url, &PgOptions::default()).unwrap();
    assert_eq!(first.schema_version(), PG_SCHEMA_VERSION);
    let second = PgStore::open(&url, &PgOptions::default()).unwrap();
    assert_eq!(second.schema_version(), 2);
    assert_eq!(
        pg.cluster
            .psql(&db, "SELECT component, version FROM liveramp_schema"),
        "audience-store|2"
    );
    pg.cluster.psql(
        &db,
        "UPDATE liveramp_schema SET version = 3 WHERE component = 'audience-store'",
    );
    let e = PgStore::open(&url, &PgOptions::default()).unwrap_err();
    let port = pg.cluster.port();
    assert_eq!(
        e.to_string(),
        format!(
            "PostgreSQL store: the database postgres://postgres@127.0.0.1:{port}/{db} has schema \
             version 3 of audience-store, newer than version 2 that this program knows: upgrade \
             this program on every node (or point it at another database)"
        )
    );
    assert!(!e.is_transient());
}

/// A database that goes away gives transient errors (a server answers 503) that never show
/// the password; when it is back the same store works again and nothing committed is lost.
#[test]
fn a_restarted_database_is_transient_and_nothing_committed_is_lost() {
    let mut pg = Pg::new();
    let url = pg.url();
    let mut options = PgOptions::default();
    options.connect_timeout = Duration::from_secs(2);
    let store = PgStore::open(&url, &options).unwrap();
    let add = |id: &str, mpid: &str| {
        Message::membership(
            id,
            1_000,
            vec![
                MemberChange::with_mpid(mpid)
                    .audience(liveramp_audience_store::AudienceChange::add(5)),
            ],
        )
    };
    store.apply(&[add("m-1", "1")]).unwrap();
    pg.cluster.stop();
    let e = store.apply(&[add("m-2", "2")]).unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e, Error::Postgres(_)));
    assert!(!e.to_string().contains(PASSWORD), "{e}");
    let port = pg.cluster.port();
    assert!(
        e.to_string().starts_with(&format!(
            "PostgreSQL store: the database postgres://postgres@127.0.0.1:{port}/"
        )),
        "{e}"
    );
    assert!(store.audiences().unwrap_err().is_transient());
    pg.cluster.start_again();
    store.apply(&[add("m-2", "2")]).unwrap();
    assert_eq!(suite::keys(&store, 5), ["1", "2"]);
}

/// Wrong credentials are a permanent error naming the user, never the password given.
#[test]
fn a_wrong_password_is_permanent_and_not_printed() {
    let pg = Pg::new();
    let url = pg.url().replace(PASSWORD, "not-the-Password-42");
    let e = PgStore::open(&url, &PgOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("not-the-Password-42"), "{text}");
    assert!(
        text.contains("password authentication failed for user \"postgres\""),
        "{text}"
    );
    assert!(!e.is_transient());
}

/// After an erasure (and a VACUUM and CHECKPOINT), a dump of the database holds none of the
/// person's identities, neither does any table hold the request's raw values, and a second
/// node's older change for the person is ignored.
#[test]
fn an_erased_person_is_in_no_dump_and_stays_erased_on_another_node() {
    use liveramp_audience_store::{AudienceChange, RequestKind, SubjectRequest};
    let pg = Pg::new();
    let url = pg.url();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let a = PgStore::open(&url, &PgOptions::default()).unwrap();
    let b = PgStore::open(&url, &PgOptions::default()).unwrap();
    let email = "erase.me.please@example.com";
    let idfa = "6D92078A-8246-4BA4-AE5B-76104861E7DC";
    let person = MemberChange::with_mpid("42")
        .user_identity("email", "raw", email)
        .device_identity("ios_advertising_id", "raw", idfa)
        .audience(AudienceChange::add(1).upsert("$Email", email))
        .audience(AudienceChange::add(2))
        .audience(AudienceChange::add(3));
    let other = MemberChange::with_mpid("7").audience(AudienceChange::add(1));
    a.apply(&[Message::membership("m1", 1_000, vec![person, other])])
        .unwrap();
    // bytea columns are dumped in hex.
    let in_dump = |dump: &str, needle: &str| {
        dump.contains(needle) || dump.contains(&hex::encode(needle.as_bytes()))
    };
    assert!(
        in_dump(&pg.cluster.dump(&db), email),
        "the test needs the email in a dump"
    );

    let erase = SubjectRequest::new("r1", RequestKind::Erasure, 5_000)
        .regulation("gdpr")
        .identity("email", "raw", "Erase.Me.Please@Example.com");
    let rec = b.record_subject_request(&erase).unwrap().record;
    assert_eq!(
        (
            rec.members_removed,
            rec.memberships_removed,
            rec.audiences_affected
        ),
        (1, 3, 3)
    );
    // Node a, which did not carry out the erasure, ignores an older change for the person.
    let late = MemberChange::new()
        .device_identity("ios_advertising_id", "raw", idfa.to_lowercase())
        .audience(AudienceChange::add(2));
    assert_eq!(
        a.apply(&[Message::membership("late", 4_000, vec![late])])
            .unwrap()
            .erased_profiles,
        1
    );
    assert_eq!(suite::keys(&a, 1), vec!["7"]);
    assert!(suite::keys(&a, 2).is_empty());

    pg.cluster.psql(&db, "VACUUM");
    pg.cluster.psql(&db, "CHECKPOINT");
    let dump = pg.cluster.dump(&db);
    for needle in [email, idfa, "Erase.Me.Please", &idfa.to_lowercase()] {
        assert!(!in_dump(&dump, needle), "{needle} is in the dump");
    }
    assert_eq!(
        pg.cluster.psql(
            &db,
            "SELECT convert_from(id, 'UTF8'), kind, convert_from(identity_types, 'UTF8'), \
             members_removed FROM subject_requests"
        ),
        "r1|erasure|email|1"
    );
    let listed = a.subject_requests().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].regulation.as_deref(), Some("gdpr"));
}

/// Two nodes adding the same new members at the same moment: one inserts each row, the other
/// finds it taken when it writes and merges with it (the path a single node never takes); the
/// result is the model's, whatever the interleaving.
#[test]
fn nodes_adding_the_same_new_members_at_once_merge_instead_of_overwriting() {
    use liveramp_audience_store::AudienceChange;
    let pg = Pg::new();
    let url = pg.url();
    let a = PgStore::open(&url, &PgOptions::default()).unwrap();
    let b = PgStore::open(&url, &PgOptions::default()).unwrap();
    let mut all = vec![Message::subscription(
        "connect",
        1,
        1,
        "Race",
        liveramp_audience_store::SubscriptionAction::Connect,
    )];
    a.apply(&all).unwrap();
    for round in 0..30i64 {
        let batch = |node: &str, ts: i64| {
            let profiles = (0..100)
                .map(|i| {
                    MemberChange::with_mpid(format!("{round}-{i}"))
                        .audience(AudienceChange::add(1).upsert("by", node))
                })
                .collect();
            Message::membership(format!("{node}-{round}"), ts, profiles)
        };
        // b's change is the newer one: whichever node writes first, b's attribute wins.
        let (ma, mb) = (
            batch("a", 1_000 * round + 10),
            batch("b", 1_000 * round + 20),
        );
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                a.apply(std::slice::from_ref(&ma)).unwrap();
            });
            s.spawn(|| {
                start.wait();
                b.apply(std::slice::from_ref(&mb)).unwrap();
            });
        });
        all.push(ma);
        all.push(mb);
    }
    let model = Model::replay(&all);
    assert_eq!(model.lines(1).len(), 30 * 100);
    for store in [&a, &b] {
        assert_eq!(suite::snapshot(store, 1), model.lines(1));
        assert_eq!(store.audience(1).unwrap().unwrap().members, 30 * 100);
    }
}
