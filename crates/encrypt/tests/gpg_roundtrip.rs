//! What we encrypt, the real `gpg --batch --decrypt` decrypts to the same bytes.
#![allow(clippy::doc_markdown, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use common::{Pattern, compare_with_pattern};
use liveramp_encrypt::{Compression, EncryptOptions, EncryptingWriter, KeyAlgorithm, RecipientKey};
use liveramp_test_support::gpg::Gpg;

/// The writer's internal sizes: 256 KiB partial body chunks (inner and outer packet), 16-byte
/// AES blocks, a 6-byte literal data header (empty file name). Kept in sync with the crate by
/// its unit test `chunk_sizes_are_the_documented_ones`.
const CHUNK: usize = 256 * 1024;
const LITERAL_HEADER: usize = 6;

fn encrypt(key: &RecipientKey, data: &[u8], piece: usize) -> Vec<u8> {
    let mut w = EncryptingWriter::new(Vec::new(), key).unwrap();
    for part in data.chunks(piece.max(1)) {
        w.write_all(part).unwrap();
    }
    w.finish().unwrap()
}

fn sizes() -> Vec<usize> {
    let mut v = vec![0, 1, 2, 15, 16, 17, 191, 192, 193, 8383, 8384, 8385, 65_536];
    // The first inner chunk is full when header + data = CHUNK; sweep around it, where the
    // chunk, block and outer boundaries fall at different offsets.
    for d in 0..=24 {
        v.push(CHUNK - LITERAL_HEADER - 12 + d);
    }
    for k in [2, 3, 4] {
        for below in [24, 6, 1] {
            v.push(k * CHUNK - below);
        }
        for above in [0, 1, 18, 19] {
            v.push(k * CHUNK + above);
        }
    }
    v
}

#[test]
fn rsa3072_key_with_encryption_subkey_round_trips_every_size() {
    let gpg = Gpg::new();
    let made = gpg.gen_rsa("RSA Test <rsa@example.invalid>");
    let armored = String::from_utf8(gpg.export_public(&made.fingerprint, true)).unwrap();
    let key = RecipientKey::from_armored(&armored).unwrap();

    assert_eq!(key.fingerprint(), made.fingerprint);
    assert_eq!(key.encryption_subkey_id(), made.subkey_ids[0]);
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa { bits: 3072 });
    assert_eq!(key.algorithm().to_string(), "rsa3072");
    assert_eq!(key.primary_algorithm().to_string(), "rsa3072");
    assert_eq!(key.expires_at(), None);
    assert!(key.warnings().is_empty());
    assert_eq!(key.user_ids(), ["RSA Test <rsa@example.invalid>"]);

    let pattern = Pattern::new();
    for size in sizes() {
        let data = pattern.bytes(size);
        let message = encrypt(&key, &data, usize::MAX);
        let (plain, _) = gpg.decrypt(&message);
        assert!(plain == data, "size {size}: gpg decrypted something else");
    }

    // Odd write sizes, including single bytes, give the same plaintext.
    let data = pattern.bytes(3 * CHUNK + 12_345);
    for piece in [1, 7, 4096, 65_537, CHUNK + 1] {
        let len = if piece == 1 { CHUNK + 100 } else { data.len() };
        let message = encrypt(&key, &data[..len], piece);
        let (plain, _) = gpg.decrypt(&message);
        assert!(
            plain == data[..len],
            "write pieces of {piece}: plaintext differs"
        );
    }
}

