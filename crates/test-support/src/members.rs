//! The deterministic generator of messy audience members (mParticle profile NDJSON) behind the
//! demo audience (`examples/demo/members.ndjson`: 1,200 members of seed 2026), the tests and the
//! benchmarks (`cargo xtask generate-members`, `cargo xtask bench`).
//!
//! Member `i` of seed `s` is always the same line, whatever the machine, so a generated file
//! can be rebuilt instead of stored, and generation can be split across threads. **Its output
//! must not change by a single byte**: the demo file and the benchmark's cached member files
//! are checked against it (`tests/members.rs` here). The messiness is the real world's:
//! mixed-case and padded emails, phones in a dozen formats (and some that are not US numbers or
//! not numbers at all), limited-ad-tracking zero IDFAs and AAIDs, IDs without hyphens, unicode
//! names with commas and quotes, states and countries as names or codes, ZIPs that lost their
//! leading zero, members with nothing to match on. Lines are compact JSON (no spaces;
//! `encoding` only when not `raw`) and average about 320 bytes, the size of a typical exported
//! profile; not every member has a name, an address or a device ID.
//!
//! ```
//! use liveramp_test_support::members;
//!
//! let line = members::member_line(42, 7);
//! assert_eq!(line, members::member_line(42, 7)); // deterministic
//! let profile = liveramp_identity_mapping::Profile::from_json_line(&line)?;
//! assert_eq!(profile.mpid.as_deref(), Some("42000000007"));
//!
//! let mut out = Vec::new();
//! members::write_members(&mut out, 100, 42)?;
//! assert_eq!(out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::io::{self, Write};

/// `SplitMix64`: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST: &[&str] = &[
    "Jane",
    "John",
    "José",
    "Zoë",
    "Łukasz",
    "Müller",
    "Ana María",
    "李",
    "Siobhán",
    "Renée",
    "Mary Ann",
    "O'Neil",
    "François",
    "Ngozi",
    "Aarav",
    "Chloé",
    "Björn",
    "Sofía",
    "Kenji",
    "Robert \"Bob\"",
];

const LAST: &[&str] = &[
    "Doe",
    "Smith, Jr.",
    "García",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Müller-Lüdenscheidt",
    "van der Berg",
    "Øvergård",
    "Johnson",
    "Dubois, \"Doc\"",
    "Williams",
    "Tanaka",
    "Brown",
    "Da Silva",
    "Иванов",
    "Okafor",
    "Lee",
    "Martínez",
    "Patel",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "Example.COM",
    "mail.example.org",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "company.co.uk",
    "icloud.com",
];

const CITIES: &[(&str, &str, &str)] = &[
    ("New York", "NY", "10001"),
    ("Boston", "massachusetts", "02134"),
    ("San Francisco", "CA", "94103"),
    ("Chicago", "il", "60601"),
    ("Seattle", "Washington", "98101"),
    ("Austin", "TX", "73301"),
    ("Miami", "Florida", "33101"),
    ("Newark", "NJ", "07102"),
    ("Washington", "District of Columbia", "20001"),
    ("San Juan", "PR", "00901"),
];

const AREA_CODES: &[&str] = &[
    "212", "312", "415", "617", "202", "305", "512", "646", "718", "206", "303", "404",
];

/// Writes a phone number in one of a dozen shapes (a few are not valid US numbers).
fn phone(r: &mut Rng, out: &mut String) {
    let area = r.pick(AREA_CODES);
    let exchange = 200 + r.below(800);
    let exchange = if exchange == 555 || exchange % 100 == 11 {
        234
    } else {
        exchange
    };
    let line = r.below(10_000);
    let (a, e, l) = (area, exchange, line);
    let _ = match r.below(14) {
        0 => write!(out, "+1 ({a}) {e}-{l:04}"),
        1 => write!(out, "{a}-{e}-{l:04}"),
        2 => write!(out, "{a}.{e}.{l:04}"),
        3 => write!(out, "({a}) {e} {l:04}"),
        4 => write!(out, "{a}{e}{l:04}"),
        5 => write!(out, "1-{a}-{e}-{l:04}"),
        6 => write!(out, "+1{a}{e}{l:04}"),
        7 => write!(out, "{a} {e} {l:04} x{}", r.below(999) + 1),
        8 => write!(out, "  +1 {a} {e} {l:04} "),
        9 => write!(out, "1 ({a}) {e}-{l:04}"),
        10 => write!(out, "{a}/{e}-{l:04}"),
        11 => write!(out, "+44 20 7946 {l:04}"),
        12 => write!(out, "555-123-{l:04}"),
        _ => write!(out, "{}", r.below(99_999)),
    };
}

