//! Loading the recipient's public key and selecting its encryption subkey.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufReader, Read};

use chrono::{DateTime, TimeDelta, Utc};
use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::ecc_curve::ECCCurve;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::{PublicKeyEncryptedSessionKey, Signature, SignatureType};
use pgp::ser::Serialize;
use pgp::types::{EcdhPublicParams, EcdsaPublicParams};
use pgp::types::{KeyDetails, KeyVersion, PublicParams, Tag, Timestamp};

use crate::error::{Error, KeyPart};

/// The largest key input accepted (a real public key is a few KiB; a keyring export with many
/// third-party signatures may reach a few hundred).
const MAX_KEY_INPUT: u64 = 8 << 20;

/// How close to expiry a key must be for [`Warning::ExpiresSoon`].
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// A public-key algorithm, named the way GnuPG prints it (`rsa3072`, `cv25519`, `ed25519`, ...).
///
/// Get it from [`RecipientKey::algorithm`] (the encryption subkey's) or
/// [`RecipientKey::primary_algorithm`]; its [`Display`](fmt::Display) form is GnuPG's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a modulus of `bits` bits (`rsa3072`).
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
    /// ECDH over Curve25519 (`cv25519`), the usual GnuPG encryption subkey next to ed25519.
    Cv25519,
    /// ECDH over a named curve other than Curve25519 (`nistp256`, `brainpoolP256r1`, ...).
    Ecdh {
        /// The curve.
        curve: Curve,
    },
    /// X25519 (RFC 9580 native form, `x25519`).
    X25519,
    /// X448 (RFC 9580 native form, `x448`).
    X448,
    /// Legacy EdDSA over Ed25519 (`ed25519`), a signing algorithm.
    Ed25519Legacy,
    /// Ed25519 (RFC 9580 native form), a signing algorithm.
    Ed25519,
    /// Ed448, a signing algorithm.
    Ed448,
    /// ECDSA over a named curve, a signing algorithm.
    Ecdsa {
        /// The curve.
        curve: Curve,
    },
    /// DSA with a prime of `bits` bits, a signing algorithm.
    Dsa {
        /// Prime size in bits.
        bits: u32,
    },
    /// Elgamal with a prime of `bits` bits (`elg2048`).
    Elgamal {
        /// Prime size in bits.
        bits: u32,
    },
    /// Any other algorithm, by its OpenPGP algorithm number.
    Other {
        /// The OpenPGP public-key algorithm ID.
        id: u8,
    },
}

/// An elliptic curve, as GnuPG names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (`nistp256`).
    NistP256,
    /// NIST P-384 (`nistp384`).
    NistP384,
    /// NIST P-521 (`nistp521`).
    NistP521,
    /// brainpoolP256r1.
    BrainpoolP256,
    /// brainpoolP384r1.
    BrainpoolP384,
    /// brainpoolP512r1.
    BrainpoolP512,
    /// secp256k1.
    Secp256k1,
    /// Curve25519 (legacy ECDH form).
    Curve25519,
    /// Ed25519 (legacy EdDSA form).
    Ed25519,
    /// A curve this crate does not name.
    Unknown,
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::NistP256 => "nistp256",
            Curve::NistP384 => "nistp384",
            Curve::NistP521 => "nistp521",
            Curve::BrainpoolP256 => "brainpoolP256r1",
            Curve::BrainpoolP384 => "brainpoolP384r1",
            Curve::BrainpoolP512 => "brainpoolP512r1",
            Curve::Secp256k1 => "secp256k1",
            Curve::Curve25519 => "cv25519",
            Curve::Ed25519 => "ed25519",
            Curve::Unknown => "unknown-curve",
        })
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "rsa{bits}"),
            KeyAlgorithm::Cv25519 => f.write_str("cv25519"),
            KeyAlgorithm::Ecdh { curve } | KeyAlgorithm::Ecdsa { curve } => write!(f, "{curve}"),
            KeyAlgorithm::X25519 => f.write_str("x25519"),
            KeyAlgorithm::X448 => f.write_str("x448"),
            KeyAlgorithm::Ed25519Legacy | KeyAlgorithm::Ed25519 => f.write_str("ed25519"),
            KeyAlgorithm::Ed448 => f.write_str("ed448"),
            KeyAlgorithm::Dsa { bits } => write!(f, "dsa{bits}"),
            KeyAlgorithm::Elgamal { bits } => write!(f, "elg{bits}"),
            KeyAlgorithm::Other { id } => write!(f, "algorithm {id}"),
        }
    }
}

