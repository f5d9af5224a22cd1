//! Normalise and hash emails, phones, mobile ad IDs and postal fields exactly as LiveRamp matches on them.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
