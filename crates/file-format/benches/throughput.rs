//! Writer throughput on a generated 1,000,000-row PII file, next to `gzip -c` and `cat` on the
//! same file, measured in the same run. Prints a markdown table.
//!
//! `cargo bench -p liveramp-file-format` (rows: `FILE_FORMAT_BENCH_ROWS`, default 1,000,000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::fs::File;
use std::hint::black_box;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use liveramp_file_format::{
    Compression, CsvFileWriter, DataType, FileName, PartSink, RowOutcome, WriterOptions,
};
use sha2::{Digest, Sha256};

const HEADER: [&str; 12] = [
    "FIRSTNAME",
    "LASTNAME",
    "ADDRESS1",
    "CITY",
    "STATE",
    "ZIP",
    "EMAIL1",
    "EMAIL1_SHA-256",
    "EMAIL1_SHA-1",
    "EMAIL1_MD5",
    "PHONE1",
    "PHONE1_SHA-1",
];

const FIRST: &[&str] = &[
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "Zoë", "José",
    "Aiko", "Olusegun", "Siobhán", "Wei", "Fatima", "Lars",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "O'Brien",
    "Nguyen",
    "Müller",
    "Kowalski",
    "Rodriguez",
    "Lee, Jr.",
    "Okafor",
    "Tanaka",
];
const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Park Blvd",
    "Elm St",
    "Washington Ave",
    "Lake Rd",
];
const CITIES: &[(&str, &str)] = &[
    ("New York", "NY"),
    ("Los Angeles", "CA"),
    ("Chicago", "IL"),
    ("Houston", "TX"),
    ("Phoenix", "AZ"),
    ("Philadelphia", "PA"),
    ("San Antonio", "TX"),
    ("Boston", "MA"),
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "example.com",
    "icloud.com",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.next() % items.len() as u64).unwrap()]
    }
}

/// Rows kept in one arena: `ends[row][field]` is the end offset of each field.
struct Rows {
    text: String,
    ends: Vec<[u32; 12]>,
    keys: String,
    key_ends: Vec<u32>,
}

impl Rows {
    fn generate(n: usize) -> Rows {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut rows = Rows {
            text: String::with_capacity(n * 300),
            ends: Vec::with_capacity(n),
            keys: String::with_capacity(n * 12),
            key_ends: Vec::with_capacity(n),
        };
        let mut start = 0usize;
        for i in 0..n {
            let first = *rng.pick(FIRST);
            let last = *rng.pick(LAST);
            let (city, state) = *rng.pick(CITIES);
            let email = format!(
                "{}.{}{}@{}",
                first.to_lowercase(),
                last.to_lowercase().replace([' ', ',', '\''], ""),
                rng.next() % 10_000,
                rng.pick(DOMAINS)
            );
            let email_hash = hex::encode(Sha256::digest(email.as_bytes()));
            let phone = format!("{}", 2_000_000_000 + rng.next() % 7_999_999_999);
            let phone_hash = hex::encode(Sha256::digest(phone.as_bytes()));
            // Every eighth address has a second line with a comma: quoted on output.
            let address = if i % 8 == 0 {
                format!(
                    "{} {}, Apt {}",
                    rng.next() % 9999 + 1,
                    rng.pick(STREETS),
                    rng.next() % 99
                )
            } else {
                format!("{} {}", rng.next() % 9999 + 1, rng.pick(STREETS))
            };
            let zip = format!("{:05}", rng.next() % 100_000);
            let fields: [&str; 12] = [
                first,
                last,
                &address,
                city,
                state,
                &zip,
                &email,
                &email_hash,
                // SHA-1 and MD5 stand-ins: hex of the same length (the writer only sees text).
                &email_hash[..40],
                &email_hash[..32],
                &phone,
                &phone_hash[..40],
            ];
            let mut ends = [0u32; 12];
            for (end, field) in ends.iter_mut().zip(fields) {
                rows.text.push_str(field);
                *end = u32::try_from(rows.text.len() - start).unwrap();
            }
            rows.ends.push(ends);
            rows.text.push('\u{0}');
            start = rows.text.len();
            let _ = write!(rows.keys, "member-{i}");
            rows.key_ends.push(u32::try_from(rows.keys.len()).unwrap());
        }
        rows
    }

    /// Calls `f(key, fields)` for every row, without allocating.
    fn for_each(&self, mut f: impl FnMut(&str, &[&str; 12])) {
        let mut start = 0usize;
        let mut key_start = 0usize;
        for (ends, &key_end) in self.ends.iter().zip(&self.key_ends) {
            let mut fields = [""; 12];
            let mut from = start;
            for (field, &end) in fields.iter_mut().zip(ends) {
                let end = start + end as usize;
                *field = &self.text[from..end];
                from = end;
            }
            let key_end = key_end as usize;
            f(&self.keys[key_start..key_end], &fields);
            key_start = key_end;
            start = from + 1;
        }
    }
}

/// Counts bytes and throws them away.
struct NullSink;

impl PartSink for NullSink {
    type Writer = io::Sink;
    type Output = ();

    fn open(&mut self, _name: &FileName) -> io::Result<io::Sink> {
        Ok(io::sink())
    }

    fn close(&mut self, _writer: io::Sink, _name: &FileName) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the single part to a given path.
struct ToPath<'a>(&'a Path);

impl PartSink for ToPath<'_> {
    type Writer = File;
    type Output = ();

    fn open(&mut self, _name: &FileName) -> io::Result<File> {
        File::create(self.0)
    }

    fn close(&mut self, _writer: File, _name: &FileName) -> io::Result<()> {
        Ok(())
    }
}

/// Wall-clock and CPU time of one run.
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

