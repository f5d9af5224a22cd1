//! Deliver audiences to LiveRamp nightly: mapping, normalisation, CSV, gzip, OpenPGP and SFTP composed in one embeddable library.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
