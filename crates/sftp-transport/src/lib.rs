//! Verified, atomic, retrying SFTP uploads (ssh2) and a local-directory transport with the same semantics.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
