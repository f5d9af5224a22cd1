//! Helpers shared by the integration tests of this crate (the workspace-wide fixtures are in
//! `liveramp-test-support`).
#![allow(dead_code, unreachable_pub)]

use chrono::NaiveDate;
use liveramp_file_format::{DataType, FileName};

pub fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 4, 1).unwrap()
}

pub fn name(data_type: DataType) -> FileName {
    FileName::new("3242", "17095", data_type, date()).unwrap()
}

pub const PII_HEADER: [&str; 9] = [
    "FIRSTNAME",
    "LASTNAME",
    "ADDRESS1",
    "CITY",
    "STATE",
    "ZIP",
    "EMAIL1",
    "EMAIL1_SHA-256",
    "PHONE1_SHA-1",
];

/// A small deterministic generator (xorshift), so tests need no extra dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A field mixing plain text with every character that matters to CSV.
    pub fn field(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "Zoë", "東京", "🎉", ",", "\"", "\r", "\n", "\r\n", " ", "'", "x@y.z", "0123",
            "\t", ";", "é", "",
        ];
        let len = self.below(6);
        (0..len)
            .map(|_| PIECES[usize::try_from(self.below(PIECES.len() as u64)).unwrap()])
            .collect()
    }

    pub fn row(&mut self, columns: usize) -> Vec<String> {
        (0..columns).map(|_| self.field()).collect()
    }
}

/// What the writer turns a field into: each `\r` or `\n` becomes a space.
pub fn replaced(field: &str) -> String {
    field.replace(['\r', '\n'], " ")
}

/// Parses CSV text with the `csv` crate's reader: every record, header included.
pub fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}
