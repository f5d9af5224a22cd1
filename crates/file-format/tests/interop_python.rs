//! Interop: Python's `csv` module (an independent reader) parses the files back field for field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{PII_HEADER, Rng, name, replaced};
use liveramp_file_format::{
    Compression, CsvFileWriter, DataType, DirectorySink, Limits, RowOutcome, WriterOptions,
};
use liveramp_test_support::csv::python_csv_strict;

/// Reads a CSV file with Python's `csv` module in strict mode and returns every record (header
/// included).
fn python_read(path: &Path) -> Vec<Vec<String>> {
    python_csv_strict(&std::fs::read(path).unwrap())
}

#[test]
fn python_reads_back_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut rows: Vec<Vec<String>> = Vec::new();
    // Hand-picked awkward rows first, then random ones.
    rows.push(
        [
            "Zoë",
            "O'Brien",
            "12 Main St, Apt 4",
            "Montréal",
            "QC",
            "",
            "a\"b",
            "\r\n",
            ",",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    rows.push(
        ["", "", "", "", "", "", "", "", ""]
            .map(str::to_owned)
            .to_vec(),
    );
    rows.push(
        [
            "\"",
            "\"\"",
            " lead",
            "trail ",
            "東京",
            "🎉",
            "tab\tin",
            "semi;colon",
            "back\\slash",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for _ in 0..2000 {
        rows.push(rng.row(PII_HEADER.len()));
    }
    let mut writer = CsvFileWriter::new(
        name(DataType::Pii),
        &PII_HEADER,
        DirectorySink::new(dir.path()),
    )
    .unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            writer.write_row(&i.to_string(), row).unwrap(),
            RowOutcome::Written
        );
    }
    let summary = writer.finish().unwrap();
    assert_eq!(summary.parts.len(), 1);
    let path = &summary.parts[0].output;
    assert_eq!(path, &dir.path().join("3242_17095-PII_2020-04-01.csv"));

    let records = python_read(path);
    assert_eq!(records.len(), rows.len() + 1);
    assert_eq!(records[0], PII_HEADER.map(str::to_owned).to_vec());
    for (i, (read, written)) in records[1..].iter().zip(&rows).enumerate() {
        let expected: Vec<String> = written.iter().map(|f| replaced(f)).collect();
        assert_eq!(read, &expected, "row {i}");
    }
}

#[test]
fn python_reads_every_part_of_a_split_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(42);
    let rows: Vec<Vec<String>> = (0..300).map(|_| rng.row(3)).collect();
    let options = WriterOptions {
        limits: Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        },
        ..WriterOptions::default()
    };
    let header = ["A", "B", "C"];
    let name = name(DataType::Device)
        .with_compression(Compression::None)
        .unwrap();
    let mut writer =
        CsvFileWriter::with_options(&name, &header, DirectorySink::new(dir.path()), options)
            .unwrap();
    for row in &rows {
        assert_eq!(writer.write_row("k", row).unwrap(), RowOutcome::Written);
    }
    let summary = writer.finish().unwrap();
    assert!(summary.parts.len() > 3, "{} parts", summary.parts.len());
    let mut read_back = Vec::new();
    for part in &summary.parts {
        let records = python_read(&part.output);
        assert_eq!(records[0], header.map(str::to_owned).to_vec());
        assert_eq!(records.len() as u64, part.rows + 1);
        read_back.extend(records.into_iter().skip(1));
    }
    let expected: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|f| replaced(f)).collect())
        .collect();
    assert_eq!(read_back, expected);
}
