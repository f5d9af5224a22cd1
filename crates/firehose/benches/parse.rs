//! Reading speed: profiles per second through `Message::from_json` for a 100-profile
//! `audience_membership_change_request` shaped like mParticle's (identities, two or three
//! audiences per user, some shared attributes), with `type` first (one pass) and last (a scan
//! for the type, then the read), and one timed pass over 1,000,000 profiles to confirm the
//! criterion figure.
//!
//! Run with `cargo bench -p liveramp-firehose`; criterion reports profiles/s ("elem/s").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    missing_docs
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use liveramp_firehose::Message;

const PROFILES: usize = 100;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A deterministic batch of `PROFILES` users, with `type` first or last.
fn batch(type_first: bool) -> String {
    let mut rng = Lcg(17095);
    let mut profiles = String::new();
    for i in 0..PROFILES {
        if i > 0 {
            profiles.push(',');
        }
        let n = rng.next();
        let _ = write!(
            profiles,
            r#"{{"mpid":"{mpid}","user_identities":[{{"type":"email","encoding":"raw","value":"user.{n}@example.com"}},{{"type":"mobile_number","encoding":"raw","value":"+1 646 555 {phone:04}"}}],"device_identities":[{{"type":"ios_advertising_id","encoding":"raw","value":"{a:08x}-{b:04x}-4{c:03x}-8{c:03x}-{n:012x}"}}],"audiences":[{{"audience_id":17095,"audience_name":"High-value customers","audience_subscription_settings":{{"External Name":"High-value customers"}},"action":"add"}},{{"audience_id":17096,"audience_name":"Newsletter readers","action":"attribute_update","user_attributes":[{{"key":"$Mobile","value":"646 555 {phone:04}","action":"upsert"}},{{"key":"$Zip","value":"100{zip:02}","action":"upsert"}}]}}{lapsed}]}}"#,
            mpid = 8_000_000_000_u64 + n,
            phone = n % 10_000,
            a = n & 0xffff_ffff,
            b = n % 0xffff,
            c = n % 0xfff,
            zip = n % 100,
            lapsed = if n.is_multiple_of(3) {
                r#",{"audience_id":17097,"audience_name":"Lapsed","action":"delete"}"#
            } else {
                ""
            },
        );
    }
    let head = r#""id":"3e8a1f27-5b6c-4d90-8f31-2c7e9a0b4d16","timestamp_ms":1767225605678,"firehose_version":"3.3.0","account":{"account_id":4242,"account_settings":{"apiKey":"bench-key","sendPii":"true"}}"#;
    let kind = r#""type":"audience_membership_change_request""#;
    if type_first {
        format!("{{{kind},{head},\"user_profiles\":[{profiles}]}}")
    } else {
        format!("{{{head},\"user_profiles\":[{profiles}],{kind}}}")
    }
}

fn profiles(message: &Message) -> usize {
    match message {
        Message::AudienceMembershipChange(m) => m.user_profiles.len(),
        _ => 0,
    }
}

fn main() {
    let first = batch(true);
    let last = batch(false);
    assert_eq!(
        profiles(&Message::from_json(first.as_bytes()).unwrap()),
        PROFILES
    );
    assert_eq!(
        profiles(&Message::from_json(last.as_bytes()).unwrap()),
        PROFILES
    );

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("firehose");
    group.throughput(Throughput::Elements(PROFILES as u64));
    group.bench_function("membership_100_profiles/type_first", |b| {
        b.iter(|| Message::from_json(black_box(first.as_bytes())).unwrap());
    });
    group.bench_function("membership_100_profiles/type_last", |b| {
        b.iter(|| Message::from_json(black_box(last.as_bytes())).unwrap());
    });
    group.finish();
    c.final_summary();

    // One timed pass over a million profiles, to confirm the criterion figure.
    let runs = 1_000_000 / PROFILES;
    let started = Instant::now();
    let mut total = 0;
    for _ in 0..runs {
        total += profiles(&Message::from_json(black_box(first.as_bytes())).unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "1,000,000 profiles ({} bytes per 100-profile message), one thread: {seconds:.2} s, \
         {:.0} profiles/s, {:.0} MB/s",
        first.len(),
        total as f64 / seconds,
        (first.len() * runs) as f64 / seconds / 1e6,
    );
}