/// CPU seconds used so far by this process (`children`: by its waited-for children), from
/// `/proc/self/stat` (10 ms resolution). CPU time keeps the comparison meaningful on a machine
/// shared with other jobs.
fn cpu_time(children: bool) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let (user, system) = if children { (13, 14) } else { (11, 12) };
    let ticks: u64 = fields[user].parse::<u64>().unwrap() + fields[system].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn timed(children: bool, f: impl FnOnce()) -> Timing {
    let cpu = cpu_time(children);
    let start = Instant::now();
    f();
    Timing {
        wall: start.elapsed(),
        cpu: cpu_time(children).saturating_sub(cpu),
    }
}

fn best_of(runs: usize, mut f: impl FnMut() -> Timing) -> Timing {
    (0..runs).map(|_| f()).min_by_key(|t| t.cpu).unwrap()
}

/// Writes every row; returns (uncompressed bytes, written bytes) of the single part.
fn write_all<P: PartSink>(rows: &Rows, name: &FileName, sink: P) -> (u64, u64) {
    write_all_with(rows, name, sink, WriterOptions::default())
}

fn write_all_with<P: PartSink>(
    rows: &Rows,
    name: &FileName,
    sink: P,
    options: WriterOptions,
) -> (u64, u64) {
    let mut writer = CsvFileWriter::with_options(name, &HEADER, sink, options).unwrap();
    rows.for_each(|key, fields| {
        let outcome = writer.write_row(key, fields).unwrap();
        debug_assert_eq!(outcome, RowOutcome::Written);
        let _ = black_box(outcome);
    });
    let summary = writer.finish().unwrap();
    let part = &summary.parts[0];
    (part.uncompressed_bytes, part.written_bytes)
}

fn run_tool(program: &str, args: &[&str], file: &Path) {
    let status = Command::new(program)
        .args(args)
        .arg(file)
        .stdout(Stdio::from(File::create("/dev/null").unwrap()))
        .status()
        .unwrap_or_else(|err| panic!("{program} must be installed: {err}"));
    assert!(status.success(), "{program} failed");
}

fn main() {
    let n: usize = std::env::var("FILE_FORMAT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // Best of 3 for the quick measurements, of 2 for the gzip ones (a full run stays within a
    // few minutes).
    let runs = 3;
    let gzip_runs = 2;
    let generated = Instant::now();
    let rows = Rows::generate(n);
    println!(
        "generated {n} PII rows ({} columns) in {:.1} s",
        HEADER.len(),
        generated.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("bench.csv");
    let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let plain = FileName::new("3242", "17095", DataType::Pii, date).unwrap();
    let gz = plain.with_compression(Compression::Gzip).unwrap();

    let mut csv_bytes = 0;
    let mut gz6_bytes = 0;
    let mut results: Vec<(&str, Timing)> = Vec::new();
    results.push((
        "CsvFileWriter, plain, to a file",
        best_of(runs, || {
            timed(false, || {
                csv_bytes = write_all(&rows, &plain, ToPath(&csv_path)).0;
            })
        }),
    ));
    results.push((
        "CsvFileWriter, plain, to io::sink",
        best_of(runs, || {
            timed(false, || {
                black_box(write_all(&rows, &plain, NullSink));
            })
        }),
    ));
    results.push((
        "CsvFileWriter, gzip level 6, to io::sink",
        best_of(gzip_runs, || {
            timed(false, || {
                gz6_bytes = write_all(&rows, &gz, NullSink).1;
            })
        }),
    ));
    let gz1_options = WriterOptions {
        gzip_level: 1,
        ..WriterOptions::default()
    };
    let mut fast_gz_bytes = 0;
    results.push((
        "CsvFileWriter, gzip level 1, to io::sink",
        best_of(gzip_runs, || {
            timed(false, || {
                fast_gz_bytes = write_all_with(&rows, &gz, NullSink, gz1_options).1;
            })
        }),
    ));
    assert_eq!(std::fs::metadata(&csv_path).unwrap().len(), csv_bytes);
    let gzip_c = best_of(gzip_runs, || {
        timed(true, || run_tool("gzip", &["-c"], &csv_path))
    });
    results.push(("`gzip -c file > /dev/null` (level 6)", gzip_c));
    let cat = best_of(runs, || timed(true, || run_tool("cat", &[], &csv_path)));
    results.push(("`cat file > /dev/null`", cat));

    println!();
    println!(
        "{n} rows, {csv_bytes} bytes of CSV ({:.0} bytes/row); gzip level 6: {gz6_bytes} bytes \
         ({:.1}%), level 1: {fast_gz_bytes} bytes ({:.1}%); best of {runs} runs ({gzip_runs} for \
         gzip) by CPU time; `nproc` = {}",
        csv_bytes as f64 / n as f64,
        100.0 * gz6_bytes as f64 / csv_bytes as f64,
        100.0 * fast_gz_bytes as f64 / csv_bytes as f64,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
    );
    println!();
    println!(
        "| what | wall s | CPU s | MB/s (CPU) | rows/s (CPU) | MB/s (wall) | speed vs `gzip -c` (CPU) | speed vs `cat` (wall) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (what, t) in &results {
        let wall = t.wall.as_secs_f64();
        // 10 ms tick resolution: never divide by zero.
        let cpu = t.cpu.as_secs_f64().max(0.005);
        println!(
            "| {what} | {wall:.3} | {:.2} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.3}x |",
            t.cpu.as_secs_f64(),
            csv_bytes as f64 / cpu / 1e6,
            n as f64 / cpu,
            csv_bytes as f64 / wall / 1e6,
            gzip_c.cpu.as_secs_f64() / cpu,
            cat.wall.as_secs_f64() / wall,
        );
    }
}
