//! The behavioural suite every `AudienceStore` backend must pass.
//!
//! Each `pub fn` takes a fresh, empty store (or a `Backend` that makes them) and panics on a
//! violated rule. A backend's test file runs every one of them (see `tests/sqlite.rs`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use liveramp_audience_store::{
    ApplySummary, AudienceChange, AudienceInfo, AudienceStore, Error, MemberChange, Message,
    SubscriptionAction,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use liveramp_test_support::store_model::{self as model, Model};

/// One `#[test]` per suite function, for the backend type `$backend` (which has `new()` and
/// implements [`Backend`]): the list of the suite's tests, kept once for every backend.
macro_rules! suite_tests {
    ($backend:ty) => {
        suite_tests!(@fresh $backend;
            rule_1_member_key,
            rule_2_last_writer_wins,
            rule_3_membership,
            rule_4_attributes,
            rule_5_identities,
            rule_6_subscriptions,
            rule_7_message_applied_once,
            rule_7_retention,
            rule_8_concurrent_applies,
            rule_9_snapshots,
            concurrent_snapshots_see_whole_batches,
            dsr_erasure_matches_raw_hashed_and_device,
            dsr_older_changes_do_not_bring_an_erased_person_back,
            dsr_repeated_request_is_a_duplicate,
            dsr_access_request_exports_what_is_held,
            dsr_records_are_purged_after_their_retention,
        );
        suite_tests!(@backend $backend; model_any_order_any_batching, model_two_orders_agree);
    };
    (@fresh $backend:ty; $($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let backend = <$backend>::new();
            let store = suite::Backend::fresh(&backend);
            suite::$name(&*store);
        }
    )*};
    (@backend $backend:ty; $($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            suite::$name(&<$backend>::new());
        }
    )*};
}

/// Makes fresh, empty stores.
pub trait Backend {
    /// A new empty store.
    fn fresh(&self) -> Box<dyn AudienceStore>;
}

const DAY: i64 = 86_400_000;

/// The snapshot of an audience, read three ways that must agree: `read_into` one line at a
/// time, `read_into` in large chunks, and the iterator. Returns the lines without `\n`.
pub fn snapshot(store: &dyn AudienceStore, audience: i64) -> Vec<String> {
    let mut small = store.snapshot(audience).unwrap();
    let mut bytes = Vec::new();
    let mut counted = 0;
    loop {
        let before = bytes.len();
        let n = small.read_into(&mut bytes, 1).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(n, 1, "max_bytes 1 gives exactly one line per call");
        assert!(
            bytes.ends_with(b"\n") && bytes[before..bytes.len() - 1].iter().all(|&b| b != b'\n')
        );
        counted += n;
    }
    assert_eq!(
        small.read_into(&mut bytes, 1).unwrap(),
        0,
        "a finished snapshot stays finished"
    );
    assert_eq!(small.summary().members, counted);
    assert_eq!(small.summary().audience_id, audience);

    let mut large = store.snapshot(audience).unwrap();
    let mut chunked = Vec::new();
    while large.read_into(&mut chunked, 1 << 16).unwrap() > 0 {}
    assert_eq!(chunked, bytes);

    let mut iter = store.snapshot(audience).unwrap();
    let members: Vec<_> = iter.members().map(Result::unwrap).collect();
    assert_eq!(iter.summary().members, members.len() as u64);
    let lines: Vec<String> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        members
            .iter()
            .map(|m| m.profile_json.clone())
            .collect::<Vec<_>>(),
        lines
    );
    let keys: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        keys, sorted,
        "members in strictly increasing key byte order"
    );
    lines
}

/// The member keys of an audience's snapshot.
pub fn keys(store: &dyn AudienceStore, audience: i64) -> Vec<String> {
    let mut s = store.snapshot(audience).unwrap();
    s.members().map(|m| m.unwrap().key).collect()
}

fn add(audience: i64) -> AudienceChange {
    AudienceChange::add(audience)
}

fn jane() -> MemberChange {
    MemberChange::with_mpid("123").user_identity("email", "raw", "Jane@x.com")
}

const JANE: &str = r#"{"mpid":"123","user_identities":[{"type":"email","encoding":"raw","value":"Jane@x.com"}],"device_identities":[]"#;

