//! Line limits, field counts, the minimum-rows flag and sink failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use common::name;
use liveramp_file_format::{
    CsvFileWriter, DataType, Error, FileName, Limits, MemorySink, PartSink, RejectReason,
    Rejection, RowOutcome, WriterOptions,
};

#[test]
fn a_line_over_10000_characters_is_rejected_with_the_member_key() {
    let mut writer =
        CsvFileWriter::new(name(DataType::Pii), &["FIRSTNAME", "CITY"], MemorySink).unwrap();
    // "é" is two bytes but one character: 9,998 + "," + "x" = 10,000 characters, accepted.
    let at_limit = "é".repeat(9_998);
    assert_eq!(
        writer
            .write_row("ok-member", &[at_limit.as_str(), "x"])
            .unwrap(),
        RowOutcome::Written
    );
    let over = "é".repeat(9_999);
    assert_eq!(
        writer
            .write_row("long-member", &[over.as_str(), "x"])
            .unwrap(),
        RowOutcome::Rejected(RejectReason::LineTooLong {
            chars: 10_001,
            max: 10_000
        })
    );
    // Quotes count: 9,996 characters plus two quotes, a doubled quote and ",x" is 10,001.
    let quoted = format!("\"{}", "a".repeat(9_995));
    assert!(matches!(
        writer
            .write_row("quoted-member", &[quoted.as_str(), "x"])
            .unwrap(),
        RowOutcome::Rejected(RejectReason::LineTooLong { chars: 10_001, .. })
    ));
    assert_eq!(writer.rows_written(), 1);
    assert_eq!(writer.rejections().len(), 2);
    let summary = writer.finish().unwrap();
    assert_eq!(summary.rows, 1);
    assert_eq!(
        summary.rejections,
        [
            Rejection {
                member_key: "long-member".to_owned(),
                reason: RejectReason::LineTooLong {
                    chars: 10_001,
                    max: 10_000
                }
            },
            Rejection {
                member_key: "quoted-member".to_owned(),
                reason: RejectReason::LineTooLong {
                    chars: 10_001,
                    max: 10_000
                }
            }
        ]
    );
    let out = String::from_utf8(summary.parts[0].output.clone()).unwrap();
    assert_eq!(out, format!("FIRSTNAME,CITY\n{at_limit},x\n"));
}

#[test]
fn eu_limit_is_1000_characters() {
    let options = WriterOptions {
        limits: Limits::LIVERAMP_EU,
        ..WriterOptions::default()
    };
    let mut writer =
        CsvFileWriter::with_options(name(DataType::Pii), &["A"], MemorySink, options).unwrap();
    assert_eq!(
        writer.write_row("k", &["a".repeat(1_000)]).unwrap(),
        RowOutcome::Written
    );
    assert_eq!(
        writer.write_row("k", &["a".repeat(1_001)]).unwrap(),
        RowOutcome::Rejected(RejectReason::LineTooLong {
            chars: 1_001,
            max: 1_000
        })
    );
}

#[test]
fn a_line_no_part_could_hold_is_rejected() {
    let options = WriterOptions {
        limits: Limits {
            max_file_bytes: 20,
            ..Limits::default()
        },
        ..WriterOptions::default()
    };
    let mut writer =
        CsvFileWriter::with_options(name(DataType::Pii), &["EMAIL1"], MemorySink, options).unwrap();
    // Header "EMAIL1\n" is 7 bytes: a 13-byte line fits, a 14-byte one never can.
    assert_eq!(
        writer.write_row("fits", &["abcdefghijkl"]).unwrap(),
        RowOutcome::Written
    );
    assert_eq!(
        writer.write_row("big", &["abcdefghijklm"]).unwrap(),
        RowOutcome::Rejected(RejectReason::LineTooLargeForFile {
            bytes: 14,
            max_file_bytes: 20
        })
    );
    let summary = writer.finish().unwrap();
    assert_eq!(summary.parts.len(), 1);
    assert_eq!(summary.rejections[0].member_key, "big");
}

