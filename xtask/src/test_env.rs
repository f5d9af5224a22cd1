//! The test environment the real-peer tests need (owned by the `sftp-transport` work).

/// Prepares what the `sshd` tests log in with. Being built with `sftp-transport`.
pub(crate) fn prepare() -> crate::Result {
    Ok(())
}
