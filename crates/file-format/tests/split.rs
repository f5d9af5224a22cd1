//! Splitting with tiny limits: every part valid, with the header, rows in order, none lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Rng, name, read_csv, replaced};
use liveramp_file_format::{
    Compression, CsvFileWriter, DataType, DirectorySink, FileName, Limits, MemorySink, PartSink,
    RowOutcome, WriterOptions,
};
use liveramp_test_support::files::sha256;

fn options(limits: Limits) -> WriterOptions {
    WriterOptions {
        limits,
        ..WriterOptions::default()
    }
}

#[test]
fn one_kib_parts_concatenate_to_the_input() {
    let header = ["EMAIL1", "FIRSTNAME", "CITY"];
    let mut rng = Rng(7);
    let rows: Vec<Vec<String>> = (0..1000).map(|_| rng.row(3)).collect();
    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };
    let mut writer =
        CsvFileWriter::with_options(name(DataType::Pii), &header, MemorySink, options(limits))
            .unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            writer.write_row(&i.to_string(), row).unwrap(),
            RowOutcome::Written
        );
    }
    let summary = writer.finish().unwrap();
    assert!(summary.parts.len() > 10);
    assert_eq!(summary.rows, 1000);
    let mut all_rows = Vec::new();
    for (i, part) in summary.parts.iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            part.name.as_str(),
            format!("3242_17095-PII_2020-04-01_file-part-{n}.csv")
        );
        assert_eq!(part.name.part(), Some(u32::try_from(n).unwrap()));
        assert!(
            part.output.len() <= 1024,
            "part {n}: {} bytes",
            part.output.len()
        );
        assert!(part.output.starts_with(b"EMAIL1,FIRSTNAME,CITY\n"));
        assert_eq!(part.uncompressed_bytes, part.output.len() as u64);
        assert_eq!(part.written_bytes, part.output.len() as u64);
        assert_eq!(part.sha256_hex(), Some(sha256(&part.output)));
        let records = read_csv(&part.output);
        assert_eq!(records[0], header.map(str::to_owned).to_vec());
        assert_eq!(records.len() as u64 - 1, part.rows);
        // A part is only closed when the next row would not fit.
        if n < summary.parts.len() {
            let next_line = {
                let next = &summary.parts[n].output;
                let body = &next[header.join(",").len() + 1..];
                body.iter().position(|&b| b == b'\n').unwrap() + 1
            };
            assert!(part.output.len() + next_line > 1024);
        }
        all_rows.extend(records.into_iter().skip(1));
    }
    let expected: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|f| replaced(f)).collect())
        .collect();
    assert_eq!(all_rows, expected);
}

#[test]
fn row_limit_splits_and_flags_small_parts() {
    let limits = Limits {
        max_rows: 30,
        ..Limits::default()
    };
    let mut writer = CsvFileWriter::with_options(
        name(DataType::Device),
        &["DEVICE_ID"],
        MemorySink,
        options(limits),
    )
    .unwrap();
    for i in 0..70 {
        assert_eq!(
            writer
                .write_row(&i.to_string(), &[format!("id-{i}")])
                .unwrap(),
            RowOutcome::Written
        );
    }
    let summary = writer.finish().unwrap();
    let rows: Vec<u64> = summary.parts.iter().map(|p| p.rows).collect();
    assert_eq!(rows, [30, 30, 10]);
    let below: Vec<bool> = summary.parts.iter().map(|p| p.below_minimum_rows).collect();
    assert_eq!(below, [false, false, true]);
    assert!(summary.below_minimum_rows);
    let third = String::from_utf8(summary.parts[2].output.clone()).unwrap();
    let expected: String = std::iter::once("DEVICE_ID\n".to_owned())
        .chain((60..70).map(|i| format!("id-{i}\n")))
        .collect();
    assert_eq!(third, expected);
    assert_eq!(
        summary.parts[2].name.as_str(),
        "3242_17095-D_2020-04-01_file-part-3.csv"
    );
}

#[test]
fn exactly_full_file_is_not_split() {
    let limits = Limits {
        max_rows: 30,
        ..Limits::default()
    };
    let mut writer = CsvFileWriter::with_options(
        name(DataType::Device),
        &["DEVICE_ID"],
        MemorySink,
        options(limits),
    )
    .unwrap();
    for i in 0..30 {
        let _ = writer.write_row("k", &[i.to_string()]).unwrap();
    }
    let summary = writer.finish().unwrap();
    assert_eq!(summary.parts.len(), 1);
    assert_eq!(
        summary.parts[0].name.as_str(),
        "3242_17095-D_2020-04-01.csv"
    );
    assert!(!summary.below_minimum_rows);
}

/// Records what a sink is asked to do, so the naming contract is visible.
#[derive(Default)]
struct Recording {
    events: Vec<String>,
}

impl PartSink for Recording {
    type Writer = Vec<u8>;
    type Output = ();

    fn open(&mut self, name: &FileName) -> std::io::Result<Vec<u8>> {
        self.events.push(format!("open {name}"));
        Ok(Vec::new())
    }

    fn close(&mut self, _writer: Vec<u8>, name: &FileName) -> std::io::Result<()> {
        self.events.push(format!("close {name}"));
        Ok(())
    }
}

#[test]
fn the_first_part_is_renamed_when_the_file_splits() {
    let mut sink = Recording::default();
    let limits = Limits {
        max_rows: 2,
        ..Limits::default()
    };
    let name = name(DataType::Pii)
        .with_compression(Compression::Gzip)
        .unwrap()
        .with_encryption(true)
        .unwrap();
    let mut writer =
        CsvFileWriter::with_options(&name, &["EMAIL1"], &mut sink, options(limits)).unwrap();
    for email in ["a@x", "b@x", "c@x"] {
        let _ = writer.write_row(email, &[email]).unwrap();
    }
    writer.finish().unwrap();
    assert_eq!(
        sink.events,
        [
            "open 3242_17095-PII_2020-04-01.csv.gz.gpg",
            "close 3242_17095-PII_2020-04-01_file-part-1.csv.gz.gpg",
            "open 3242_17095-PII_2020-04-01_file-part-2.csv.gz.gpg",
            "close 3242_17095-PII_2020-04-01_file-part-2.csv.gz.gpg",
        ]
    );
}

#[test]
fn directory_sink_publishes_final_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_rows: 25,
        ..Limits::default()
    };
    let mut writer = CsvFileWriter::with_options(
        name(DataType::Device),
        &["DEVICE_ID"],
        DirectorySink::new(dir.path()),
        options(limits),
    )
    .unwrap();
    for i in 0..60 {
        let _ = writer.write_row("k", &[i.to_string()]).unwrap();
    }
    let summary = writer.finish().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "3242_17095-D_2020-04-01_file-part-1.csv",
            "3242_17095-D_2020-04-01_file-part-2.csv",
            "3242_17095-D_2020-04-01_file-part-3.csv",
        ]
    );
    for part in &summary.parts {
        let bytes = std::fs::read(&part.output).unwrap();
        assert_eq!(part.sha256_hex(), Some(sha256(&bytes)));
        assert_eq!(part.written_bytes, bytes.len() as u64);
    }
}