fn jane_line(attributes: &str) -> String {
    format!(r#"{JANE},"user_attributes":{{{attributes}}}}}"#)
}

fn membership(id: &str, ts: i64, profiles: Vec<MemberChange>) -> Message {
    Message::membership(id, ts, profiles)
}

fn info(store: &dyn AudienceStore, id: i64) -> AudienceInfo {
    store.audience(id).unwrap().expect("the audience is known")
}

// ---------------------------------------------------------------------------------------------
// Rule 1: member keys.

/// Rule 1: mpid is the key; without one, a hashed identity in priority order; with neither the
/// profile is rejected and counted.
pub fn rule_1_member_key(store: &dyn AudienceStore) {
    let derived_email = MemberChange::new()
        .device_identity("ios_advertising_id", "raw", "IDFA-1")
        .user_identity("email", "raw", "Jane@x.com")
        .audience(add(1).upsert("k", "v"));
    let derived_customer = MemberChange::new()
        .user_identity("email", "raw", "bob@x.com")
        .user_identity("mobile_number", "raw", "+1 212 555 0100")
        .user_identity("customer_id", "raw", "C-9")
        .audience(add(1));
    let derived_device = MemberChange::new()
        .device_identity("ios_advertising_id", "raw", "IDFA-2")
        .user_identity("email", "raw", "")
        .audience(add(1));
    let nothing = MemberChange::new().audience(add(1));
    let only_empty = MemberChange::with_mpid("")
        .user_identity("email", "raw", "")
        .audience(add(1));
    let tilde = MemberChange::with_mpid("~abc").audience(add(1));
    let summary = store
        .apply(&[membership(
            "m1",
            10,
            vec![
                derived_email.clone(),
                MemberChange::with_mpid("9").audience(add(1)),
                jane().audience(add(1)),
                derived_customer.clone(),
                derived_device.clone(),
                nothing,
                only_empty,
                tilde,
            ],
        )])
        .unwrap();
    assert_eq!(summary.profiles, 5);
    assert_eq!(summary.rejected_profiles, 3);
    assert_eq!(summary.adds, 5, "adds of rejected profiles are not counted");

    let sha = |s: &str| {
        format!(
            "~{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(s))
        )
    };
    let email_key = sha("u\0email\0raw\0Jane@x.com");
    let customer_key = sha("u\0customer_id\0raw\0C-9");
    let device_key = sha("d\0ios_advertising_id\0raw\0IDFA-2");
    assert_eq!(model::key(&derived_email).unwrap(), email_key);
    assert_eq!(derived_email.key().unwrap(), email_key);
    let mut expected_keys = vec![
        "123".to_owned(),
        "9".to_owned(),
        email_key.clone(),
        customer_key.clone(),
        device_key.clone(),
    ];
    expected_keys[2..].sort();
    assert_eq!(keys(store, 1), expected_keys);

    let lines = snapshot(store, 1);
    let by_key: BTreeMap<String, String> = keys(store, 1).into_iter().zip(lines).collect();
    assert_eq!(by_key["123"], jane_line(""));
    assert_eq!(
        by_key["9"],
        r#"{"mpid":"9","user_identities":[],"device_identities":[],"user_attributes":{}}"#
    );
    assert_eq!(
        by_key[&email_key],
        r#"{"user_identities":[{"type":"email","encoding":"raw","value":"Jane@x.com"}],"device_identities":[{"type":"ios_advertising_id","encoding":"raw","value":"IDFA-1"}],"user_attributes":{"k":"v"}}"#
    );
    assert_eq!(
        by_key[&device_key],
        r#"{"user_identities":[{"type":"email","encoding":"raw","value":""}],"device_identities":[{"type":"ios_advertising_id","encoding":"raw","value":"IDFA-2"}],"user_attributes":{}}"#
    );
    // The order the identities come in does not change the key.
    let reordered = MemberChange::new()
        .user_identity("customer_id", "raw", "C-9")
        .user_identity("email", "raw", "bob@x.com");
    assert_eq!(reordered.key().unwrap(), customer_key);
    assert_eq!(info(store, 1).members, 5);
}

// ---------------------------------------------------------------------------------------------
// Rule 2: last writer wins on (timestamp_ms, id, seq).

/// Rule 2: newest (`timestamp_ms`, id) wins whatever the arrival order; ties of `timestamp_ms` go
/// to the greater id; within a message the later entry wins.
pub fn rule_2_last_writer_wins(store: &dyn AudienceStore) {
    // Newer first, older later: the older add does not undo the newer delete.
    store
        .apply(&[membership(
            "b",
            20,
            vec![jane().audience(AudienceChange::delete(1))],
        )])
        .unwrap();
    store
        .apply(&[membership(
            "a",
            10,
            vec![jane().audience(add(1).upsert("k", "old"))],
        )])
        .unwrap();
    assert!(snapshot(store, 1).is_empty());

    // Same timestamp: id "y" > "x", so y's delete wins over x's add in either order.
    store
        .apply(&[membership(
            "y",
            30,
            vec![jane().audience(AudienceChange::delete(2))],
        )])
        .unwrap();
    store
        .apply(&[membership("x", 30, vec![jane().audience(add(2))])])
        .unwrap();
    assert!(snapshot(store, 2).is_empty());
    store
        .apply(&[membership("x2", 31, vec![jane().audience(add(2))])])
        .unwrap();
    assert_eq!(snapshot(store, 2), vec![jane_line("")]);
    // Byte order of ids: "Z" (0x5A) < "a" (0x61).
    store
        .apply(&[
            membership("tie-a", 50, vec![jane().audience(add(3).upsert("k", "a"))]),
            membership("tie-Z", 50, vec![jane().audience(add(3).upsert("k", "Z"))]),
        ])
        .unwrap();
    assert_eq!(snapshot(store, 3), vec![jane_line(r#""k":"a""#)]);

    // Within one message: the same member twice, and add/delete in one profile.
    store
        .apply(&[membership(
            "m4",
            60,
            vec![
                jane().audience(add(4).upsert("k", "first").upsert("k", "second")),
                jane().audience(AudienceChange::attribute_update(4).upsert("j", "x")),
                MemberChange::with_mpid("7")
                    .audience(add(4).upsert("k", "v"))
                    .audience(AudienceChange::delete(4)),
                MemberChange::with_mpid("8")
                    .audience(AudienceChange::delete(4))
                    .audience(add(4).upsert("k", "v")),
            ],
        )])
        .unwrap();
    assert_eq!(
        snapshot(store, 4),
        vec![
            jane_line(r#""j":"x","k":"second""#),
            r#"{"mpid":"8","user_identities":[],"device_identities":[],"user_attributes":{"k":"v"}}"#
                .to_owned(),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 3: membership.

/// Rule 3: membership is the newest add or delete; `attribute_update` never changes it.
pub fn rule_3_membership(store: &dyn AudienceStore) {
    store
        .apply(&[membership(
            "m1",
            10,
            vec![jane().audience(AudienceChange::attribute_update(1).upsert("k", "v"))],
        )])
        .unwrap();
    assert!(
        snapshot(store, 1).is_empty(),
        "attribute_update does not add"
    );
    assert_eq!(info(store, 1).members, 0);
    store
        .apply(&[membership("m2", 20, vec![jane().audience(add(1))])])
        .unwrap();
    assert_eq!(snapshot(store, 1), vec![jane_line(r#""k":"v""#)]);
    store
        .apply(&[membership(
            "m3",
            30,
            vec![jane().audience(AudienceChange::attribute_update(1).upsert("k", "w"))],
        )])
        .unwrap();
    assert_eq!(snapshot(store, 1), vec![jane_line(r#""k":"w""#)]);
    assert_eq!(info(store, 1).members, 1);
    store
        .apply(&[membership(
            "m4",
            40,
            vec![jane().audience(AudienceChange::delete(1))],
        )])
        .unwrap();
    assert!(snapshot(store, 1).is_empty());
    assert_eq!(info(store, 1).members, 0);
    store
        .apply(&[membership(
            "m5",
            50,
            vec![jane().audience(AudienceChange::attribute_update(1).upsert("k", "x"))],
        )])
        .unwrap();
    assert!(
        snapshot(store, 1).is_empty(),
        "attribute_update does not re-add"
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 4: attributes.

/// Rule 4: per-key last writer wins with tombstones; a delete removes older attributes and
/// voids older writes arriving later; lists stay lists; attributes are per audience.
pub fn rule_4_attributes(store: &dyn AudienceStore) {
    store
        .apply(&[membership(
            "m1",
            10,
            vec![
                jane()
                    .audience(
                        add(1)
                            .upsert("$FirstName", "Jane")
                            .upsert_list("tags", ["a", "b"])
                            .upsert("gone", "x"),
                    )
                    .audience(add(2).upsert("other", "audience")),
            ],
        )])
        .unwrap();
    assert_eq!(
        snapshot(store, 1),
        vec![jane_line(
            r#""$FirstName":"Jane","gone":"x","tags":["a","b"]"#
        )]
    );
    assert_eq!(snapshot(store, 2), vec![jane_line(r#""other":"audience""#)]);

    // A deletion of a key, then an older upsert of it arriving late: the tombstone wins.
    store
        .apply(&[membership(
            "m3",
            30,
            vec![jane().audience(AudienceChange::attribute_update(1).delete_attribute("gone"))],
        )])
        .unwrap();
    store
        .apply(&[membership(
            "m2",
            20,
            vec![jane().audience(AudienceChange::attribute_update(1).upsert("gone", "late"))],
        )])
        .unwrap();
    // An add upserts what it carries and removes nothing.
    store
        .apply(&[membership(
            "m4",
            40,
            vec![jane().audience(add(1).upsert("tags", "one"))],
        )])
        .unwrap();
    assert_eq!(
        snapshot(store, 1),
        vec![jane_line(r#""$FirstName":"Jane","tags":"one""#)]
    );

    // Delete at 50 clears; attribute writes older than it are void even when they come later;
    // newer ones (for a non-member) are kept and show up after the next add.
    store
        .apply(&[membership(
            "m5",
            50,
            vec![jane().audience(AudienceChange::delete(1).upsert("ignored", "x"))],
        )])
        .unwrap();
    store
        .apply(&[
            membership(
                "m4b",
                45,
                vec![jane().audience(AudienceChange::attribute_update(1).upsert("late", "x"))],
            ),
            membership(
                "m6",
                60,
                vec![jane().audience(AudienceChange::attribute_update(1).upsert("after", "y"))],
            ),
        ])
        .unwrap();
    assert!(snapshot(store, 1).is_empty());
    store
        .apply(&[membership(
            "m7",
            70,
            vec![jane().audience(add(1).upsert("z", "\"q\"\n"))],
        )])
        .unwrap();
    assert_eq!(
        snapshot(store, 1),
        vec![jane_line(r#""after":"y","z":"\"q\"\n""#)]
    );
    // Audience 2 was never touched by any of this.
    assert_eq!(snapshot(store, 2), vec![jane_line(r#""other":"audience""#)]);
}

// ---------------------------------------------------------------------------------------------
// Rule 5: identities.

/// Rule 5: the newest profile's identities replace older ones wholesale, in every audience.
pub fn rule_5_identities(store: &dyn AudienceStore) {
    let v1 = MemberChange::with_mpid("5")
        .user_identity("email", "raw", "old@x.com")
        .user_identity("customer_id", "raw", "C5")
        .device_identity("google_advertising_id", "raw", "AAID")
        .audience(add(1));
    let v2 = MemberChange::with_mpid("5")
        .user_identity("email", "sha256", "ab12")
        .audience(add(2));
    let older = MemberChange::with_mpid("5")
        .user_identity("email", "raw", "older@x.com")
        .audience(AudienceChange::attribute_update(1));
    let no_audience = MemberChange::with_mpid("5").user_identity("email", "raw", "none@x.com");
    store.apply(&[membership("m1", 10, vec![v1])]).unwrap();
    assert_eq!(
        snapshot(store, 1),
        vec![
            r#"{"mpid":"5","user_identities":[{"type":"email","encoding":"raw","value":"old@x.com"},{"type":"customer_id","encoding":"raw","value":"C5"}],"device_identities":[{"type":"google_advertising_id","encoding":"raw","value":"AAID"}],"user_attributes":{}}"#
        ]
    );
    store
        .apply(&[
            membership("m2", 20, vec![v2]),
            membership("m0", 5, vec![older]),
            membership("m3", 30, vec![no_audience]),
        ])
        .unwrap();
    let expected = r#"{"mpid":"5","user_identities":[{"type":"email","encoding":"sha256","value":"ab12"}],"device_identities":[],"user_attributes":{}}"#;
    assert_eq!(snapshot(store, 1), vec![expected]);
    assert_eq!(snapshot(store, 2), vec![expected]);
}

// ---------------------------------------------------------------------------------------------
// Rule 6: subscriptions.

/// Rule 6: connect/disconnect, newest wins; membership is kept for unconnected audiences;
/// names, first connect and disconnect times.
pub fn rule_6_subscriptions(store: &dyn AudienceStore) {
    let sub = |id: &str, ts, name: &str, action| Message::subscription(id, ts, 7, name, action);
    store
        .apply(&[membership("m1", 5, vec![jane().audience(add(7))])])
        .unwrap();
    let mut expected = AudienceInfo::new(7);
    expected.members = 1;
    expected.newest_change_ms = Some(5);
    assert_eq!(store.audiences().unwrap(), vec![expected.clone()]);
    assert_eq!(
        snapshot(store, 7),
        vec![jane_line("")],
        "stored before any connect"
    );

    store
        .apply(&[sub("s2", 20, "Second", SubscriptionAction::Connect)])
        .unwrap();
    store
        .apply(&[sub("s1", 10, "First", SubscriptionAction::Connect)])
        .unwrap();
    expected.connected = true;
    expected.name = Some("Second".into());
    expected.first_connected_ms = Some(10);
    expected.newest_change_ms = Some(20);
    assert_eq!(info(store, 7), expected);

    store
        .apply(&[sub("s4", 40, "Fourth", SubscriptionAction::Disconnect)])
        .unwrap();
    store
        .apply(&[sub("s3", 30, "Third", SubscriptionAction::Connect)])
        .unwrap();
    expected.connected = false;
    expected.name = Some("Fourth".into());
    expected.disconnected_at_ms = Some(40);
    expected.newest_change_ms = Some(40);
    assert_eq!(info(store, 7), expected);
    assert_eq!(
        snapshot(store, 7),
        vec![jane_line("")],
        "disconnected data is kept"
    );

    // A membership entry's name is newer than the disconnect's.
    store
        .apply(&[membership(
            "m5",
            50,
            vec![jane().audience(add(7).named("Renamed"))],
        )])
        .unwrap();
    store
        .apply(&[sub("s6", 60, "Back", SubscriptionAction::Connect)])
        .unwrap();
    expected.connected = true;
    expected.name = Some("Back".into());
    expected.disconnected_at_ms = None;
    expected.newest_change_ms = Some(60);
    assert_eq!(info(store, 7), expected);
    assert_eq!(store.audience(8).unwrap(), None);
    assert!(matches!(
        store.snapshot(8).err(),
        Some(Error::UnknownAudience { id: 8 })
    ));
}

// ---------------------------------------------------------------------------------------------
// Rule 7: a message id is applied once; retention.

/// Rule 7: duplicates are skipped and counted, in one batch and across batches; the first
/// message of an id wins even when a later one with the same id differs.
pub fn rule_7_message_applied_once(store: &dyn AudienceStore) {
    let m1 = membership(
        "m1",
        10,
        vec![
            jane().audience(add(1).upsert("k", "1")),
            MemberChange::new().audience(add(1)),
        ],
    );
    let s = store.apply(&[m1.clone(), m1.clone()]).unwrap();
    assert_eq!(
        (
            s.messages,
            s.duplicates,
            s.profiles,
            s.adds,
            s.rejected_profiles
        ),
        (1, 1, 1, 1, 1)
    );
    let again = store
        .apply(&[
            m1,
            membership("m1", 99, vec![jane().audience(AudienceChange::delete(1))]),
            Message::subscription("s", 11, 1, "A", SubscriptionAction::Connect),
        ])
        .unwrap();
    assert_eq!(
        (
            again.messages,
            again.duplicates,
            again.subscriptions,
            again.adds
        ),
        (1, 2, 1, 0)
    );
    assert_eq!(snapshot(store, 1), vec![jane_line(r#""k":"1""#)]);
    assert_eq!(store.apply(&[]).unwrap(), ApplySummary::default());
    let ping = store.apply(&[membership("ping", 12, vec![])]).unwrap();
    assert_eq!((ping.messages, ping.profiles), (1, 0));
    assert_eq!(
        store
            .apply(&[membership("ping", 12, vec![])])
            .unwrap()
            .duplicates,
        1
    );
    let s = store
        .apply(&[membership(
            "m2",
            13,
            vec![
                jane().audience(AudienceChange::attribute_update(1)),
                jane().audience(AudienceChange::delete(2)),
            ],
        )])
        .unwrap();
    assert_eq!((s.profiles, s.attribute_updates, s.deletes), (2, 1, 1));
}

/// Rule 7: purge removes message ids, delete tombstones and disconnected audiences older than
/// the retention period, keeps newer ones, and refuses messages older than the horizon.
pub fn rule_7_retention(store: &dyn AudienceStore) {
    let t0 = 1_700_000_000_000;
    store
        .apply(&[
            Message::subscription("s1", t0, 1, "Kept", SubscriptionAction::Connect),
            Message::subscription("s2", t0, 2, "Dropped", SubscriptionAction::Connect),
            membership(
                "old",
                t0,
                vec![
                    jane().audience(add(1)).audience(add(2)),
                    MemberChange::with_mpid("left").audience(add(1)),
                    MemberChange::with_mpid("only2").audience(add(2)),
                ],
            ),
            membership(
                "gone",
                t0 + 1,
                vec![MemberChange::with_mpid("left").audience(AudienceChange::delete(1))],
            ),
            Message::subscription("s3", t0 + 2, 2, "Dropped", SubscriptionAction::Disconnect),
            membership(
                "new",
                t0 + 20 * DAY,
                vec![MemberChange::with_mpid("fresh").audience(add(1))],
            ),
        ])
        .unwrap();
    let before = store.stats().unwrap();
    assert_eq!(
        (
            before.audiences,
            before.members,
            before.memberships,
            before.message_ids
        ),
        (2, 4, 5, 6)
    );

    // Nothing is old enough yet.
    let p = store.purge(t0 + 29 * DAY).unwrap();
    assert_eq!(
        (p.message_ids, p.memberships, p.members, p.audiences, p.more),
        (0, 0, 0, 0, false)
    );
    assert_eq!(p.horizon_ms, t0 - DAY);

    let now = t0 + 31 * DAY;
    let mut total = liveramp_audience_store::PurgeSummary::default();
    loop {
        let p = store.purge(now).unwrap();
        assert_eq!(p.horizon_ms, t0 + DAY);
        total.message_ids += p.message_ids;
        total.memberships += p.memberships;
        total.members += p.members;
        total.audiences += p.audiences;
        if !p.more {
            break;
        }
    }
    // Ids s1, s2, old, gone, s3 (all older than t0 + 1 day); the left member's row of
    // audience 1 and both rows of audience 2; members "left" and "only2".
    assert_eq!(
        (
            total.message_ids,
            total.memberships,
            total.members,
            total.audiences
        ),
        (5, 3, 2, 1)
    );
    let after = store.stats().unwrap();
    assert_eq!(
        (
            after.audiences,
            after.members,
            after.memberships,
            after.message_ids
        ),
        (1, 2, 2, 1)
    );
    assert_eq!(keys(store, 1), vec!["123", "fresh"]);
    assert_eq!(store.audience(2).unwrap(), None);
    let kept = info(store, 1);
    assert_eq!(
        (kept.name.as_deref(), kept.connected, kept.members),
        (Some("Kept"), true, 2)
    );

    // A duplicate of a purged id is older than the horizon: refused and counted, not applied.
    let late = store
        .apply(&[membership(
            "old",
            t0,
            vec![MemberChange::with_mpid("left").audience(add(1))],
        )])
        .unwrap();
    assert_eq!((late.messages, late.expired, late.duplicates), (0, 1, 0));
    // A duplicate of a kept id is still a duplicate.
    let dup = store
        .apply(&[membership("new", t0 + 20 * DAY, vec![])])
        .unwrap();
    assert_eq!((dup.messages, dup.duplicates), (0, 1));
    // The horizon never moves back.
    assert_eq!(store.purge(t0).unwrap().horizon_ms, t0 + DAY);
    assert_eq!(keys(store, 1), vec!["123", "fresh"]);
}

// ---------------------------------------------------------------------------------------------
// Rule 8: atomic batches, concurrent callers.

/// Rule 8: many threads applying at once all succeed, and every batch is there whole.
pub fn rule_8_concurrent_applies(store: &dyn AudienceStore) {
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for b in 0..10 {
                    let profiles = (0..5)
                        .map(|i| MemberChange::with_mpid(format!("{t}-{b}-{i}")).audience(add(1)))
                        .collect();
                    let summary = store
                        .apply(&[membership(&format!("{t}/{b}"), b, profiles)])
                        .unwrap();
                    assert_eq!(summary.adds, 5);
                }
            });
        }
    });
    assert_eq!(keys(store, 1).len(), 400);
    assert_eq!(info(store, 1).members, 400);
    let stats = store.stats().unwrap();
    assert!(stats.batches >= 80 && stats.commits <= stats.batches);
}

// ---------------------------------------------------------------------------------------------
// Rule 9: snapshots.

/// Rule 9: a snapshot is a consistent view while applies continue, can move to another
/// thread, and streams in key byte order.
pub fn rule_9_snapshots(store: &dyn AudienceStore) {
    let profiles: Vec<MemberChange> = (0..300)
        .map(|i| {
            MemberChange::with_mpid(format!("{i}")).audience(add(1).upsert("n", format!("{i}")))
        })
        .collect();
    store.apply(&[membership("m1", 10, profiles)]).unwrap();
    let mut first = store.snapshot(1).unwrap();
    let mut part = Vec::new();
    assert_eq!(first.read_into(&mut part, 1).unwrap(), 1);
    // Changes applied now are not in the open snapshot.
    store
        .apply(&[membership(
            "m2",
            20,
            vec![
                MemberChange::with_mpid("0").audience(AudienceChange::delete(1)),
                MemberChange::with_mpid("299").audience(AudienceChange::delete(1)),
                MemberChange::with_mpid("5")
                    .audience(AudienceChange::attribute_update(1).upsert("n", "changed")),
                MemberChange::with_mpid("new").audience(add(1)),
            ],
        )])
        .unwrap();
    let rest = std::thread::spawn(move || {
        while first.read_into(&mut part, 100).unwrap() > 0 {}
        (part, first.summary())
    });
    let (bytes, summary) = rest.join().unwrap();
    assert_eq!(summary.members, 300);
    assert_eq!(summary.newest_change_ms, Some(10));
    let lines: Vec<&str> = std::str::from_utf8(&bytes).unwrap().lines().collect();
    let mut expected_keys: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    expected_keys.sort();
    let expected: Vec<String> = expected_keys
        .iter()
        .map(|k| format!(r#"{{"mpid":"{k}","user_identities":[],"device_identities":[],"user_attributes":{{"n":"{k}"}}}}"#))
        .collect();
    assert_eq!(lines, expected);
    let now = snapshot(store, 1);
    assert_eq!(now.len(), 299);
    assert!(now.contains(&r#"{"mpid":"5","user_identities":[],"device_identities":[],"user_attributes":{"n":"changed"}}"#.to_owned()));
    assert_eq!(
        store.snapshot(1).unwrap().summary().newest_change_ms,
        Some(20)
    );
    // A line longer than max_bytes still comes whole.
    let mut big = store.snapshot(1).unwrap();
    let mut out = Vec::new();
    assert_eq!(big.read_into(&mut out, 0).unwrap(), 1);
    assert_eq!(out, format!("{}\n", now[0]).into_bytes());
}

/// Rule 8 and 9 together: while threads apply batches, snapshots streamed at the same time
/// each equal a committed state: every thread's batches form a prefix, every batch is whole.
pub fn concurrent_snapshots_see_whole_batches(store: &dyn AudienceStore) {
    const THREADS: usize = 4;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 25;
    let done = std::sync::atomic::AtomicBool::new(false);
    store
        .apply(&[Message::subscription(
            "s",
            0,
            1,
            "A",
            SubscriptionAction::Connect,
        )])
        .unwrap();
    let snapshots = std::thread::scope(|s| {
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    for b in 0..BATCHES {
                        let profiles = (0..PER_BATCH)
                            .map(|i| {
                                MemberChange::with_mpid(format!("t{t}-b{b:03}-{i:02}"))
                                    .audience(add(1).upsert("batch", b.to_string()))
                            })
                            .collect();
                        store
                            .apply(&[membership(&format!("t{t}-b{b}"), 1, profiles)])
                            .unwrap();
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut checked = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || checked < 3 {
                let members: Vec<String> = keys(store, 1);
                let mut per_thread = vec![BTreeMap::<usize, usize>::new(); THREADS];
                for key in &members {
                    let (t, rest) = key[1..].split_once("-b").unwrap();
                    let b: usize = rest[..3].parse().unwrap();
                    *per_thread[t.parse::<usize>().unwrap()]
                        .entry(b)
                        .or_default() += 1;
                }
                for batches in &per_thread {
                    for (i, (b, n)) in batches.iter().enumerate() {
                        assert_eq!(*b, i, "batches form a prefix: {batches:?}");
                        assert_eq!(*n, PER_BATCH, "batch {b} is whole");
                    }
                }
                checked += 1;
            }
            checked
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(snapshots >= 3);
    assert_eq!(keys(store, 1).len(), THREADS * BATCHES * PER_BATCH);
}

// ---------------------------------------------------------------------------------------------
// Model-based property test.

#[derive(Debug, Clone)]
struct Case {
    messages: Vec<Message>,
    /// Arrival order (indices into messages, with repeats).
    arrival: Vec<usize>,
    /// Batch sizes, consumed in turn (the last one repeats).
    batches: Vec<usize>,
}

fn identity() -> impl Strategy<Value = (bool, &'static str, &'static str, &'static str)> {
    prop_oneof![
        Just((true, "email", "raw", "a@x.com")),
        Just((true, "email", "sha256", "ff00")),
        Just((true, "customer_id", "raw", "C1")),
        Just((true, "other", "raw", "")),
        Just((false, "ios_advertising_id", "raw", "IDFA")),
    ]
}

fn audience_change() -> impl Strategy<Value = AudienceChange> {
    let attr = (prop_oneof![Just("a"), Just("b"), Just("$c")], 0..4u8);
    (
        prop_oneof![3 => Just(1i64), 1 => Just(2)],
        prop_oneof![Just(None), Just(Some("A")), Just(Some("B"))],
        0..3u8,
        proptest::collection::vec(attr, 0..4),
    )
        .prop_map(|(audience, name, action, attrs)| {
            let mut c = match action {
                0 => AudienceChange::add(audience),
                1 => AudienceChange::delete(audience),
                _ => AudienceChange::attribute_update(audience),
            };
            if let Some(name) = name {
                c = c.named(name);
            }
            for (key, kind) in attrs {
                c = match kind {
                    0 => c.upsert(key, "x"),
                    1 => c.upsert(key, "y\u{1}é"),
                    2 => c.upsert_list(key, ["x", "y"]),
                    _ => c.delete_attribute(key),
                };
            }
            c
        })
}

fn profile() -> impl Strategy<Value = MemberChange> {
    (
        prop_oneof![
            4 => Just(Some("1")),
            2 => Just(Some("2")),
            1 => Just(Some("10")),
            2 => Just(None),
        ],
        proptest::collection::vec(identity(), 0..3),
        proptest::collection::vec(audience_change(), 0..4),
    )
        .prop_map(|(mpid, ids, audiences)| {
            let mut p = match mpid {
                Some(m) => MemberChange::with_mpid(m),
                None => MemberChange::new(),
            };
            for (user, kind, encoding, value) in ids {
                p = if user {
                    p.user_identity(kind, encoding, value)
                } else {
                    p.device_identity(kind, encoding, value)
                };
            }
            for a in audiences {
                p = p.audience(a);
            }
            p
        })
}

/// A message's timestamp, subscription (audience, name, connect?) or profiles.
type Body = (i64, Option<(i64, &'static str, bool)>, Vec<MemberChange>);

fn message_body() -> impl Strategy<Value = Body> {
    (
        0..5i64,
        prop_oneof![
            1 => (prop_oneof![Just(1i64), Just(2)], prop_oneof![Just("S"), Just("T")], any::<bool>()).prop_map(Some),
            4 => Just(None),
        ],
        proptest::collection::vec(profile(), 0..5),
    )
}

fn case() -> impl Strategy<Value = Case> {
    proptest::collection::vec(message_body(), 1..16)
        .prop_flat_map(|bodies| {
            let messages: Vec<Message> = bodies
                .into_iter()
                .enumerate()
                .map(|(i, (ts, sub, profiles))| {
                    // Ids whose byte order differs from their number order.
                    let id = format!("{}.{i}", ["m", "M", "m1", "a"][i % 4]);
                    match sub {
                        Some((audience, name, connect)) => Message::subscription(
                            id,
                            ts,
                            audience,
                            name,
                            if connect {
                                SubscriptionAction::Connect
                            } else {
                                SubscriptionAction::Disconnect
                            },
                        ),
                        None => Message::membership(id, ts, profiles),
                    }
                })
                .collect();
            let n = messages.len();
            let order: Vec<usize> = (0..n).collect();
            (
                Just(messages),
                Just(order).prop_shuffle(),
                proptest::collection::vec(0..n, 0..4),
                proptest::collection::vec(1..5usize, 1..4),
            )
        })
        .prop_map(|(messages, mut arrival, dups, batches)| {
            arrival.extend(dups);
            Case {
                messages,
                arrival,
                batches,
            }
        })
}

fn check_case(backend: &dyn Backend, case: &Case) -> Result<(), TestCaseError> {
    let store = backend.fresh();
    let arrived: Vec<Message> = case
        .arrival
        .iter()
        .map(|&i| case.messages[i].clone())
        .collect();
    let mut rest = &arrived[..];
    let mut sizes = case.batches.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap()).min(rest.len());
        let (batch, tail) = rest.split_at(size);
        store.apply(batch).unwrap();
        rest = tail;
    }
    let model = Model::replay(&case.messages);
    prop_assert_eq!(store.audiences().unwrap(), model.audiences());
    for a in model.audiences() {
        prop_assert_eq!(
            snapshot(&*store, a.id),
            model.lines(a.id),
            "audience {}",
            a.id
        );
    }
    Ok(())
}

/// Random histories, applied in random orders and batchings with duplicates, give exactly the
/// reference model's snapshots and audiences.
pub fn model_any_order_any_batching(backend: &dyn Backend) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(96);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |case| check_case(backend, &case))
        .unwrap();
}

/// The same histories, each applied in two different orders to two stores, give identical
/// snapshot bytes (independently of the model).
pub fn model_two_orders_agree(backend: &dyn Backend) {
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |a| {
            let forward = backend.fresh();
            let backward = backend.fresh();
            forward.apply(&a.messages).unwrap();
            for m in a.messages.iter().rev() {
                backward.apply(std::slice::from_ref(m)).unwrap();
            }
            prop_assert_eq!(forward.audiences().unwrap(), backward.audiences().unwrap());
            for info in forward.audiences().unwrap() {
                prop_assert_eq!(snapshot(&*forward, info.id), snapshot(&*backward, info.id));
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Data subject requests.

use liveramp_audience_store::{RequestKind, SubjectRequest};

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A person in audiences 1, 2 and 3 with an email, a phone and an IDFA (email stored raw, or
/// as the SHA-256 of its normalised form).
fn person(mpid: &str, email: &str, hashed: bool, idfa: &str) -> MemberChange {
    let (encoding, value) = if hashed {
        ("sha256", sha256_hex(&email.to_lowercase()))
    } else {
        ("raw", email.to_owned())
    };
    MemberChange::with_mpid(mpid)
        .user_identity("email", encoding, value)
        .user_identity("mobile_number", "raw", format!("(212) 555-012{mpid}"))
        .device_identity("ios_advertising_id", "raw", idfa)
        .audience(add(1).upsert("$FirstName", "Pat"))
        .audience(add(2))
        .audience(add(3))
}

const IDFAS: [&str; 5] = [
    "6D92078A-8246-4BA4-AE5B-76104861E7D1",
    "6D92078A-8246-4BA4-AE5B-76104861E7D2",
    "6D92078A-8246-4BA4-AE5B-76104861E7D3",
    "6D92078A-8246-4BA4-AE5B-76104861E7D4",
    "6D92078A-8246-4BA4-AE5B-76104861E7D5",
];

fn people(store: &dyn AudienceStore) {
    let batch = membership(
        "people",
        1_000,
        vec![
            person("1", "One@x.com", false, IDFAS[0]),
            person("2", "Two@x.com", false, IDFAS[1]),
            person("3", "Three@x.com", true, IDFAS[2]),
            person("4", "Four@x.com", false, IDFAS[3]),
            person("5", "Bystander@x.com", false, IDFAS[4]),
        ],
    );
    assert_eq!(store.apply(&[batch]).unwrap().profiles, 5);
}

/// Erasure by a raw email (any case and spacing), by the SHA-256 of an email stored raw, by a
/// raw email of a member stored with its SHA-256, and by IDFA: each person is gone from every
/// audience, the others stay, and the record counts what was removed.
pub fn dsr_erasure_matches_raw_hashed_and_device(store: &dyn AudienceStore) {
    people(store);
    let requests = [
        SubjectRequest::new("r1", RequestKind::Erasure, 2_000)
            .regulation("gdpr")
            .identity("email", "raw", "  ONE@x.com "),
        SubjectRequest::new("r2", RequestKind::Erasure, 2_000)
            .regulation("ccpa")
            .identity("email", "sha256", sha256_hex("two@x.com").to_uppercase()),
        SubjectRequest::new("r3", RequestKind::Erasure, 2_000).identity(
            "email",
            "raw",
            "three@X.com",
        ),
        SubjectRequest::new("r4", RequestKind::Erasure, 2_000).identity(
            "ios_advertising_id",
            "raw",
            IDFAS[3].to_lowercase(),
        ),
    ];
    for r in &requests {
        let outcome = store.record_subject_request(r).unwrap();
        assert!(!outcome.duplicate);
        let rec = &outcome.record;
        assert_eq!(
            (
                rec.members_matched,
                rec.members_removed,
                rec.memberships_removed,
                rec.audiences_affected
            ),
            (1, 1, 3, 3),
            "{}",
            r.id
        );
        assert_eq!(rec.status(), "erased");
    }
    for audience in 1..=3 {
        assert_eq!(keys(store, audience), vec!["5"], "audience {audience}");
        assert_eq!(info(store, audience).members, 1);
    }
    let lines = snapshot(store, 1);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with(r#"{"mpid":"5","#), "{}", lines[0]);
    let stats = store.stats().unwrap();
    assert_eq!((stats.members, stats.memberships, stats.present), (1, 3, 3));
    let listed = store.subject_requests().unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    for id in ["r1", "r2", "r3", "r4"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    let r1 = listed.iter().find(|r| r.id == "r1").unwrap();
    assert_eq!(r1.regulation.as_deref(), Some("gdpr"));
    assert_eq!(r1.identity_types, vec!["email"]);
    assert_eq!(r1.timestamp_ms, 2_000);
    // A request that matches nobody is recorded with zero counts.
    let nobody = SubjectRequest::new("r5", RequestKind::Erasure, 2_000).identity(
        "email",
        "raw",
        "nobody@x.com",
    );
    let rec = store.record_subject_request(&nobody).unwrap().record;
    assert_eq!((rec.members_matched, rec.members_removed), (0, 0));
}

/// After an erasure, a change for that person older than the request is ignored (by mpid, or
/// by any identity the erased member had); a newer one is applied.
pub fn dsr_older_changes_do_not_bring_an_erased_person_back(store: &dyn AudienceStore) {
    people(store);
    let erase = SubjectRequest::new("r1", RequestKind::Erasure, 5_000).identity(
        "email",
        "raw",
        "one@x.com",
    );
    store.record_subject_request(&erase).unwrap();

    let late = [
        // Same mpid, no identities.
        membership(
            "late-1",
            4_000,
            vec![MemberChange::with_mpid("1").audience(add(1))],
        ),
        // No mpid, only the erased member's phone.
        membership(
            "late-2",
            4_500,
            vec![
                MemberChange::new()
                    .user_identity("mobile_number", "raw", "+1 212-555-0121")
                    .audience(add(2)),
            ],
        ),
        // No mpid, the erased member's IDFA in another case, an attribute update.
        membership(
            "late-3",
            4_900,
            vec![
                MemberChange::new()
                    .device_identity("ios_advertising_id", "raw", IDFAS[0].to_lowercase())
                    .audience(AudienceChange::attribute_update(3).upsert("$FirstName", "Back")),
            ],
        ),
    ];
    let summary = store.apply(&late).unwrap();
    assert_eq!((summary.messages, summary.erased_profiles), (3, 3));
    for audience in 1..=3 {
        assert!(
            !keys(store, audience).contains(&"1".to_owned()),
            "audience {audience}"
        );
    }
    assert_eq!(store.stats().unwrap().members, 4);

    // The person signs up again after the request: applied.
    let again = membership(
        "again",
        6_000,
        vec![
            MemberChange::with_mpid("1")
                .user_identity("email", "raw", "one@x.com")
                .audience(add(1)),
        ],
    );
    let summary = store.apply(&[again]).unwrap();
    assert_eq!((summary.adds, summary.erased_profiles), (1, 0));
    assert_eq!(keys(store, 1), vec!["1", "2", "3", "4", "5"]);
    // A bystander's older change is applied as usual.
    let bystander = membership(
        "bystander",
        4_000,
        vec![MemberChange::with_mpid("5").audience(AudienceChange::delete(2))],
    );
    assert_eq!(store.apply(&[bystander]).unwrap().erased_profiles, 0);
    assert_eq!(keys(store, 2), vec!["2", "3", "4"]);
}

/// A request id is recorded once: repeating it (mParticle retries) changes nothing, even when
/// the person came back meanwhile.
pub fn dsr_repeated_request_is_a_duplicate(store: &dyn AudienceStore) {
    people(store);
    let erase = SubjectRequest::new("r1", RequestKind::Erasure, 5_000).identity("mpid", "raw", "2");
    let first = store.record_subject_request(&erase).unwrap();
    assert_eq!(first.record.members_removed, 1);
    let again = membership(
        "again",
        6_000,
        vec![MemberChange::with_mpid("2").audience(add(1))],
    );
    store.apply(&[again]).unwrap();
    let second = store.record_subject_request(&erase).unwrap();
    assert!(second.duplicate);
    assert_eq!(second.record, first.record);
    assert!(keys(store, 1).contains(&"2".to_owned()));
    assert_eq!(store.subject_requests().unwrap().len(), 1);
}

/// Access (and portability) requests are recorded, remove nothing, and the export holds what
/// the store has for the subject, matched by a hashed identity.
pub fn dsr_access_request_exports_what_is_held(store: &dyn AudienceStore) {
    let jane = MemberChange::with_mpid("7")
        .user_identity("email", "raw", "Jane@x.com")
        .audience(add(1).named("VIP").upsert("$FirstName", "Jane"))
        .audience(AudienceChange::delete(2));
    let other = MemberChange::with_mpid("8")
        .user_identity("email", "raw", "other@x.com")
        .audience(add(1));
    store
        .apply(&[membership("m1", 1_000, vec![jane, other])])
        .unwrap();
    let access = SubjectRequest::new("a1", RequestKind::Access, 2_000)
        .regulation("gdpr")
        .identity("email", "sha256", sha256_hex("jane@x.com"));
    let rec = store.record_subject_request(&access).unwrap().record;
    assert_eq!(
        (rec.members_matched, rec.members_removed, rec.status()),
        (1, 0, "recorded")
    );
    assert_eq!(keys(store, 1), vec!["7", "8"]);
    let export = store.export_subject("a1").unwrap().unwrap();
    let expected = format!(
        concat!(
            r#"{{"request":{{"id":"a1","type":"access","regulation":"gdpr","timestamp_ms":2000,"recorded_ms":{}}},"#,
            r#""members":[{{"key":"7","mpid":"7","user_identities":[{{"type":"email","encoding":"raw","value":"Jane@x.com"}}],"device_identities":[],"#,
            r#""audiences":[{{"audience_id":1,"name":"VIP","member":true,"user_attributes":{{"$FirstName":"Jane"}}}},"#,
            r#"{{"audience_id":2,"name":null,"member":false,"user_attributes":{{}}}}]}}]}}"#
        ),
        rec.recorded_ms
    );
    assert_eq!(export, expected);
    let parsed: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(parsed["members"][0]["key"], "7");
    assert_eq!(store.export_subject("nosuch").unwrap(), None);

    // After an erasure of the same person, the export of the access request is empty.
    let erase = SubjectRequest::new("e1", RequestKind::Erasure, 3_000).identity(
        "email",
        "raw",
        "jane@x.com",
    );
    assert_eq!(
        store
            .record_subject_request(&erase)
            .unwrap()
            .record
            .members_removed,
        1
    );
    let export = store.export_subject("a1").unwrap().unwrap();
    assert!(export.ends_with(r#","members":[]}"#), "{export}");
}

/// Request records are kept for `dsr_retention_days` (365 by default) and then purged.
pub fn dsr_records_are_purged_after_their_retention(store: &dyn AudienceStore) {
    people(store);
    let erase = SubjectRequest::new("r1", RequestKind::Erasure, 5_000).identity("mpid", "raw", "1");
    let rec = store.record_subject_request(&erase).unwrap().record;
    let mut purged = 0;
    loop {
        let p = store.purge(rec.recorded_ms + 364 * DAY).unwrap();
        purged += p.subject_requests;
        if !p.more {
            break;
        }
    }
    assert_eq!((purged, store.subject_requests().unwrap().len()), (0, 1));
    loop {
        let p = store.purge(rec.recorded_ms + 366 * DAY).unwrap();
        purged += p.subject_requests;
        if !p.more {
            break;
        }
    }
    assert_eq!((purged, store.subject_requests().unwrap().len()), (1, 0));
}
