//! Map an mParticle audience member profile to the device-ID and PII rows LiveRamp receives.
//!
//! (Being built: see the workspace issue for this crate.)
#![deny(missing_docs)]