#[test]
fn ed25519_cv25519_key_round_trips_and_reports_the_packets_gnupg_expects() {
    let gpg = Gpg::new();
    let made = gpg.gen_ed25519("Ed Test <ed@example.invalid>");
    // Binary export this time, through the reader constructor.
    let binary = gpg.export_public(&made.fingerprint, false);
    let key = RecipientKey::from_armored_reader(&binary[..]).unwrap();
    assert_eq!(key.fingerprint(), made.fingerprint);
    assert_eq!(key.encryption_subkey_id(), made.subkey_ids[0]);
    assert_eq!(key.algorithm(), KeyAlgorithm::Cv25519);
    assert_eq!(key.primary_algorithm().to_string(), "ed25519");
    let from_bytes = RecipientKey::from_bytes(&binary).unwrap();
    assert_eq!(from_bytes.encryption_subkey_id(), made.subkey_ids[0]);

    let pattern = Pattern::new();
    for size in [0, 1, 16, CHUNK - LITERAL_HEADER, CHUNK, 2 * CHUNK + 5] {
        let data = pattern.bytes(size);
        let message = encrypt(&key, &data, 10_000);
        let (plain, _) = gpg.decrypt(&message);
        assert!(plain == data, "size {size}: gpg decrypted something else");
    }

    // The packet structure LiveRamp's GnuPG 2.2 needs: PKESK to the subkey, SEIPD v1 with
    // MDC, AES-256, a binary literal packet, no compression.
    let message = encrypt(&key, &pattern.bytes(CHUNK * 2), usize::MAX);
    assert_eq!(
        message[0], 0xC1,
        "binary output starting with a PKESK packet"
    );
    let listing = gpg.list_packets(&message);
    let subkey = made.subkey_ids[0].to_ascii_uppercase();
    assert!(
        listing.contains(&format!(
            "pubkey enc packet: version 3, algo 18, keyid {subkey}"
        )),
        "{listing}"
    );
    assert!(
        listing.contains("encrypted data packet:") && listing.contains("mdc_method: 2"),
        "{listing}"
    );
    assert!(listing.contains("AES256 encrypted data"), "{listing}");
    assert!(!listing.contains("compressed packet"), "{listing}");
    assert!(listing.contains("literal data packet:"), "{listing}");
    assert!(listing.contains("mode b"), "{listing}");
}

#[test]
fn zlib_compression_and_embedded_file_name_are_honoured() {
    let gpg = Gpg::new();
    let made = gpg.gen_ed25519("Zlib Test <z@example.invalid>");
    let key = RecipientKey::from_bytes(&gpg.export_public(&made.fingerprint, true)).unwrap();
    let options = EncryptOptions::new()
        .compression(Compression::Zlib)
        .file_name("3242_17095-PII_2020-04-01.csv");

    // Highly compressible and incompressible data, across chunk boundaries.
    let pattern = Pattern::new();
    let mut compressible = Vec::new();
    while compressible.len() < 3 * CHUNK + 77 {
        compressible.extend_from_slice(b"EMAIL1_SHA256,PHONE1_SHA1\n");
    }
    for data in [
        Vec::new(),
        b"x".to_vec(),
        compressible,
        pattern.bytes(2 * CHUNK + 3),
    ] {
        let mut w = EncryptingWriter::with_options(Vec::new(), &key, &options).unwrap();
        w.write_all(&data).unwrap();
        let message = w.finish().unwrap();
        let (plain, _) = gpg.decrypt(&message);
        assert!(
            plain == data,
            "zlib, {} bytes: plaintext differs",
            data.len()
        );
        let listing = gpg.list_packets(&message);
        assert!(listing.contains("compressed packet: algo=2"), "{listing}");
        assert!(
            listing.contains("name=\"3242_17095-PII_2020-04-01.csv\""),
            "{listing}"
        );
    }
}

/// 200 MiB streamed through the writer straight into `gpg --decrypt`, whose output is compared
/// on the fly: neither the plaintext nor the ciphertext is ever held in memory.
#[test]
fn a_200_mib_stream_decrypts_byte_for_byte() {
    const TOTAL: u64 = 200 << 20;
    let gpg = Gpg::new();
    let made = gpg.gen_ed25519("Big Test <big@example.invalid>");
    let key = RecipientKey::from_bytes(&gpg.export_public(&made.fingerprint, false)).unwrap();

    let mut child = gpg.spawn_decrypt();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let producer = std::thread::spawn(move || {
        let pattern = Pattern::new();
        let mut w = EncryptingWriter::new(stdin, &key).unwrap();
        let mut buf = vec![0u8; 1_000_003];
        let mut offset = 0u64;
        while offset < TOTAL {
            let n = buf.len().min(usize::try_from(TOTAL - offset).unwrap());
            pattern.fill(offset, &mut buf[..n]);
            w.write_all(&buf[..n]).unwrap();
            offset += n as u64;
        }
        drop(w.finish().unwrap()); // closes gpg's stdin
    });
    let pattern = Pattern::new();
    let read = compare_with_pattern(&pattern, stdout);
    producer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gpg --decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read, TOTAL);
}
