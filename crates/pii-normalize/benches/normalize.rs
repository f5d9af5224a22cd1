//! Normalisation throughput over 1,000,000 mixed values (emails, phones in many formats,
//! IDFA/AAID, ZIPs, states, countries, names), on one thread and on two.
//!
//! Run with `cargo bench -p liveramp-pii-normalize`; criterion reports values/s ("elem/s").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use liveramp_pii_normalize::{
    Aaid, City, Country, Email, HashAlgorithm, Idfa, PersonName, Phone, State, Zip, digest,
};

const N: usize = 1_000_000;

#[derive(Clone, Copy)]
enum Kind {
    Email,
    Phone,
    Idfa,
    Aaid,
    Zip,
    State,
    Country,
    Name,
    City,
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[usize::try_from(self.next()).unwrap() % xs.len()]
    }
}

const FIRST: &[&str] = &[
    "John",
    "MARY",
    "josé",
    "Zoë",
    "Li",
    "Anne-Marie",
    "o'neil",
    "Ahmed",
];
const LAST: &[&str] = &[
    "Smith",
    "GARCÍA",
    "nguyen",
    "O'Brien",
    "van der Berg",
    "Müller",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "Yahoo.com",
    "liveramp.com",
    "example.co.uk",
    "mail.de",
];
const NPAS: &[&str] = &[
    "212", "415", "646", "312", "213", "305", "617", "202", "416", "787",
];
const STATES: &[&str] = &[
    "NY",
    "ca",
    "Texas",
    "new york",
    "Fla.",
    "DC",
    "Puerto Rico",
    " il ",
];
const COUNTRIES: &[&str] = &[
    "US",
    "usa",
    "United States",
    "U.S.",
    "Canada",
    "GB",
    "UK",
    "mex",
];
const CITIES: &[&str] = &["New York", "  san francisco ", "Saint-Étienne", "Chicago\n"];

/// A phone in one of 20 formats; with `rare`, 2 of the 20 are a vanity number and a foreign
/// number, which take libphonenumber's full parse (about 35x slower than the fast path).
fn phone(rng: &mut Lcg, rare: bool) -> String {
    let npa = rng.pick(NPAS);
    let nxx = 200 + rng.next() % 800;
    let line = rng.next() % 10_000;
    match rng.next() % if rare { 20 } else { 18 } {
        0..=3 => format!("({npa}) {nxx}-{line:04}"),
        4..=6 => format!("{npa}-{nxx}-{line:04}"),
        7..=8 => format!("{npa}.{nxx}.{line:04}"),
        9..=10 => format!("+1 {npa} {nxx} {line:04}"),
        11..=12 => format!("1-{npa}-{nxx}-{line:04}"),
        13..=14 => format!("{npa}{nxx}{line:04}"),
        15 => format!("+1{npa}{nxx}{line:04}"),
        16 => format!("{npa}-{nxx}-{line:04} ext. 12"),
        // Rejected as invalid (unassigned area code).
        17 => format!("(555) {nxx}-{line:04}"),
        // These take libphonenumber's full parse.
        18 => "1-800-FLOWERS".to_owned(),
        _ => "+44 20 7946 0958".to_owned(),
    }
}

fn uuid(rng: &mut Lcg) -> String {
    let a = rng.next();
    let b = rng.next();
    let c = rng.next();
    let d = rng.next();
    let hex = format!("{a:08x}{b:08x}{c:08x}{d:08x}");
    if a & 1 == 0 {
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    } else {
        hex[..32].to_uppercase()
    }
}

fn corpus(rare_phones: bool) -> Vec<(Kind, String)> {
    let mut rng = Lcg(2026);
    (0..N)
        .map(|i| match rng.next() % 20 {
            0..=5 => {
                let v = format!(
                    " {}.{}{}@{} ",
                    rng.pick(FIRST),
                    rng.pick(LAST).replace(' ', ""),
                    i % 1000,
                    rng.pick(DOMAINS)
                );
                (Kind::Email, v)
            }
            6..=11 => (Kind::Phone, phone(&mut rng, rare_phones)),
            12 => (Kind::Idfa, uuid(&mut rng)),
            13 => (Kind::Aaid, uuid(&mut rng)),
            14 => (Kind::Zip, format!("{:05}", rng.next() % 100_000)),
            15 => (Kind::State, rng.pick(STATES).to_owned()),
            16 => (Kind::Country, rng.pick(COUNTRIES).to_owned()),
            17..=18 => (
                Kind::Name,
                format!(" {}  {} ", rng.pick(FIRST), rng.pick(LAST)),
            ),
            _ => (Kind::City, rng.pick(CITIES).to_owned()),
        })
        .collect()
}

