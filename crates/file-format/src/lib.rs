//! LiveRamp CSV files: streamed writing, file naming, limits, splitting, gzip and header fingerprints.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