/// Something the operator should act on soon, returned (not logged) by [`RecipientKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The key (its primary key or its encryption subkey) expires within
    /// [`EXPIRY_WARNING_DAYS`] days.
    ExpiresSoon {
        /// When the key stops being usable.
        expires_at: DateTime<Utc>,
        /// Whole days left (0 when less than a day is left).
        days_left: i64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ExpiresSoon {
                expires_at,
                days_left,
            } => write!(
                f,
                "the recipient key expires on {expires_at} (in {days_left} day(s)): files \
                 encrypted to it after that will be rejected; ask LiveRamp for their new public \
                 key now and configure it before then"
            ),
        }
    }
}

/// The recipient's OpenPGP public key (LiveRamp's), with its encryption subkey selected and
/// checked.
///
/// Loading verifies every signature the choice depends on and selects the **encryption
/// subkey**: a subkey whose newest valid binding signature carries the encrypt-communications or
/// encrypt-storage flag, that is not expired and not revoked, and whose algorithm can be
/// encrypted to. When several qualify, the newest (latest creation time) is used. The primary
/// key itself is never used for encryption (LiveRamp rejects such files), and must itself be
/// valid: not revoked, not expired, with a self-signature that verifies.
///
/// Cheap to clone; holds only public material.
#[derive(Clone)]
pub struct RecipientKey {
    fingerprint: String,
    primary_algorithm: KeyAlgorithm,
    user_ids: Vec<String>,
    subkey_id: String,
    subkey_fingerprint: String,
    algorithm: KeyAlgorithm,
    subkey_created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    warnings: Vec<Warning>,
    subkey: SignedPublicSubKey,
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey")
            .field("fingerprint", &self.fingerprint)
            .field("encryption_subkey_id", &self.subkey_id)
            .field("algorithm", &self.algorithm.to_string())
            .field("expires_at", &self.expires_at)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl RecipientKey {
    /// Loads an ASCII-armored public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`). Text before
    /// the armor block is ignored; binary input is accepted too.
    pub fn from_armored(armored: &str) -> Result<Self, Error> {
        Self::from_bytes(armored.as_bytes())
    }

    /// Loads a public key, armored or binary, from a reader (at most 8 MiB are read).
    pub fn from_armored_reader(reader: impl Read) -> Result<Self, Error> {
        let mut buf = Vec::new();
        reader
            .take(MAX_KEY_INPUT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading the recipient's public key", e))?;
        if buf.len() as u64 > MAX_KEY_INPUT {
            return Err(Error::NotAPublicKey {
                reason: "the input is larger than 8 MiB, far more than any public key".into(),
            });
        }
        Self::from_bytes(&buf)
    }

    /// Loads a public key from bytes: binary OpenPGP (`gpg --export`) or ASCII-armored.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_bytes_at(bytes, Utc::now())
    }

    /// Like [`from_bytes`](Self::from_bytes), judging expiry (and the expiry warning) at `now`
    /// instead of the current time: for checking ahead whether a key will still be usable on
    /// a given night.
    pub fn from_bytes_at(bytes: &[u8], now: DateTime<Utc>) -> Result<Self, Error> {
        let binary = to_binary(bytes)?;
        scan_packets(&binary)?;
        let key = SignedPublicKey::from_bytes(&binary[..]).map_err(|e| Error::NotAPublicKey {
            reason: format!("the OpenPGP key data could not be parsed ({e})"),
        })?;
        select(&key, now)
    }

    /// Fingerprint of the primary key: upper-case hex, no spaces (40 digits for a version 4
    /// key), as `gpg --with-colons --fingerprint` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Key ID of the selected encryption subkey: 16 upper-case hex digits, as
    /// `gpg --keyid-format long` prints it. This is the ID written into every encrypted file.
    pub fn encryption_subkey_id(&self) -> &str {
        &self.subkey_id
    }

    /// Fingerprint of the selected encryption subkey (upper-case hex).
    pub fn encryption_subkey_fingerprint(&self) -> &str {
        &self.subkey_fingerprint
    }

    /// When the selected subkey was created.
    pub fn encryption_subkey_created_at(&self) -> DateTime<Utc> {
        self.subkey_created_at
    }

    /// When encryption to this key stops being possible: the earlier of the primary key's and
    /// the encryption subkey's expiry. `None` if neither expires.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Algorithm of the selected encryption subkey (`rsa3072`, `cv25519`, ... when printed).
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Algorithm of the primary key.
    pub fn primary_algorithm(&self) -> KeyAlgorithm {
        self.primary_algorithm
    }

    /// The user IDs with a valid self-signature (for example `LiveRamp <security@...>`).
    pub fn user_ids(&self) -> &[String] {
        &self.user_ids
    }

    /// Things the operator should act on, such as [`Warning::ExpiresSoon`]. Empty when all is
    /// well.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    pub(crate) fn subkey(&self) -> &SignedPublicSubKey {
        &self.subkey
    }
}