/// Normalises every value; returns how many were accepted (so nothing is optimised away).
fn normalize_all(values: &[(Kind, String)]) -> usize {
    let mut ok = 0;
    for (kind, raw) in values {
        let accepted = match kind {
            Kind::Email => Email::parse(raw).is_ok(),
            Kind::Phone => Phone::parse(raw).is_ok(),
            Kind::Idfa => Idfa::parse(raw).is_ok(),
            Kind::Aaid => Aaid::parse(raw).is_ok(),
            Kind::Zip => Zip::parse(raw).is_ok(),
            Kind::State => State::parse(raw).is_ok(),
            Kind::Country => Country::parse(raw).is_ok(),
            Kind::Name => PersonName::parse(raw).is_ok(),
            Kind::City => City::parse(raw).is_ok(),
        };
        ok += usize::from(accepted);
    }
    ok
}

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/stat`, utime + stime in
/// `USER_HZ` = 100 ticks per second), so a figure is available even on a busy shared host where
/// wall-clock time is inflated by other processes. `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Values per CPU-second over `rounds` passes (best pass).
fn cpu_rate(values: &[(Kind, String)], rounds: usize) -> Option<f64> {
    let mut best: Option<f64> = None;
    for _ in 0..rounds {
        let start = thread_cpu_seconds()?;
        black_box(normalize_all(black_box(values)));
        let spent = thread_cpu_seconds()? - start;
        if spent > 0.0 {
            let rate = f64::from(u32::try_from(values.len()).unwrap()) / spent;
            best = Some(best.map_or(rate, |b: f64| b.max(rate)));
        }
    }
    best
}

fn bench(c: &mut Criterion) {
    let started = Instant::now();
    let _ = black_box(Phone::parse("2125550123"));
    println!(
        "first phone parse (builds the NANP validity table): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let values = corpus(true);
    let accepted = normalize_all(&values);
    println!("corpus: {N} values, {accepted} accepted");
    let common = corpus(false);
    for (name, corpus) in [("mixed_1m", &values), ("mixed_1m_common_phones", &common)] {
        if let Some(rate) = cpu_rate(corpus, 3) {
            println!("{name}: {rate:.0} values per CPU-second (one thread, best of 3)");
        }
    }

    let mut group = c.benchmark_group("normalize");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    for (name, values) in [("mixed_1m", &values), ("mixed_1m_common_phones", &common)] {
        group.bench_function(format!("{name}/1_thread"), |b| {
            b.iter(|| normalize_all(black_box(values)));
        });
        group.bench_function(format!("{name}/2_threads"), |b| {
            b.iter(|| {
                let (left, right) = values.split_at(N / 2);
                std::thread::scope(|s| {
                    let l = s.spawn(|| normalize_all(black_box(left)));
                    let r = normalize_all(black_box(right));
                    l.join().unwrap() + r
                })
            });
        });
    }
    group.finish();

    // Phones alone: the fast path against libphonenumber's full parse of the same inputs.
    let phones: Vec<String> = values
        .iter()
        .filter(|(k, _)| matches!(k, Kind::Phone))
        .map(|(_, v)| v.clone())
        .take(20_000)
        .collect();
    let mut group = c.benchmark_group("phone");
    group.sample_size(10);
    group.throughput(Throughput::Elements(phones.len() as u64));
    group.bench_function("Phone::parse", |b| {
        b.iter(|| phones.iter().filter(|p| Phone::parse(p).is_ok()).count());
    });
    group.bench_function("phonenumber::parse+is_valid", |b| {
        b.iter(|| {
            phones
                .iter()
                .filter(|p| {
                    phonenumber::parse(Some(phonenumber::country::Id::US), p)
                        .is_ok_and(|n| n.code().value() == 1 && phonenumber::is_valid(&n))
                })
                .count()
        });
    });
    group.finish();

    // Hashing normalised emails (the other per-value cost of a PII file).
    let emails: Vec<Email> = values
        .iter()
        .filter(|(k, _)| matches!(k, Kind::Email))
        .filter_map(|(_, v)| Email::parse(v).ok())
        .take(100_000)
        .collect();
    let mut group = c.benchmark_group("hash");
    group.sample_size(10);
    group.throughput(Throughput::Elements(emails.len() as u64));
    for alg in HashAlgorithm::ALL {
        group.bench_function(format!("email_{alg}"), |b| {
            b.iter(|| {
                emails
                    .iter()
                    .map(|e| digest(alg, e.as_str()).as_str().len())
                    .sum::<usize>()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
