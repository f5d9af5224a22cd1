//! Every normaliser (each `Kind`) over arbitrary text, then the hashes of what it returns:
//! a normalised value or a typed rejection, never a panic. A normalised value normalises to
//! itself, and its digests have the right length and look hashed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveramp_pii_normalize::{HashAlgorithm, Kind, digest, hex_digest, looks_hashed};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let raw = String::from_utf8_lossy(rest);
    for algorithm in HashAlgorithm::ALL {
        let _ = looks_hashed(&raw, algorithm);
    }
    let kind = Kind::ALL[usize::from(selector) % Kind::ALL.len()];
    let normalized = match kind.normalize(&raw) {
        Ok(normalized) => normalized,
        Err(rejected) => {
            assert!(!rejected.code().is_empty());
            assert!(!rejected.to_string().is_empty());
            return;
        }
    };
    assert!(
        !normalized.is_empty(),
        "{kind} accepted {raw:?} as an empty value"
    );
    assert_eq!(
        kind.normalize(&normalized).as_deref(),
        Ok(normalized.as_str()),
        "{kind}: normalising {raw:?} gave {normalized:?}, which does not normalise to itself"
    );
    for algorithm in HashAlgorithm::ALL {
        let hex = hex_digest(algorithm, &normalized);
        assert_eq!(hex.len(), algorithm.hex_len());
        assert!(looks_hashed(&hex, algorithm));
        assert_eq!(digest(algorithm, &normalized).as_str(), hex);
    }
});
