//! The crate's one error type.

use chrono::{DateTime, Utc};

/// Which part of an OpenPGP key an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPart {
    /// The primary key (the one the fingerprint names).
    PrimaryKey,
    /// A subkey bound to the primary key.
    Subkey,
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyPart::PrimaryKey => "primary key",
            KeyPart::Subkey => "subkey",
        })
    }
}

/// Everything that can go wrong when loading a recipient key or encrypting to it.
///
/// Every message says what is wrong and what to do about it. No message ever contains key
/// material: a secret key given by mistake is refused without echoing any of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not an OpenPGP public key: empty, garbage, another kind of OpenPGP data
    /// (a message, a signature) or a key that cannot be parsed.
    #[error(
        "not an OpenPGP public key: {reason}; give the recipient's public key, either ASCII-armored \
         (a `-----BEGIN PGP PUBLIC KEY BLOCK-----` file, as `gpg --export --armor` writes) or binary \
         (`gpg --export`)"
    )]
    NotAPublicKey {
        /// What was found instead.
        reason: String,
    },

    /// A secret (private) key was given where the recipient's public key was expected. Nothing
    /// of it is echoed.
    #[error(
        "this is an OpenPGP secret (private) key, not a public key; it was refused and none of it \
         is shown: give the recipient's public key instead (`gpg --export --armor <fingerprint>`), \
         and do not keep the secret key on this machine"
    )]
    SecretKey,

    /// The key has no subkey that may encrypt (no valid binding signature with the
    /// encrypt-communications or encrypt-storage flag).
    #[error(
        "key {fingerprint} has no encryption subkey{primary_note}: LiveRamp rejects files \
         encrypted to a primary key; ask the key's owner for their current public key, which has \
         an encryption subkey (`gpg --list-keys` shows it as `sub ... [E]`)"
    )]
    NoEncryptionSubkey {
        /// Fingerprint of the primary key.
        fingerprint: String,
        /// Extra detail (for example that only the primary key can encrypt), or empty.
        primary_note: String,
    },

    /// The primary key or the encryption subkey has expired.
    #[error(
        "the {part} {key_id} of key {fingerprint} expired on {expired_at}: files encrypted to it \
         would be rejected; ask the key's owner (LiveRamp) for their current public key and \
         configure it instead"
    )]
    Expired {
        /// Fingerprint of the primary key.
        fingerprint: String,
        /// Which part expired.
        part: KeyPart,
        /// Key ID (16 upper-case hex digits) of the expired key or subkey.
        key_id: String,
        /// When it expired.
        expired_at: DateTime<Utc>,
    },

    /// The primary key or the encryption subkey has been revoked by its owner.
    #[error(
        "the {part} {key_id} of key {fingerprint} has been revoked by its owner{reason_note}: \
         never encrypt to it; ask the key's owner (LiveRamp) for their current public key"
    )]
    Revoked {
        /// Fingerprint of the primary key.
        fingerprint: String,
        /// Which part is revoked.
        part: KeyPart,
        /// Key ID (16 upper-case hex digits) of the revoked key or subkey.
        key_id: String,
        /// The revocation reason, formatted for the message (may be empty).
        reason_note: String,
    },

    /// A binding or self-signature that the key needs does not verify: the key is corrupt or
    /// has been tampered with.
    #[error(
        "the {part} {key_id} of key {fingerprint} is not validly bound to the key (its signature \
         does not verify: {reason}); the key file is damaged or was tampered with: download the \
         key again from its owner and check its fingerprint with them"
    )]
    InvalidBinding {
        /// Fingerprint of the primary key.
        fingerprint: String,
        /// Which part has the bad signature.
        part: KeyPart,
        /// Key ID (16 upper-case hex digits) of that key or subkey.
        key_id: String,
        /// Why verification failed.
        reason: String,
    },

    /// The encryption subkey uses an algorithm (or key version) that cannot be used here.
    #[error(
        "the encryption subkey {key_id} of key {fingerprint} uses {algorithm}, which this \
         program cannot encrypt to ({reason}); ask the key's owner for a version 4 key with an \
         RSA (2048 bits or more), cv25519 or NIST P-256/384/521 encryption subkey"
    )]
    UnsupportedAlgorithm {
        /// Fingerprint of the primary key.
        fingerprint: String,
        /// Key ID (16 upper-case hex digits) of the subkey.
        key_id: String,
        /// The algorithm, as GnuPG names it (for example `elg2048`).
        algorithm: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// The file name given for the encrypted message is not usable.
    #[error(
        "the file name to embed in the encrypted message is {len} bytes long; OpenPGP allows at \
         most 255: use a shorter name"
    )]
    FileNameTooLong {
        /// Length of the name in bytes.
        len: usize,
    },

    /// Encrypting the session key to the recipient failed.
    #[error(
        "could not encrypt the session key to subkey {key_id}: {reason}; check that the key is \
         the recipient's real public key"
    )]
    SessionKey {
        /// Key ID of the subkey.
        key_id: String,
        /// Why it failed.
        reason: String,
    },

    /// Reading the key or writing the encrypted output failed.
    #[error("I/O error while {context}: {source}; check the source or destination and try again")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        Error::Io { context, source }
    }
}
