//! Golden files: the crate's output compared byte for byte with hand-written expectations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{PII_HEADER, name};
use liveramp_file_format::{CsvFileWriter, DataType, HeaderFingerprint, MemorySink, RowOutcome};
use liveramp_test_support::files::sha256;

fn write(data_type: DataType, header: &[&str], rows: &[&[&str]]) -> Vec<u8> {
    let mut writer = CsvFileWriter::new(name(data_type), header, MemorySink).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let outcome = writer.write_row(&format!("member-{i}"), row).unwrap();
        assert_eq!(outcome, RowOutcome::Written);
    }
    let summary = writer.finish().unwrap();
    assert_eq!(summary.parts.len(), 1);
    assert_eq!(summary.rows, rows.len() as u64);
    assert!(summary.rejections.is_empty());
    // Fewer than 25 rows: written, but flagged.
    assert!(summary.below_minimum_rows);
    let part = summary.parts.into_iter().next().unwrap();
    assert_eq!(part.rows, rows.len() as u64);
    assert!(part.below_minimum_rows);
    assert_eq!(part.uncompressed_bytes, part.output.len() as u64);
    assert_eq!(part.written_bytes, part.output.len() as u64);
    assert_eq!(part.sha256_hex(), Some(sha256(&part.output)));
    assert_eq!(
        summary.header_fingerprint,
        HeaderFingerprint::of(header).unwrap()
    );
    part.output
}

fn assert_same(actual: &[u8], expected: &[u8]) {
    assert!(
        actual == expected,
        "output differs from the golden file:\n--- actual\n{}\n--- expected\n{}",
        String::from_utf8_lossy(actual),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn device_file() {
    let rows: &[&[&str]] = &[
        &["AEBE52E7-03EE-455A-B3C4-E57283966239", "IDFA"],
        &["38400000-8cf0-11bd-b23e-10b96e40000d", "AAID"],
        &["6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA"],
    ];
    let out = write(DataType::Device, &["DEVICE_ID", "DEVICE_TYPE"], rows);
    assert_same(&out, include_bytes!("golden/device.csv"));
}

#[test]
fn pii_file_with_commas_quotes_unicode_and_line_breaks() {
    let rows: &[&[&str]] = &[
        &[
            "Zoë",
            "O'Brien",
            "12 Main St, Apt 4",
            "Montréal",
            "QC",
            "",
            "zoe@example.com",
            "a25b4ae3ff43c9fb1c7fdf5fa3bd0b2c16ad8ec3d1f09e67b2a1c29c6a5e8a4b",
            "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
        ],
        &[
            "Say \"Hi\"",
            "Smith",
            "1 Infinite Loop\nBuilding 2",
            "Cupertino",
            "CA",
            "95014",
            "",
            "",
            "",
        ],
        &[
            "東京",
            "太郎",
            "Suite 5\r\nFloor 2",
            "Tōkyō",
            "",
            "",
            "taro@example.jp",
            "",
            "",
        ],
        &[
            "Ann",
            "Lee, Jr.",
            "\"Quoted\" Lane",
            "Boston",
            "MA",
            "02108",
            "ann+tag@example.com",
            "",
            "",
        ],
        &[
            "🎉",
            "-",
            "  padded  ",
            "Nowhere",
            "NV",
            "89001",
            "x@y.z",
            "",
            "",
        ],
    ];
    let out = write(DataType::Pii, &PII_HEADER, rows);
    let golden = include_bytes!("golden/pii.csv");
    assert_same(&out, golden);
    // The bytes that matter, spelled out: quoting only where needed, quotes doubled, line
    // breaks replaced one for one, UTF-8 without BOM, `\n` endings only.
    assert!(!golden.starts_with(b"\xEF\xBB\xBF"));
    assert!(!golden.contains(&b'\r'));
    let text = std::str::from_utf8(golden).unwrap();
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("Zoë,O'Brien,\"12 Main St, Apt 4\",Montréal,QC,,"));
    assert!(lines[2].starts_with("\"Say \"\"Hi\"\"\",Smith,1 Infinite Loop Building 2,"));
    assert!(lines[3].starts_with("東京,太郎,Suite 5  Floor 2,Tōkyō,,,"));
    assert!(lines[4].starts_with("Ann,\"Lee, Jr.\",\"\"\"Quoted\"\" Lane\",Boston,"));
    assert!(lines[5].starts_with("🎉,-,  padded  ,Nowhere,"));
}

#[test]
fn one_column_file_quotes_a_lone_empty_field() {
    let rows: &[&[&str]] = &[&["solo@example.com"], &[""], &[" , "]];
    let out = write(DataType::Pii, &["EMAIL1"], rows);
    assert_same(&out, include_bytes!("golden/one_column.csv"));
}
