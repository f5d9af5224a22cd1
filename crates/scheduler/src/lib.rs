//! The nightly schedule (12am US Eastern across DST), catch-up of missed nights and a crash-safe, locked run ledger.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
