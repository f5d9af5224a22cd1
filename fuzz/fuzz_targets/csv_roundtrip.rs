//! The CSV writer round trip: arbitrary rows written by `CsvFileWriter` into a `MemorySink`
//! (plain or gzip, with or without splitting) read back with the `csv` crate equal the input,
//! line breaks replaced by spaces, or are counted rejections; nothing is silently dropped.
#![no_main]

use std::io::Read;

use chrono::NaiveDate;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use liveramp_file_format::{
    Compression, CsvFileWriter, DataType, FileName, Limits, MemorySink, RowOutcome, WriterOptions,
};

#[derive(Debug, Arbitrary)]
struct Input {
    columns: u8,
    gzip: bool,
    max_line_chars: u16,
    max_file_bytes: Option<u16>,
    max_rows: Option<u8>,
    rows: Vec<Vec<String>>,
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|record| {
            record
                .unwrap_or_else(|e| panic!("the writer's CSV does not parse: {e}"))
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let columns = usize::from(input.columns % 8) + 1;
    let header: Vec<String> = (0..columns).map(|i| format!("COL_{i}")).collect();
    let date = NaiveDate::from_ymd_opt(2020, 4, 1).expect("a date");
    let mut name = FileName::new("3242", "17095", DataType::Pii, date).expect("a name");
    if input.gzip {
        name = name.with_compression(Compression::Gzip).expect("gzip name");
    }
    let limits = Limits {
        max_line_chars: usize::from(input.max_line_chars).max(60),
        max_file_bytes: input
            .max_file_bytes
            .map_or(u64::MAX, |b| u64::from(b).max(60)),
        max_rows: input.max_rows.map_or(u64::MAX, |r| u64::from(r).max(1)),
        ..Limits::default()
    };
    let options = WriterOptions {
        limits,
        gzip_level: 1,
    };
    let mut writer =
        CsvFileWriter::with_options(&name, &header, MemorySink, options).expect("a writer");
    let mut written = Vec::new();
    let mut rejected = 0;
    for (i, mut row) in input.rows.into_iter().enumerate() {
        row.resize(columns, String::new());
        match writer
            .write_row(&i.to_string(), &row)
            .expect("a row of the header's width")
        {
            RowOutcome::Written => written.push(row),
            RowOutcome::Rejected(_) => rejected += 1,
        }
    }
    let summary = writer.finish().expect("finish");
    assert_eq!(summary.rejections.len(), rejected);
    assert_eq!(summary.rows, written.len() as u64);
    let mut read_back = Vec::new();
    for part in &summary.parts {
        let csv = if input.gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&part.output[..])
                .read_to_end(&mut out)
                .expect("valid gzip");
            out
        } else {
            part.output.clone()
        };
        assert_eq!(csv.len() as u64, part.uncompressed_bytes);
        assert!(csv.len() as u64 <= limits.max_file_bytes);
        let records = read_csv(&csv);
        assert_eq!(records.first(), Some(&header));
        assert!(records.len() as u64 - 1 <= limits.max_rows);
        read_back.extend(records.into_iter().skip(1));
    }
    let expected: Vec<Vec<String>> = written
        .iter()
        .map(|row| row.iter().map(|f| f.replace(['\r', '\n'], " ")).collect())
        .collect();
    assert_eq!(read_back, expected);
});
