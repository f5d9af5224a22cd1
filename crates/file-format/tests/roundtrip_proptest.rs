//! Property: any rows of arbitrary strings write and read back unchanged (line breaks replaced).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{name, read_csv, replaced};
use liveramp_file_format::{
    Compression, CsvFileWriter, DataType, Limits, MemorySink, RowOutcome, WriterOptions,
};
use proptest::prelude::*;

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex("[a-z,\"\r\n é東🎉']{0,12}").unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn rows_round_trip(
        columns in 1usize..6,
        raw in proptest::collection::vec(proptest::collection::vec(field(), 6), 0..40),
        max_file_bytes in prop_oneof![Just(u64::MAX), 300u64..2_000],
        gzip in any::<bool>(),
    ) {
        let header: Vec<String> = (0..columns).map(|i| format!("COL_{i}")).collect();
        let rows: Vec<Vec<String>> = raw.into_iter().map(|mut r| { r.truncate(columns); r }).collect();
        let mut file = name(DataType::Pii);
        if gzip {
            file = file.with_compression(Compression::Gzip).unwrap();
        }
        let options = WriterOptions {
            limits: Limits { max_file_bytes, ..Limits::default() },
            ..WriterOptions::default()
        };
        let mut writer = CsvFileWriter::with_options(&file, &header, MemorySink, options).unwrap();
        let mut written = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match writer.write_row(&i.to_string(), row).unwrap() {
                RowOutcome::Written => written.push(i),
                RowOutcome::Rejected(_) => {}
            }
        }
        let summary = writer.finish().unwrap();
        let mut read_back = Vec::new();
        for part in &summary.parts {
            let csv = if gzip {
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&part.output[..]),
                    &mut out,
                ).unwrap();
                out
            } else {
                part.output.clone()
            };
            prop_assert!(csv.len() as u64 <= max_file_bytes);
            prop_assert_eq!(csv.len() as u64, part.uncompressed_bytes);
            let records = read_csv(&csv);
            prop_assert_eq!(&records[0], &header);
            read_back.extend(records.into_iter().skip(1));
        }
        let expected: Vec<Vec<String>> = written
            .iter()
            .map(|&i| rows[i].iter().map(|f| replaced(f)).collect())
            .collect();
        prop_assert_eq!(read_back, expected);
        // Nothing silently dropped: every row is either written or a counted rejection.
        prop_assert_eq!(written.len() + summary.rejections.len(), rows.len());
    }
}