#[test]
fn wrong_field_count_is_a_typed_error_and_the_writer_carries_on() {
    let mut writer = CsvFileWriter::new(name(DataType::Pii), &["A", "B", "C"], MemorySink).unwrap();
    let err = writer.write_row("m-1", &["1", "2"]).unwrap_err();
    assert!(matches!(
        &err,
        Error::FieldCount { expected: 3, found: 2, member_key } if member_key == "m-1"
    ));
    assert!(
        err.to_string()
            .contains("has 2 fields but the header has 3"),
        "{err}"
    );
    assert!(matches!(
        writer.write_row("m-2", &["1", "2", "3", "4"]),
        Err(Error::FieldCount { found: 4, .. })
    ));
    assert_eq!(
        writer.write_row("m-3", &["1", "2", "3"]).unwrap(),
        RowOutcome::Written
    );
    let summary = writer.finish().unwrap();
    assert_eq!(summary.parts[0].output, b"A,B,C\n1,2,3\n");
}

#[test]
fn minimum_rows_flag_at_24_and_25() {
    for (rows, below) in [(0, true), (24, true), (25, false)] {
        let mut writer =
            CsvFileWriter::new(name(DataType::Device), &["DEVICE_ID"], MemorySink).unwrap();
        for i in 0..rows {
            let _ = writer.write_row("k", &[i.to_string()]).unwrap();
        }
        let summary = writer.finish().unwrap();
        assert_eq!(summary.below_minimum_rows, below, "{rows} rows");
        assert_eq!(summary.parts[0].below_minimum_rows, below);
        assert_eq!(summary.parts[0].rows, rows);
    }
}

#[test]
fn bad_configuration_is_refused_before_writing() {
    let header = ["EMAIL1"];
    let with = |limits: Limits, gzip_level: u32| {
        CsvFileWriter::with_options(
            name(DataType::Pii),
            &header,
            MemorySink,
            WriterOptions { limits, gzip_level },
        )
    };
    assert!(matches!(
        with(
            Limits {
                max_rows: 0,
                ..Limits::default()
            },
            6
        ),
        Err(Error::InvalidLimits { .. })
    ));
    assert!(matches!(
        with(
            Limits {
                max_file_bytes: 7,
                ..Limits::default()
            },
            6
        ),
        Err(Error::InvalidLimits { .. })
    ));
    assert!(matches!(
        with(Limits::default(), 10),
        Err(Error::InvalidLimits { .. })
    ));
    assert!(matches!(
        with(
            Limits {
                max_line_chars: 5,
                ..Limits::default()
            },
            6
        ),
        Err(Error::InvalidHeader { .. })
    ));
    assert!(matches!(
        CsvFileWriter::new(name(DataType::Pii), &["EMAIL 1"], MemorySink),
        Err(Error::InvalidHeader { .. })
    ));
}

/// Fault injection (a real peer cannot fail on demand): a sink whose writer fails after some
/// bytes, and which records aborts.
#[derive(Clone, Default)]
struct Failing {
    fail_after: usize,
    fail_open_of_part: Option<u32>,
    log: Arc<Mutex<Vec<String>>>,
}

struct FailingWriter {
    left: usize,
}