/// Returns the binary OpenPGP data: the input itself, or its armor decoded.
fn to_binary(input: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::NotAPublicKey {
            reason: "the input is empty".into(),
        });
    }
    let marker = b"-----BEGIN PGP ";
    let Some(start) = find(input, marker) else {
        if input[0] & 0x80 == 0 {
            return Err(Error::NotAPublicKey {
                reason: "it is neither ASCII-armored (no `-----BEGIN PGP PUBLIC KEY BLOCK-----` \
                         line) nor binary OpenPGP data"
                    .into(),
            });
        }
        return Ok(Cow::Borrowed(input));
    };
    let armored = &input[start..];
    let line_end = armored
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(armored.len());
    let line = String::from_utf8_lossy(&armored[..line_end]);
    let line = line.trim_end();
    if line.contains("PRIVATE KEY") || line.contains("SECRET KEY") {
        return Err(Error::SecretKey);
    }
    if line != "-----BEGIN PGP PUBLIC KEY BLOCK-----" {
        // Only the block name is shown: it is a fixed header line, never key material.
        let name: String = line
            .trim_start_matches("-----BEGIN ")
            .trim_end_matches('-')
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
            .take(40)
            .collect();
        return Err(Error::NotAPublicKey {
            reason: format!("the armor block is a `{name}`, not a `PGP PUBLIC KEY BLOCK`"),
        });
    }
    let mut dearmor = pgp::armor::Dearmor::new(BufReader::new(armored));
    dearmor.read_header().map_err(|e| Error::NotAPublicKey {
        reason: format!("the armor header is malformed ({e})"),
    })?;
    let mut out = Vec::new();
    dearmor
        .read_to_end(&mut out)
        .map_err(|e| Error::NotAPublicKey {
            reason: format!("the armored data is malformed ({e})"),
        })?;
    if out.is_empty() {
        return Err(Error::NotAPublicKey {
            reason: "the armor block is empty".into(),
        });
    }
    Ok(Cow::Owned(out))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Walks the packet headers (without parsing bodies): refuses secret key material before any
/// parser touches it and explains inputs that are OpenPGP but not a key.
fn scan_packets(data: &[u8]) -> Result<(), Error> {
    let mut pos = 0usize;
    let mut first = true;
    while pos < data.len() {
        let b = data[pos];
        if b & 0x80 == 0 {
            if first {
                return Err(Error::NotAPublicKey {
                    reason: "it is not OpenPGP data".into(),
                });
            }
            return Ok(()); // let the parser report the damage
        }
        let (tag, header_len, body_len) = if b & 0x40 != 0 {
            let tag = b & 0x3f;
            let Some(&o1) = data.get(pos + 1) else {
                break;
            };
            match o1 {
                0..=191 => (tag, 2, Some(usize::from(o1))),
                192..=223 => match data.get(pos + 2) {
                    Some(&o2) => (
                        tag,
                        3,
                        Some(((usize::from(o1) - 192) << 8) + usize::from(o2) + 192),
                    ),
                    None => (tag, 3, None),
                },
                255 => match data.get(pos + 2..pos + 6) {
                    Some(l) => (
                        tag,
                        6,
                        Some(u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize),
                    ),
                    None => (tag, 6, None),
                },
                _ => (tag, 2, None), // partial lengths never occur in keys
            }
        } else {
            let tag = (b >> 2) & 0x0f;
            let n = match b & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => 0,
            };
            match data.get(pos + 1..pos + 1 + n) {
                Some(l) if n > 0 => {
                    let len = l.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
                    (tag, 1 + n, Some(len))
                }
                _ => (tag, 1 + n, None),
            }
        };
        if tag == 5 || tag == 7 {
            return Err(Error::SecretKey);
        }
        if first && tag != 6 {
            return Err(Error::NotAPublicKey {
                reason: format!(
                    "it starts with {}, not a public key packet",
                    packet_name(tag)
                ),
            });
        }
        first = false;
        let Some(body_len) = body_len else {
            break;
        };
        pos = pos.saturating_add(header_len).saturating_add(body_len);
    }
    Ok(())
}

