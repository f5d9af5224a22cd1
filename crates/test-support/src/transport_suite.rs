//! The behavioural suite every `Transport` must pass: atomic publish, replacement, streams,
//! producer failures, invalid names and a clean `check()`. Each case gets the transport and
//! `folder`, where its files land (for the SFTP server on 127.0.0.1, the remote folder seen from
//! this machine), and must find the folder empty. `DirectoryTransport`
//! (`crates/transport/tests/directory.rs`) and `SftpTransport`
//! (`crates/sftp-transport/tests/sftp.rs`) run it with [`run_all`]; a new transport does too.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use liveramp_transport::{Error, Transport};

use crate::files::{data, names_in, sha256};

/// Upload then list: only the final name is present, content identical, no `.part` left.
pub fn upload_then_list(t: &mut dyn Transport, folder: &Path) {
    let local_dir = tempfile::tempdir().unwrap();
    let local = local_dir.path().join("source.csv");
    // Several chunks and a tail.
    let content = data(9 * 1024 * 1024 + 12_345, 1);
    fs::write(&local, &content).unwrap();
    let receipt = t
        .upload_file(&local, "3242_17095-PII_2020-04-01.csv")
        .unwrap();
    assert_eq!(receipt.bytes, content.len() as u64);
    assert_eq!(receipt.attempts, 1);
    assert!(!receipt.replaced);
    assert!(
        receipt
            .remote_path
            .ends_with("/3242_17095-PII_2020-04-01.csv")
    );
    assert_eq!(names_in(folder), vec!["3242_17095-PII_2020-04-01.csv"]);
    assert_eq!(t.list().unwrap(), vec!["3242_17095-PII_2020-04-01.csv"]);
    let uploaded = fs::read(folder.join("3242_17095-PII_2020-04-01.csv")).unwrap();
    assert_eq!(sha256(&uploaded), sha256(&content));
}

/// Uploading the same name twice replaces the file, and the receipt says so.
pub fn replace_existing(t: &mut dyn Transport, folder: &Path) {
    let first = data(100_000, 2);
    let second = data(50_000, 3);
    let r1 = t
        .upload_with("a.csv", &mut |out| out.write_all(&first))
        .unwrap();
    assert!(!r1.replaced);
    let r2 = t
        .upload_with("a.csv", &mut |out| out.write_all(&second))
        .unwrap();
    assert!(r2.replaced);
    assert_eq!(r2.bytes, 50_000);
    assert_eq!(names_in(folder), vec!["a.csv"]);
    assert_eq!(fs::read(folder.join("a.csv")).unwrap(), second);
}

/// Streams: commit publishes; abort and drop leave nothing behind; the `.part` is the only
/// name visible while writing.
pub fn streams(t: &mut dyn Transport, folder: &Path) {
    {
        let mut s = t.begin("aborted.csv").unwrap();
        s.write_all(&data(5 * 1024 * 1024, 4)).unwrap();
        s.abort().unwrap();
    }
    assert_eq!(names_in(folder), Vec::<String>::new());
    {
        let mut s = t.begin("dropped.csv").unwrap();
        s.write_all(b"partial").unwrap();
        assert_eq!(names_in(folder), vec![".dropped.csv.part"]);
    }
    assert_eq!(names_in(folder), Vec::<String>::new());
    let content = data(4 * 1024 * 1024, 5); // exactly one chunk
    let mut s = t.begin("streamed.csv").unwrap();
    for piece in content.chunks(1000) {
        s.write_all(piece).unwrap();
    }
    assert_eq!(s.bytes_written(), content.len() as u64);
    let receipt = s.commit().unwrap();
    assert_eq!(receipt.bytes, content.len() as u64);
    assert!(!receipt.replaced);
    assert_eq!(names_in(folder), vec!["streamed.csv"]);
    assert_eq!(fs::read(folder.join("streamed.csv")).unwrap(), content);
    let empty = t.begin("empty.csv").unwrap().commit().unwrap();
    assert_eq!(empty.bytes, 0);
    assert_eq!(fs::read(folder.join("empty.csv")).unwrap(), b"");
}

/// A producer's own failure is `Error::Source`, is not retried, and leaves nothing behind.
pub fn producer_failure(t: &mut dyn Transport, folder: &Path) {
    let mut calls = 0;
    let err = t
        .upload_with("b.csv", &mut |out| {
            calls += 1;
            out.write_all(&data(10_000, 6))?;
            Err(io::Error::other("encryption key expired"))
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::Source { name, detail } if name == "b.csv" && detail.contains("encryption key expired")),
        "{err:?}"
    );
    assert_eq!(calls, 1);
    assert_eq!(names_in(folder), Vec::<String>::new());
    let missing = t
        .upload_file(Path::new("/nonexistent/file.csv"), "c.csv")
        .unwrap_err();
    assert!(matches!(missing, Error::Local { .. }), "{missing:?}");
    assert_eq!(names_in(folder), Vec::<String>::new());
}

/// Names that are not plain file names are refused before anything is written.
pub fn invalid_names(t: &mut dyn Transport, folder: &Path) {
    for bad in ["", "../x.csv", "sub/x.csv", ".hidden.csv"] {
        let err = t
            .upload_with(bad, &mut |out| out.write_all(b"x"))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad}: {err:?}");
        assert!(t.begin(bad).is_err());
    }
    assert_eq!(names_in(folder), Vec::<String>::new());
}

/// `check()` succeeds and leaves no probe file.
pub fn check_leaves_nothing(t: &mut dyn Transport, folder: &Path) {
    let report = t.check().unwrap();
    assert!(!report.destination.is_empty());
    assert_eq!(names_in(folder), Vec::<String>::new());
}

/// Runs the whole suite, each part in a fresh, empty folder from `fresh`.
pub fn run_all(mut fresh: impl FnMut(&str) -> (Box<dyn Transport>, std::path::PathBuf)) {
    type Case = fn(&mut dyn Transport, &Path);
    let cases: [(&str, Case); 6] = [
        ("check", check_leaves_nothing),
        ("list", upload_then_list),
        ("replace", replace_existing),
        ("streams", streams),
        ("producer", producer_failure),
        ("names", invalid_names),
    ];
    for (name, case) in cases {
        let (mut transport, folder) = fresh(name);
        case(transport.as_mut(), &folder);
        transport.close().unwrap();
    }
}