impl io::Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.left {
            return Err(io::Error::other("disk full"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PartSink for Failing {
    type Writer = FailingWriter;
    type Output = ();

    fn open(&mut self, name: &FileName) -> io::Result<FailingWriter> {
        if name.part().is_some() && name.part() == self.fail_open_of_part {
            return Err(io::Error::other("no space for another file"));
        }
        self.log.lock().unwrap().push(format!("open {name}"));
        Ok(FailingWriter {
            left: self.fail_after,
        })
    }

    fn close(&mut self, _writer: FailingWriter, name: &FileName) -> io::Result<()> {
        self.log.lock().unwrap().push(format!("close {name}"));
        Ok(())
    }

    fn abort(&mut self, _writer: FailingWriter, name: &FileName) {
        self.log.lock().unwrap().push(format!("abort {name}"));
    }
}

#[test]
fn a_sink_write_error_aborts_the_part_and_stops_the_writer() {
    let sink = Failing {
        fail_after: 100_000,
        ..Failing::default()
    };
    let log = sink.log.clone();
    let mut writer = CsvFileWriter::new(name(DataType::Pii), &["EMAIL1"], sink).unwrap();
    let row = ["x".repeat(1000)];
    let mut error = None;
    for _ in 0..1000 {
        if let Err(err) = writer.write_row("k", &row) {
            error = Some(err);
            break;
        }
    }
    let error = error.expect("the sink must fail");
    match &error {
        Error::Sink {
            action,
            part,
            source,
        } => {
            assert_eq!(*action, "write");
            assert_eq!(part, "3242_17095-PII_2020-04-01.csv");
            assert_eq!(source.to_string(), "disk full");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        writer.write_row("k", &row),
        Err(Error::WriterFailed { .. })
    ));
    assert!(matches!(writer.finish(), Err(Error::WriterFailed { .. })));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "open 3242_17095-PII_2020-04-01.csv",
            "abort 3242_17095-PII_2020-04-01.csv"
        ]
    );
}

#[test]
fn an_open_error_for_the_next_part_is_reported() {
    let sink = Failing {
        fail_after: usize::MAX,
        fail_open_of_part: Some(2),
        ..Failing::default()
    };
    let log = sink.log.clone();
    let options = WriterOptions {
        limits: Limits {
            max_rows: 1,
            ..Limits::default()
        },
        ..WriterOptions::default()
    };
    let mut writer =
        CsvFileWriter::with_options(name(DataType::Pii), &["EMAIL1"], sink, options).unwrap();
    assert_eq!(writer.write_row("a", &["a"]).unwrap(), RowOutcome::Written);
    let err = writer.write_row("b", &["b"]).unwrap_err();
    assert!(matches!(
        &err,
        Error::Sink { action: "open", part, .. } if part == "3242_17095-PII_2020-04-01_file-part-2.csv"
    ));
    assert!(matches!(
        writer.write_row("c", &["c"]),
        Err(Error::WriterFailed { .. })
    ));
    drop(writer);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "open 3242_17095-PII_2020-04-01.csv",
            "close 3242_17095-PII_2020-04-01_file-part-1.csv"
        ]
    );
}

#[test]
fn dropping_or_aborting_without_finish_aborts_the_open_part() {
    let sink = Failing {
        fail_after: usize::MAX,
        ..Failing::default()
    };
    let log = sink.log.clone();
    let mut writer =
        CsvFileWriter::new(name(DataType::Device), &["DEVICE_ID"], sink.clone()).unwrap();
    let _ = writer.write_row("k", &["1"]).unwrap();
    drop(writer);
    let writer = CsvFileWriter::new(name(DataType::Pii), &["EMAIL1"], sink).unwrap();
    assert!(writer.abort().is_empty());
    assert_eq!(
        *log.lock().unwrap(),
        [
            "open 3242_17095-D_2020-04-01.csv",
            "abort 3242_17095-D_2020-04-01.csv",
            "open 3242_17095-PII_2020-04-01.csv",
            "abort 3242_17095-PII_2020-04-01.csv"
        ]
    );
}

#[test]
fn directory_sink_leaves_nothing_after_abort() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = CsvFileWriter::new(
        name(DataType::Device),
        &["DEVICE_ID"],
        liveramp_file_format::DirectorySink::new(dir.path()),
    )
    .unwrap();
    let _ = writer.write_row("k", &["1"]).unwrap();
    drop(writer);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_part_name_over_250_characters_stops_the_writer_with_a_typed_error() {
    // "1_" + 219 characters + "-D_2020-04-01" + "_file-part-1" + ".csv" is exactly 250.
    let audience = "9".repeat(219);
    let name = FileName::new("1", &audience, DataType::Device, common::date()).unwrap();
    assert_eq!(name.with_part(1).unwrap().as_str().len(), 250);
    let options = WriterOptions {
        limits: Limits {
            max_rows: 1,
            ..Limits::default()
        },
        ..WriterOptions::default()
    };
    let mut writer =
        CsvFileWriter::with_options(&name, &["DEVICE_ID"], MemorySink, options).unwrap();
    for i in 0..9 {
        assert_eq!(
            writer.write_row("k", &[i.to_string()]).unwrap(),
            RowOutcome::Written
        );
    }
    // Part 10's name has one character too many.
    assert!(matches!(
        writer.write_row("k", &["9"]),
        Err(Error::NameTooLong {
            len: 251,
            max: 250,
            ..
        })
    ));
    assert!(matches!(
        writer.write_row("k", &["10"]),
        Err(Error::WriterFailed { .. })
    ));
    let closed = writer.abort();
    assert_eq!(closed.len(), 9);
    assert_eq!(closed[8].name.part(), Some(9));
}
