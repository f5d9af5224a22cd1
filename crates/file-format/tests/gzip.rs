//! gzip output: the system `gzip -d` restores the plain output byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{PII_HEADER, Rng, name};
use liveramp_file_format::{
    Compression, CsvFileWriter, DataType, DirectorySink, FileName, Limits, MemorySink,
    WriterOptions,
};
use liveramp_test_support::files::sha256;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-d", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(output.status.success());
    output.stdout
}

fn write_file(name: &FileName, rows: &[Vec<String>], options: WriterOptions) -> Vec<Vec<u8>> {
    let mut writer = CsvFileWriter::with_options(name, &PII_HEADER, MemorySink, options).unwrap();
    for row in rows {
        let _ = writer.write_row("k", row).unwrap();
    }
    let summary = writer.finish().unwrap();
    for part in &summary.parts {
        assert_eq!(part.written_bytes, part.output.len() as u64);
        assert_eq!(part.sha256_hex(), Some(sha256(&part.output)));
    }
    summary.parts.into_iter().map(|p| p.output).collect()
}

fn rows(n: usize) -> Vec<Vec<String>> {
    let mut rng = Rng(99);
    (0..n).map(|_| rng.row(PII_HEADER.len())).collect()
}

#[test]
fn gzip_d_restores_the_plain_bytes() {
    let rows = rows(20_000);
    let plain_name = name(DataType::Pii);
    let gz_name = plain_name.with_compression(Compression::Gzip).unwrap();
    let plain = write_file(&plain_name, &rows, WriterOptions::default());
    let gz = write_file(&gz_name, &rows, WriterOptions::default());
    assert_eq!(plain.len(), 1);
    assert_eq!(gz.len(), 1);
    assert!(gz[0].starts_with(&[0x1f, 0x8b]));
    assert!(gz[0].len() < plain[0].len());
    assert_eq!(gunzip(&gz[0]), plain[0]);
    // Deterministic: no time stamp or name in the gzip header.
    assert_eq!(write_file(&gz_name, &rows, WriterOptions::default()), gz);
}

#[test]
fn every_gzip_level_and_an_empty_file() {
    let rows = rows(300);
    let plain = write_file(&name(DataType::Pii), &rows, WriterOptions::default());
    let gz_name = name(DataType::Pii)
        .with_compression(Compression::Gzip)
        .unwrap();
    for level in [0, 1, 9] {
        let options = WriterOptions {
            gzip_level: level,
            ..WriterOptions::default()
        };
        assert_eq!(gunzip(&write_file(&gz_name, &rows, options)[0]), plain[0]);
    }
    let empty = write_file(&gz_name, &[], WriterOptions::default());
    assert_eq!(
        gunzip(&empty[0]),
        format!("{}\n", PII_HEADER.join(",")).as_bytes()
    );
}

#[test]
fn split_gzip_parts_each_decompress_to_their_plain_part() {
    let rows = rows(2_000);
    let options = WriterOptions {
        limits: Limits {
            max_file_bytes: 16 * 1024,
            ..Limits::default()
        },
        ..WriterOptions::default()
    };
    let plain = write_file(&name(DataType::Pii), &rows, options);
    let dir = tempfile::tempdir().unwrap();
    let gz_name = name(DataType::Pii)
        .with_compression(Compression::Gzip)
        .unwrap();
    let mut writer = CsvFileWriter::with_options(
        &gz_name,
        &PII_HEADER,
        DirectorySink::new(dir.path()),
        options,
    )
    .unwrap();
    for row in &rows {
        let _ = writer.write_row("k", row).unwrap();
    }
    let summary = writer.finish().unwrap();
    assert!(plain.len() > 3);
    assert_eq!(summary.parts.len(), plain.len());
    for (i, (part, plain)) in summary.parts.iter().zip(&plain).enumerate() {
        assert_eq!(
            part.output.file_name().unwrap().to_str().unwrap(),
            format!("3242_17095-PII_2020-04-01_file-part-{}.csv.gz", i + 1)
        );
        // The system gzip decompresses the file itself, in place.
        let status = Command::new("gzip")
            .args(["-d", "-k"])
            .arg(&part.output)
            .status()
            .unwrap();
        assert!(status.success());
        let csv = std::fs::read(part.output.with_extension("")).unwrap();
        assert_eq!(&csv, plain);
        assert_eq!(part.uncompressed_bytes, csv.len() as u64);
        assert_eq!(
            part.written_bytes,
            std::fs::metadata(&part.output).unwrap().len()
        );
    }
}
