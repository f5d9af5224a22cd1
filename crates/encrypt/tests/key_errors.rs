//! Every way a key can be unusable gives its typed error, with keys made by the real `gpg`.
#![allow(
    clippy::cast_possible_truncation,
    clippy::doc_markdown,
    clippy::unwrap_used,
    clippy::expect_used
)]

use chrono::{TimeZone, Utc};
use liveramp_encrypt::{EncryptingWriter, Error, KeyPart, RecipientKey, Warning};
use liveramp_test_support::gpg::Gpg;
use std::io::Write;

#[test]
fn signing_only_key_has_no_encryption_subkey() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_primary("Sign Only <s@example.invalid>", "ed25519", "never", None);
    let err = RecipientKey::from_bytes(&gpg.export_public(&fpr, true)).unwrap_err();
    match &err {
        Error::NoEncryptionSubkey {
            fingerprint,
            primary_note,
        } => {
            assert_eq!(fingerprint, &fpr);
            assert_eq!(primary_note, "");
        }
        other => panic!("expected NoEncryptionSubkey, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("rejects files encrypted to a primary key")
    );
}

#[test]
fn expired_subkey_and_expired_primary_key_give_expired_with_the_date() {
    let gpg = Gpg::new();
    // Made on 2020-01-01 with a one-day subkey: expired on 2020-01-02.
    let at = Some("20200101T000000");
    let fpr = gpg.gen_primary("Old Sub <o@example.invalid>", "ed25519", "never", at);
    gpg.add_subkey(&fpr, "cv25519", "encr", "1d", at);
    let made = gpg.key(&fpr);
    let err = RecipientKey::from_bytes(&gpg.export_public(&fpr, true)).unwrap_err();
    match &err {
        Error::Expired {
            fingerprint,
            part,
            key_id,
            expired_at,
        } => {
            assert_eq!(fingerprint, &fpr);
            assert_eq!(*part, KeyPart::Subkey);
            assert_eq!(key_id, &made.subkey_ids[0]);
            assert_eq!(
                *expired_at,
                Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap()
            );
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("expired on 2020-01-02 00:00:00 UTC"),
        "{err}"
    );

    // A valid newer subkey next to the expired one is selected.
    gpg.add_subkey(&fpr, "cv25519", "encr", "never", None);
    let made = gpg.key(&fpr);
    let key = RecipientKey::from_bytes(&gpg.export_public(&fpr, true)).unwrap();
    assert_eq!(key.encryption_subkey_id(), made.subkey_ids[1]);

    // An expired primary key makes the whole key unusable.
    let old = gpg.gen_primary("Old Primary <p@example.invalid>", "ed25519", "1d", at);
    gpg.add_subkey(&old, "cv25519", "encr", "never", at);
    let err = RecipientKey::from_bytes(&gpg.export_public(&old, true)).unwrap_err();
    assert!(
        matches!(&err, Error::Expired { part: KeyPart::PrimaryKey, expired_at, .. }
            if *expired_at == Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap()),
        "{err:?}"
    );
}

#[test]
fn revoked_subkey_is_refused_and_a_newer_one_is_preferred() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_primary("Revoked <r@example.invalid>", "ed25519", "never", None);
    gpg.add_subkey(&fpr, "cv25519", "encr", "never", None);
    // Revoke subkey 1, reason 0 (no reason), empty description.
    gpg.edit_key(&fpr, "key 1\nrevkey\ny\n0\n\ny\nsave\n");
    let made = gpg.key(&fpr);
    let err = RecipientKey::from_bytes(&gpg.export_public(&fpr, false)).unwrap_err();
    match &err {
        Error::Revoked { part, key_id, .. } => {
            assert_eq!(*part, KeyPart::Subkey);
            assert_eq!(key_id, &made.subkey_ids[0]);
        }
        other => panic!("expected Revoked, got {other:?}"),
    }
    assert!(err.to_string().contains("revoked"), "{err}");

    // Several usable subkeys: the newest wins. Creation times have one-second resolution,
    // so wait for the clock to move on between the two.
    gpg.add_subkey(&fpr, "cv25519", "encr", "never", None);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    gpg.add_subkey(&fpr, "cv25519", "encr", "never", None);
    let made = gpg.key(&fpr);
    assert_eq!(made.subkey_ids.len(), 3);
    let key = RecipientKey::from_bytes(&gpg.export_public(&fpr, true)).unwrap();
    assert_eq!(key.encryption_subkey_id(), made.subkey_ids[2]);
}

