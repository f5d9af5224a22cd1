//! `DirectoryTransport` passes the same behavioural suite as `SftpTransport`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_test_support::transport_suite;
use liveramp_transport::{DirectoryTransport, Error, Transport};

#[test]
fn directory_transport_passes_the_shared_suite() {
    let root = tempfile::tempdir().unwrap();
    transport_suite::run_all(|name| {
        let folder = root.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        (
            Box::new(DirectoryTransport::new(&folder)) as Box<dyn Transport>,
            folder,
        )
    });
}

#[test]
fn missing_folder_and_create_dir() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("uploads/x");
    let mut t = DirectoryTransport::new(&folder);
    let err = t
        .upload_with("a.csv", &mut |out| out.write_all(b"x"))
        .unwrap_err();
    assert!(matches!(err, Error::RemoteDirMissing { .. }), "{err:?}");
    assert!(
        err.to_string().contains("create_remote_dir = true"),
        "{err}"
    );
    assert!(t.check().is_err());
    let mut t = DirectoryTransport::new(&folder).create_dir(true);
    let receipt = t
        .upload_with("a.csv", &mut |out| out.write_all(b"x"))
        .unwrap();
    assert_eq!(receipt.bytes, 1);
    assert_eq!(std::fs::read(folder.join("a.csv")).unwrap(), b"x");
}