fn uuid(r: &mut Rng, out: &mut String, upper: bool, hyphens: bool) {
    let hi = r.next();
    let lo = r.next();
    let hex = if upper {
        format!("{hi:016X}{lo:016X}")
    } else {
        format!("{hi:016x}{lo:016x}")
    };
    if hyphens {
        let _ = write!(
            out,
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
    } else {
        out.push_str(&hex);
    }
}

fn device_id(r: &mut Rng, out: &mut String) {
    match r.below(10) {
        0 | 1 => out.push_str("00000000-0000-0000-0000-000000000000"),
        2 => {
            let upper = r.chance(50);
            uuid(r, out, upper, false);
        }
        3 => out.push_str("not-an-id"),
        _ => {
            let upper = r.chance(50);
            uuid(r, out, upper, true);
        }
    }
}

fn json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One identity; `encoding` is written only when it is not `raw` (the default).
fn identity(out: &mut String, first: &mut bool, kind: &str, encoding: &str, value: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    let _ = write!(out, "{{\"type\":\"{kind}\",");
    if encoding != "raw" {
        let _ = write!(out, "\"encoding\":\"{encoding}\",");
    }
    out.push_str("\"value\":");
    json_string(out, value);
    out.push('}');
}

fn attribute(out: &mut String, first: &mut bool, name: &str, value: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    json_string(out, name);
    out.push(':');
    json_string(out, value);
}

/// Member `index` of `seed` as one line of profile JSON (no trailing newline).
pub fn member_line(seed: u64, index: u64) -> String {
    let mut out = String::with_capacity(400);
    member_line_into(seed, index, &mut out);
    out
}

/// Like [`member_line`], appending to `out` (reused across calls for speed).
#[allow(clippy::too_many_lines)] // moving to liveramp-test-support
pub fn member_line_into(seed: u64, index: u64, out: &mut String) {
    let r = &mut Rng::new(seed, index);
    let mut value = String::with_capacity(64);
    let first_name = r.pick(FIRST);
    let last_name = r.pick(LAST);
    let (city, state, zip) = CITIES[r.below(CITIES.len())];
    let _ = write!(
        out,
        "{{\"mpid\":\"{}\",\"user_identities\":[",
        seed.wrapping_mul(1_000_000_000).wrapping_add(index)
    );
    let mut first = true;
    let nothing = r.chance(4);
    if !nothing && r.chance(85) {
        value.clear();
        let local: String = first_name
            .chars()
            .filter(char::is_ascii_alphabetic)
            .chain(".".chars())
            .chain(last_name.chars().filter(char::is_ascii_alphabetic))
            .collect();
        match r.below(12) {
            0 => {
                let _ = write!(value, "  {}@{} ", local.to_uppercase(), r.pick(DOMAINS));
            }
            1 => {
                let _ = write!(
                    value,
                    "{local}{}",
                    r.pick(&["@@example.com", "example.com", "@nodot"])
                );
            }
            2 => {
                let _ = write!(value, "{local}+news{}@{}", r.below(100), r.pick(DOMAINS));
            }
            _ => {
                let _ = write!(value, "{local}{}@{}", r.below(10_000), r.pick(DOMAINS));
            }
        }
        if value == ".@example.com" {
            value = format!("member{index}@example.com");
        }
        if r.chance(5) {
            let digest = liveramp_pii_normalize::hex_digest(
                liveramp_pii_normalize::HashAlgorithm::Sha256,
                &value.trim().to_lowercase(),
            );
            identity(out, &mut first, "email", "sha256", &digest);
        } else {
            identity(out, &mut first, "email", "raw", &value);
        }
    }
    if !nothing && r.chance(70) {
        value.clear();
        phone(r, &mut value);
        identity(out, &mut first, "mobile_number", "raw", &value);
    }
    if !nothing && r.chance(15) {
        value.clear();
        phone(r, &mut value);
        identity(out, &mut first, "phone_number_2", "raw", &value);
    }
    if r.chance(20) {
        identity(
            out,
            &mut first,
            "customer_id",
            "raw",
            &format!("C{}", r.below(1_000_000)),
        );
    }
    out.push_str("],\"device_identities\":[");
    first = true;
    if r.chance(30) {
        value.clear();
        device_id(r, &mut value);
        identity(out, &mut first, "ios_advertising_id", "raw", &value);
    }
    if r.chance(30) {
        value.clear();
        device_id(r, &mut value);
        identity(out, &mut first, "google_advertising_id", "raw", &value);
    }
    out.push_str("],\"user_attributes\":{");
    first = true;
    if !nothing {
        if r.chance(80) {
            let padded = |name: &str, r: &mut Rng| {
                if r.chance(15) {
                    format!("  {name}\t")
                } else {
                    name.to_owned()
                }
            };
            let first_value = padded(first_name, r);
            attribute(out, &mut first, "$FirstName", &first_value);
            let last_value = padded(last_name, r);
            attribute(out, &mut first, "$LastName", &last_value);
        }
        let address = r.below(100);
        if address < 55 {
            attribute(out, &mut first, "$City", city);
            attribute(
                out,
                &mut first,
                "$State",
                if r.chance(10) { "Atlantis" } else { state },
            );
            let zip_value = match r.below(10) {
                0 => zip.trim_start_matches('0').to_owned(),
                1 => format!("{zip}-{:04}", r.below(10_000)),
                2 => "ABCDE".to_owned(),
                _ => zip.to_owned(),
            };
            attribute(out, &mut first, "$Zip", &zip_value);
        }
        if address < 70 {
            let country = r.pick(&[
                "US",
                "USA",
                "United States",
                "us",
                "U.S.",
                "Canada",
                "Narnia",
            ]);
            attribute(out, &mut first, "$Country", country);
        }
        if r.chance(20) {
            value.clear();
            phone(r, &mut value);
            attribute(out, &mut first, "$Mobile", &value);
        }
    }
    if r.chance(20) {
        attribute(
            out,
            &mut first,
            "loyalty_tier",
            r.pick(&["gold", "silver", "bronze"]),
        );
    }
    out.push('}');
    if r.chance(10) {
        let _ = write!(
            out,
            ",\"calculated_attributes\":{{\"lifetime_value\":{}.{}}}",
            r.below(5000),
            r.below(10)
        );
    }
    out.push('}');
}

/// Writes `count` members of `seed` as NDJSON (one profile per line).
pub fn write_members(out: &mut dyn Write, count: u64, seed: u64) -> io::Result<()> {
    let mut line = String::with_capacity(512);
    for index in 0..count {
        line.clear();
        member_line_into(seed, index, &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// Members `0..count` of `seed`, as lines (no newlines).
pub fn lines(count: u64, seed: u64) -> Vec<String> {
    (0..count).map(|i| member_line(seed, i)).collect()
}

/// Writes `lines` to `path` as an NDJSON file (each line followed by `\n`).
pub fn write_lines(path: &std::path::Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Writes `count` members of `seed` to the file at `path` (what `cargo xtask generate-members
/// --count COUNT --seed SEED --output PATH` writes).
pub fn write_file(path: &std::path::Path, count: u64, seed: u64) {
    std::fs::File::create(path)
        .and_then(|f| write_members(&mut io::BufWriter::new(f), count, seed))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