fn packet_name(tag: u8) -> &'static str {
    match tag {
        1 => "an encrypted session key (it is an encrypted message)",
        2 => "a signature packet (it is a signature)",
        3 => "a password-encrypted session key (it is an encrypted message)",
        4 => "a one-pass signature (it is a signed message)",
        8 => "a compressed data packet (it is a message)",
        9 | 18 | 20 => "encrypted data (it is an encrypted message)",
        11 => "a literal data packet (it is a message)",
        13 => "a user ID packet (the key packet is missing)",
        14 => "a public subkey packet (the primary key packet is missing)",
        _ => "an unexpected packet type",
    }
}

fn time(t: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(t.as_secs()), 0).unwrap_or_default()
}

/// `created + key expiration time` of a self- or binding signature; `None` for no expiry.
fn key_expiry(created: Timestamp, sig: &Signature) -> Option<DateTime<Utc>> {
    let secs = sig.key_expiration_time()?.as_secs();
    (secs != 0).then(|| time(created) + TimeDelta::seconds(i64::from(secs)))
}

/// The signature's own expiry (rarely set on self-signatures).
fn signature_expiry(sig: &Signature) -> Option<DateTime<Utc>> {
    let secs = sig.signature_expiration_time()?.as_secs();
    let created = sig.created()?;
    (secs != 0).then(|| time(created) + TimeDelta::seconds(i64::from(secs)))
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn sig_time(sig: &Signature) -> u32 {
    sig.created().map_or(0, Timestamp::as_secs)
}

fn revocation_note(sig: &Signature) -> String {
    let code = sig
        .revocation_reason_code()
        .map(|c| format!("{c:?}"))
        .unwrap_or_default();
    let text = sig
        .revocation_reason_string()
        .map(|s| {
            String::from_utf8_lossy(s)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .unwrap_or_default();
    match (code.is_empty(), text.trim().is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" (reason: {code})"),
        (true, false) => format!(" (reason: {})", text.trim()),
        (false, false) => format!(" (reason: {code}: {})", text.trim()),
    }
}

fn key_id(k: &impl KeyDetails) -> String {
    k.legacy_key_id().to_string().to_ascii_uppercase()
}

/// Size in bits of the first MPI of the public parameters (RSA n, DSA/Elgamal p).
fn first_mpi_bits(params: &PublicParams) -> u32 {
    let mut buf = Vec::new();
    if params.to_writer(&mut buf).is_err() || buf.len() < 2 {
        return 0;
    }
    u32::from(u16::from_be_bytes([buf[0], buf[1]]))
}

// rPGP's enums grow with its cargo features (post-quantum) and releases: keep the wildcards.
#[allow(clippy::match_wildcard_for_single_variants)]
fn curve_of(c: &ECCCurve) -> Curve {
    match c {
        ECCCurve::Curve25519Legacy => Curve::Curve25519,
        ECCCurve::Ed25519Legacy => Curve::Ed25519,
        ECCCurve::P256 => Curve::NistP256,
        ECCCurve::P384 => Curve::NistP384,
        ECCCurve::P521 => Curve::NistP521,
        ECCCurve::BrainpoolP256r1 => Curve::BrainpoolP256,
        ECCCurve::BrainpoolP384r1 => Curve::BrainpoolP384,
        ECCCurve::BrainpoolP512r1 => Curve::BrainpoolP512,
        ECCCurve::Secp256k1 => Curve::Secp256k1,
        _ => Curve::Unknown,
    }
}

#[allow(clippy::match_wildcard_for_single_variants)]
fn algorithm_of(k: &impl KeyDetails) -> KeyAlgorithm {
    let params = k.public_params();
    match params {
        PublicParams::RSA(_) => KeyAlgorithm::Rsa {
            bits: first_mpi_bits(params),
        },
        PublicParams::DSA(_) => KeyAlgorithm::Dsa {
            bits: first_mpi_bits(params),
        },
        PublicParams::Elgamal(_) => KeyAlgorithm::Elgamal {
            bits: first_mpi_bits(params),
        },
        PublicParams::ECDH(p) => match curve_of(&p.curve()) {
            Curve::Curve25519 => KeyAlgorithm::Cv25519,
            curve => KeyAlgorithm::Ecdh { curve },
        },
        PublicParams::ECDSA(p) => KeyAlgorithm::Ecdsa {
            curve: match p {
                EcdsaPublicParams::P256 { .. } => Curve::NistP256,
                EcdsaPublicParams::P384 { .. } => Curve::NistP384,
                EcdsaPublicParams::P521 { .. } => Curve::NistP521,
                EcdsaPublicParams::Secp256k1 { .. } => Curve::Secp256k1,
                _ => Curve::Unknown,
            },
        },
        PublicParams::EdDSALegacy(_) => KeyAlgorithm::Ed25519Legacy,
        PublicParams::Ed25519(_) => KeyAlgorithm::Ed25519,
        PublicParams::Ed448(_) => KeyAlgorithm::Ed448,
        PublicParams::X25519(_) => KeyAlgorithm::X25519,
        PublicParams::X448(_) => KeyAlgorithm::X448,
        _ => KeyAlgorithm::Other {
            id: u8::from(k.algorithm()),
        },
    }
}

/// Why an encryption-capable subkey cannot be used; `None` if it can.
fn unsupported_reason(sub: &SignedPublicSubKey) -> Option<String> {
    if sub.key.version() != KeyVersion::V4 {
        return Some(format!(
            "it is a {:?} key; GnuPG 2.2, which LiveRamp's side runs, reads only version 4 keys",
            sub.key.version()
        ));
    }
    match sub.key.public_params() {
        PublicParams::RSA(_) => {
            let bits = first_mpi_bits(sub.key.public_params());
            if bits < 2048 {
                return Some(format!(
                    "RSA keys under 2048 bits are too weak ({bits} bits)"
                ));
            }
        }
        PublicParams::ECDH(
            EcdhPublicParams::Unsupported { .. }
            | EcdhPublicParams::Brainpool256 { .. }
            | EcdhPublicParams::Brainpool384 { .. }
            | EcdhPublicParams::Brainpool512 { .. },
        ) => return Some("this ECDH curve is not implemented".into()),
        PublicParams::ECDH(_) | PublicParams::X25519(_) | PublicParams::X448(_) => {}
        PublicParams::Elgamal(_) => {
            return Some("Elgamal encryption is not implemented (and is obsolete)".into());
        }
        _ => return Some("it is not an encryption algorithm".into()),
    }
    // Last word to the implementation: a trial encryption of a throw-away session key.
    let mut rng = rand08::rngs::OsRng;
    let trial = SymmetricKeyAlgorithm::AES256.new_session_key(rng);
    match PublicKeyEncryptedSessionKey::from_session_key_v3(
        &mut rng,
        &trial,
        SymmetricKeyAlgorithm::AES256,
        sub,
    ) {
        Ok(_) => None,
        Err(e) => Some(format!("encrypting to it fails: {e}")),
    }
}

/// Everything about one subkey that may be the encryption subkey.
struct Candidate<'a> {
    sub: &'a SignedPublicSubKey,
    created: u32,
    expires_at: Option<DateTime<Utc>>,
    problem: Option<Error>,
}

fn select(key: &SignedPublicKey, now: DateTime<Utc>) -> Result<RecipientKey, Error> {
    let primary = &key.primary_key;
    let fingerprint = format!("{:X}", primary.fingerprint());
    let primary_id = key_id(primary);

    // 1. The primary key: not revoked, validly self-signed, not expired.
    for sig in &key.details.revocation_signatures {
        if sig.typ() == Some(SignatureType::KeyRevocation) && sig.verify_key(primary).is_ok() {
            return Err(Error::Revoked {
                fingerprint,
                part: KeyPart::PrimaryKey,
                key_id: primary_id,
                reason_note: revocation_note(sig),
            });
        }
    }
    let mut newest_self: Option<&Signature> = None;
    let mut self_sig_error: Option<String> = None;
    let mut user_ids = Vec::new();
    let mut consider = |sig: &'static str, res: pgp::errors::Result<()>| -> bool {
        match res {
            Ok(()) => true,
            Err(e) => {
                self_sig_error.get_or_insert_with(|| format!("{sig}: {e}"));
                false
            }
        }
    };
    let mut self_sigs: Vec<&Signature> = Vec::new();
    for sig in &key.details.direct_signatures {
        if sig.typ() == Some(SignatureType::Key)
            && consider("direct-key signature", sig.verify_key(primary))
        {
            self_sigs.push(sig);
        }
    }
    for user in &key.details.users {
        let mut valid = false;
        for sig in &user.signatures {
            if !sig.is_certification() || sig.typ() == Some(SignatureType::CertRevocation) {
                continue;
            }
            // Third-party certifications are not self-signatures: skip them quietly.
            let fingerprints = sig.issuer_fingerprint();
            let ids = sig.issuer_key_id();
            let issued_by_primary = (fingerprints.is_empty() && ids.is_empty())
                || fingerprints.iter().any(|f| **f == primary.fingerprint())
                || ids.iter().any(|id| **id == primary.legacy_key_id());
            if !issued_by_primary {
                continue;
            }
            if consider(
                "user ID self-signature",
                sig.verify_certification(primary, Tag::UserId, &user.id),
            ) {
                self_sigs.push(sig);
                valid = true;
            }
        }
        if valid {
            user_ids.push(String::from_utf8_lossy(user.id.id()).into_owned());
        }
    }
    for sig in self_sigs {
        if newest_self.is_none_or(|n| sig_time(sig) >= sig_time(n)) {
            newest_self = Some(sig);
        }
    }
    let Some(newest_self) = newest_self else {
        return Err(Error::InvalidBinding {
            fingerprint,
            part: KeyPart::PrimaryKey,
            key_id: primary_id,
            reason: self_sig_error.unwrap_or_else(|| "the key has no self-signature".into()),
        });
    };
    let primary_expiry = earliest(
        key_expiry(primary.created_at(), newest_self),
        signature_expiry(newest_self),
    );
    if let Some(at) = primary_expiry.filter(|at| *at <= now) {
        return Err(Error::Expired {
            fingerprint,
            part: KeyPart::PrimaryKey,
            key_id: primary_id,
            expired_at: at,
        });
    }

    // 2. The subkeys: keep those validly bound with an encryption flag, note what is wrong
    //    with each.
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    let mut bad_binding: Option<Error> = None;
    for sub in &key.public_subkeys {
        let sub_id = key_id(&sub.key);
        let mut newest_binding: Option<&Signature> = None;
        for sig in &sub.signatures {
            if sig.typ() != Some(SignatureType::SubkeyBinding) {
                continue;
            }
            match sig.verify_subkey_binding(primary, &sub.key) {
                Ok(()) => {
                    if newest_binding.is_none_or(|n| sig_time(sig) >= sig_time(n)) {
                        newest_binding = Some(sig);
                    }
                }
                Err(e) => {
                    let flags = sig.key_flags();
                    if (flags.encrypt_comms() || flags.encrypt_storage()) && bad_binding.is_none() {
                        bad_binding = Some(Error::InvalidBinding {
                            fingerprint: fingerprint.clone(),
                            part: KeyPart::Subkey,
                            key_id: sub_id.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        let Some(binding) = newest_binding else {
            continue;
        };
        let flags = binding.key_flags();
        if !(flags.encrypt_comms() || flags.encrypt_storage()) {
            continue;
        }
        let expires_at = earliest(
            key_expiry(sub.key.created_at(), binding),
            signature_expiry(binding),
        );
        let revocation = sub.signatures.iter().find(|sig| {
            sig.typ() == Some(SignatureType::SubkeyRevocation)
                && sig.verify_subkey_binding(primary, &sub.key).is_ok()
        });
        let problem = if let Some(rev) = revocation {
            Some(Error::Revoked {
                fingerprint: fingerprint.clone(),
                part: KeyPart::Subkey,
                key_id: sub_id.clone(),
                reason_note: revocation_note(rev),
            })
        } else if let Some(at) = expires_at.filter(|at| *at <= now) {
            Some(Error::Expired {
                fingerprint: fingerprint.clone(),
                part: KeyPart::Subkey,
                key_id: sub_id.clone(),
                expired_at: at,
            })
        } else {
            unsupported_reason(sub).map(|reason| Error::UnsupportedAlgorithm {
                fingerprint: fingerprint.clone(),
                key_id: sub_id.clone(),
                algorithm: algorithm_of(&sub.key).to_string(),
                reason,
            })
        };
        candidates.push(Candidate {
            sub,
            created: sub.key.created_at().as_secs(),
            expires_at,
            problem,
        });
    }

    // 3. The newest usable one wins; otherwise explain the newest unusable one.
    let mut best: Option<&Candidate<'_>> = None;
    for c in candidates.iter().filter(|c| c.problem.is_none()) {
        if best.is_none_or(|b| c.created >= b.created) {
            best = Some(c);
        }
    }
    let Some(best) = best else {
        let newest_rejected = candidates
            .into_iter()
            .rev()
            .max_by_key(|c| c.created)
            .and_then(|c| c.problem);
        if let Some(problem) = newest_rejected {
            return Err(problem);
        }
        if let Some(bad) = bad_binding {
            return Err(bad);
        }
        let primary_flags = newest_self.key_flags();
        let primary_note = if primary_flags.encrypt_comms() || primary_flags.encrypt_storage() {
            " (only its primary key is encryption-capable)".to_string()
        } else {
            String::new()
        };
        return Err(Error::NoEncryptionSubkey {
            fingerprint,
            primary_note,
        });
    };

    let expires_at = earliest(primary_expiry, best.expires_at);
    let mut warnings = Vec::new();
    if let Some(at) = expires_at {
        let left = at - now;
        if left <= TimeDelta::days(EXPIRY_WARNING_DAYS) {
            warnings.push(Warning::ExpiresSoon {
                expires_at: at,
                days_left: left.num_days(),
            });
        }
    }
    Ok(RecipientKey {
        primary_algorithm: algorithm_of(primary),
        user_ids,
        subkey_id: key_id(&best.sub.key),
        subkey_fingerprint: format!("{:X}", best.sub.key.fingerprint()),
        algorithm: algorithm_of(&best.sub.key),
        subkey_created_at: time(best.sub.key.created_at()),
        expires_at,
        warnings,
        subkey: best.sub.clone(),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_whitespace_inputs_are_not_keys() {
        for input in [&b""[..], b"   \n\t "] {
            let err = RecipientKey::from_bytes(input).unwrap_err();
            assert!(
                matches!(&err, Error::NotAPublicKey { reason } if reason == "the input is empty"),
                "{err}"
            );
        }
    }

    #[test]
    fn text_without_armor_is_explained() {
        let err = RecipientKey::from_armored("hello, this is not a key").unwrap_err();
        assert!(err.to_string().contains("neither ASCII-armored"), "{err}");
    }

    #[test]
    fn secret_armor_is_refused_without_echo() {
        let text = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQVYBGVeryS3cretStuff\n-----END PGP PRIVATE KEY BLOCK-----\n";
        let err = RecipientKey::from_armored(text).unwrap_err();
        assert!(matches!(err, Error::SecretKey));
        assert!(!err.to_string().contains("S3cret"));
        assert!(!format!("{err:?}").contains("S3cret"));
    }

    #[test]
    fn binary_secret_packet_is_refused() {
        // New-format secret key packet (tag 5), body bytes that must not be echoed.
        let data = [0xC5, 0x03, 0xAA, 0xBB, 0xCC];
        assert!(matches!(
            RecipientKey::from_bytes(&data),
            Err(Error::SecretKey)
        ));
        // Old-format secret subkey packet (tag 7) after a public key packet.
        let data = [0x99, 0x00, 0x01, 0x04, 0x9D, 0x01, 0xAA];
        assert!(matches!(
            RecipientKey::from_bytes(&data),
            Err(Error::SecretKey)
        ));
    }

    #[test]
    fn message_armor_is_named() {
        let text = "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----\n";
        let err = RecipientKey::from_armored(text).unwrap_err();
        assert!(err.to_string().contains("`PGP MESSAGE`"), "{err}");
    }

    #[test]
    fn algorithm_names_follow_gnupg() {
        assert_eq!(KeyAlgorithm::Rsa { bits: 3072 }.to_string(), "rsa3072");
        assert_eq!(KeyAlgorithm::Cv25519.to_string(), "cv25519");
        assert_eq!(
            KeyAlgorithm::Ecdh {
                curve: Curve::NistP256
            }
            .to_string(),
            "nistp256"
        );
        assert_eq!(KeyAlgorithm::Elgamal { bits: 2048 }.to_string(), "elg2048");
    }
}
