//! Streaming OpenPGP encryption (rPGP) to a recipient's encryption subkey that GnuPG decrypts.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
