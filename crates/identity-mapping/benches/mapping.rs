//! Mapping throughput: members per second through `Mapper::map_into` with the default PII
//! columns and every hash on, JSON parsing of profile lines separately, and one timed pass over
//! 1,000,000 members (parse + map, one thread) to confirm the criterion figures.
//!
//! Run with `cargo bench -p liveramp-identity-mapping`; criterion reports members/s ("elem/s").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use liveramp_identity_mapping::{HashAlgorithm, MappedMember, Mapper, MappingConfig, Profile};

const BATCH: usize = 10_000;
const MILLION: usize = 1_000_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next()).unwrap() % items.len()]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const FIRST: &[&str] = &[
    "Jane",
    " José ",
    "Mary Ann",
    "李",
    "Robert \"Bob\"",
    "Zoë",
    "Ann",
];
const LAST: &[&str] = &[
    "Doe",
    "O'Brien",
    "Smith, Jr.",
    "García Márquez",
    "Nguyễn",
    "Park",
];
const CITY: &[&str] = &[
    "New York",
    "san  francisco",
    "São Paulo",
    "Chicago",
    "Austin",
];
const STATE: &[&str] = &["NY", "new york", "California", "tx", "IL", "Ontario"];
const ZIP: &[&str] = &["10001", "10001-1234", "94105", "2134", "ABCDE", "60601"];
const COUNTRY: &[&str] = &["US", "usa", "United States", "Canada", "US", "US"];
const DOMAIN: &[&str] = &["Example.com", "gmail.com", "YAHOO.COM", "company.co.uk"];
const PHONE_FORMATS: &[&str] = &[
    "+1 (AAA) 555-01LL",
    "AAA.555.01LL",
    "1-AAA-555-01LL",
    "(AAA)55501LL",
    "AAA 555 01LL",
];
const AREA: &[&str] = &["212", "415", "312", "617", "305", "206", "713", "404"];

/// One realistic member as a line of mParticle profile JSON.
fn profile_line(rng: &mut Lcg, i: usize) -> String {
    let phone = |rng: &mut Lcg| {
        let line = format!("{:02}", rng.next() % 100);
        rng.pick(PHONE_FORMATS)
            .replace("AAA", rng.pick(AREA))
            .replace("LL", &line)
    };
    let mut users = vec![format!(
        r#"{{"type": "email", "encoding": "raw", "value": " User.{i}@{}"}}"#,
        rng.pick(DOMAIN)
    )];
    users.push(format!(
        r#"{{"type": "mobile_number", "value": "{}"}}"#,
        phone(rng)
    ));
    if rng.chance(30) {
        users.push(format!(
            r#"{{"type": "phone_number_2", "value": "{}"}}"#,
            phone(rng)
        ));
    }
    users.push(format!(r#"{{"type": "customer_id", "value": "C{i}"}}"#));
    let device = if rng.chance(50) {
        format!(
            r#"{{"type": "ios_advertising_id", "value": "{:08x}-8246-4ba4-ae5b-76104861e7dc"}}"#,
            rng.next()
        )
    } else {
        format!(
            r#"{{"type": "google_advertising_id", "value": "{:08X}-8CF0-11BD-B23E-10B96E40000D"}}"#,
            rng.next()
        )
    };
    format!(
        r#"{{"mpid": "{i}", "user_identities": [{}], "device_identities": [{device}], "user_attributes": {{"$FirstName": {}, "$LastName": {}, "$City": "{}", "$State": "{}", "$Zip": "{}", "$Country": "{}", "$Mobile": "{}", "loyalty_tier": "gold", "$Gender": "f", "$Age": 41}}, "calculated_attributes": {{"lifetime_value": 1234.5, "orders": 42}}}}"#,
        users.join(", "),
        serde_json::to_string(rng.pick(FIRST)).unwrap(),
        serde_json::to_string(rng.pick(LAST)).unwrap(),
        rng.pick(CITY),
        rng.pick(STATE),
        rng.pick(ZIP),
        rng.pick(COUNTRY),
        phone(rng),
    )
}

fn lines() -> Vec<String> {
    let mut rng = Lcg(0x5eed);
    (0..BATCH).map(|i| profile_line(&mut rng, i)).collect()
}

fn default_hashed() -> MappingConfig {
    MappingConfig {
        hash_emails_and_phones: true,
        ..MappingConfig::default()
    }
}

fn every_hash() -> MappingConfig {
    MappingConfig {
        hash_emails_and_phones: true,
        phone_hashes: HashAlgorithm::ALL.to_vec(),
        ..MappingConfig::default()
    }
}

fn benches(c: &mut Criterion) {
    let lines = lines();
    let profiles: Vec<Profile> = lines
        .iter()
        .map(|l| Profile::from_json_line(l).unwrap())
        .collect();

    let mut group = c.benchmark_group("identity-mapping");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("parse 10k profile lines", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(Profile::from_json_line(line).unwrap());
            }
        });
    });
    for (name, config) in [
        (
            "map 10k, default columns, emails MD5+SHA-1+SHA-256, phones SHA-1",
            default_hashed(),
        ),
        (
            "map 10k, default columns, every hash for emails and phones",
            every_hash(),
        ),
        (
            "map 10k, default columns, raw (hashing off)",
            MappingConfig::default(),
        ),
    ] {
        let mapper = Mapper::new(config).unwrap();
        let mut out = MappedMember::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                for profile in &profiles {
                    mapper.map_into(profile, &mut out);
                    black_box(out.pii_row());
                }
            });
        });
    }
    group.finish();
}

/// One timed pass over 1,000,000 members (the 10k lines 100 times): parse, then map with the
/// default columns and every email hash, on one thread.
fn million(lines: &[String]) {
    let mapper = Mapper::new(default_hashed()).unwrap();
    let mut out = MappedMember::new();
    let (mut rows, mut rejections) = (0usize, 0usize);
    let mut parse = Duration::ZERO;
    let mut map = Duration::ZERO;
    for _ in 0..MILLION / BATCH {
        for line in lines {
            let t = Instant::now();
            let profile = Profile::from_json_line(line).unwrap();
            let t2 = Instant::now();
            mapper.map_into(&profile, &mut out);
            map += t2.elapsed();
            parse += t2 - t;
            rows += usize::from(out.pii_row().is_some()) + out.device_rows().len();
            rejections += out.rejections().len();
        }
    }
    let per_s = |d: Duration| {
        #[allow(clippy::cast_precision_loss)]
        let members = MILLION as f64;
        members / d.as_secs_f64()
    };
    println!(
        "\n1,000,000 members on one thread: parse {:.2} s ({:.0} members/s), map {:.2} s \
         ({:.0} members/s), parse + map {:.0} members/s; {rows} rows, {rejections} rejections",
        parse.as_secs_f64(),
        per_s(parse),
        map.as_secs_f64(),
        per_s(map),
        per_s(parse + map),
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    million(&lines());
}
