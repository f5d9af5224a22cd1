//! Deterministic test data for the encryption tests (GnuPG itself is
//! `liveramp_test_support::gpg::Gpg`).
#![allow(
    clippy::cast_possible_truncation,
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub
)]

use std::io::Read;

/// Deterministic test data: a pseudo-random 1 MiB + 7 block, each repetition stamped with its
/// index so that misplaced or repeated chunks are caught.
pub struct Pattern {
    base: Vec<u8>,
}

impl Pattern {
    pub const BLOCK: usize = (1 << 20) + 7;

    pub fn new() -> Self {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let base = (0..Self::BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Self { base }
    }

    /// Fills `out` with the bytes at stream offset `offset`.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let pos = offset + done as u64;
            let block = pos / Self::BLOCK as u64;
            let within = (pos % Self::BLOCK as u64) as usize;
            let n = (Self::BLOCK - within).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.base[within..within + n]);
            // Stamp the block index over its first 8 bytes.
            let stamp = block.to_le_bytes();
            for (i, b) in stamp.iter().enumerate() {
                if within <= i && i < within + n {
                    out[done + i - within] = *b;
                }
            }
            done += n;
        }
    }

    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(0, &mut v);
        v
    }
}

/// Reads all of `r`, comparing it with the pattern; returns the number of bytes read.
pub fn compare_with_pattern(pattern: &Pattern, mut r: impl Read) -> u64 {
    let mut got = vec![0u8; 1 << 20];
    let mut want = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = r.read(&mut got).unwrap();
        if n == 0 {
            return offset;
        }
        pattern.fill(offset, &mut want[..n]);
        assert!(
            got[..n] == want[..n],
            "decrypted data differs from the input in the {n} bytes at offset {offset}"
        );
        offset += n as u64;
    }
}