#[test]
fn secret_key_files_are_refused_without_echoing_them() {
    let gpg = Gpg::new();
    let made = gpg.gen_ed25519("Secret <sec@example.invalid>");
    for armor in [true, false] {
        let secret = gpg.export_secret(&made.fingerprint, armor);
        let err = RecipientKey::from_bytes(&secret).unwrap_err();
        assert!(matches!(err, Error::SecretKey), "{err:?}");
        // Neither the message nor the debug form carries any of the input.
        let text = format!("{err} {err:?}");
        if armor {
            let body = String::from_utf8(secret.clone()).unwrap();
            for line in body
                .lines()
                .filter(|l| l.len() > 20 && !l.starts_with("-----"))
            {
                assert!(!text.contains(line));
            }
        }
        assert!(!text.contains(&made.fingerprint));
        let err = RecipientKey::from_armored_reader(&secret[..]).unwrap_err();
        assert!(matches!(err, Error::SecretKey));
    }
}

#[test]
fn garbage_and_empty_inputs_are_not_public_keys() {
    let mut x: u32 = 12345;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for input in [
        &garbage[..],
        &[0xFF, 0xFF, 0x00, 0x01][..],
        &[0x99, 0x01, 0x0D, 0x04][..], // a truncated public key packet
        b"",
        b"\n\n",
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n",
    ] {
        let err = RecipientKey::from_bytes(input).unwrap_err();
        assert!(
            matches!(err, Error::NotAPublicKey { .. }),
            "{input:?}: {err:?}"
        );
    }
    let err = RecipientKey::from_armored("").unwrap_err();
    assert!(err.to_string().contains("the input is empty"), "{err}");
    let err = RecipientKey::from_armored_reader(std::io::empty()).unwrap_err();
    assert!(matches!(err, Error::NotAPublicKey { .. }));
}

#[test]
fn an_encrypted_message_is_not_a_key() {
    let gpg = Gpg::new();
    let made = gpg.gen_ed25519("Msg <m@example.invalid>");
    let key = RecipientKey::from_bytes(&gpg.export_public(&made.fingerprint, true)).unwrap();
    let mut w = EncryptingWriter::new(Vec::new(), &key).unwrap();
    w.write_all(b"hello").unwrap();
    let message = w.finish().unwrap();
    let err = RecipientKey::from_bytes(&message).unwrap_err();
    assert!(err.to_string().contains("encrypted message"), "{err}");
}

#[test]
fn a_binding_signature_that_fails_verification_is_reported() {
    let gpg = Gpg::new();
    let made = gpg.gen_ed25519("Tampered <t@example.invalid>");
    let mut binary = gpg.export_public(&made.fingerprint, false);
    // The last packet is the subkey binding signature; its last byte is in the EdDSA `s`.
    let last = binary.len() - 1;
    binary[last] ^= 0x01;
    let err = RecipientKey::from_bytes(&binary).unwrap_err();
    match &err {
        Error::InvalidBinding { part, key_id, .. } => {
            assert_eq!(*part, KeyPart::Subkey);
            assert_eq!(key_id, &made.subkey_ids[0]);
        }
        other => panic!("expected InvalidBinding, got {other:?}"),
    }
}

#[test]
fn weak_or_unsupported_encryption_subkeys_are_refused() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_primary("Weak <w@example.invalid>", "ed25519", "never", None);
    gpg.add_subkey(&fpr, "rsa1024", "encr", "never", None);
    let err = RecipientKey::from_bytes(&gpg.export_public(&fpr, true)).unwrap_err();
    match &err {
        Error::UnsupportedAlgorithm { algorithm, .. } => assert_eq!(algorithm, "rsa1024"),
        other => panic!("expected UnsupportedAlgorithm, got {other:?}"),
    }
}

#[test]
fn a_key_expiring_within_30_days_returns_a_warning() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_primary("Soon <soon@example.invalid>", "ed25519", "never", None);
    gpg.add_subkey(&fpr, "cv25519", "encr", "10d", None);
    let key = RecipientKey::from_bytes(&gpg.export_public(&fpr, true)).unwrap();
    let expires = key.expires_at().expect("an expiry");
    match key.warnings() {
        [
            Warning::ExpiresSoon {
                expires_at,
                days_left,
            },
        ] => {
            assert_eq!(*expires_at, expires);
            assert!((9..=10).contains(days_left), "{days_left}");
        }
        other => panic!("expected one ExpiresSoon warning, got {other:?}"),
    }
    // Judged 40 days earlier there is nothing to warn about; 11 days later it has expired.
    let bytes = gpg.export_public(&fpr, true);
    let early = RecipientKey::from_bytes_at(&bytes, expires - chrono::TimeDelta::days(40)).unwrap();
    assert!(early.warnings().is_empty());
    let late = RecipientKey::from_bytes_at(&bytes, expires + chrono::TimeDelta::days(1));
    assert!(matches!(
        late,
        Err(Error::Expired {
            part: KeyPart::Subkey,
            ..
        })
    ));
}
