//! Member keys, versions, and the JSON the snapshots emit.

use sha2::{Digest, Sha256};

use crate::message::{Identity, MemberChange};

/// The first byte of a key derived from identities (see [`member_key`]).
pub const DERIVED_KEY_PREFIX: char = '~';

/// The key a profile is stored and delivered under, or `None` when the profile has none (it is
/// then rejected and counted, see [`ApplySummary::rejected_profiles`](crate::ApplySummary)).
///
/// 1. A non-empty `mpid` is the key as it is. An `mpid` that begins with `~` is not an
///    mParticle ID (those are decimal integers) and could collide with a derived key, so such a
///    profile is rejected.
/// 2. Otherwise the key is derived from one identity: among the identities with a non-empty
///    value, the one first in the priority order (a) user `customer_id` (or `customer`, its
///    Firehose name), (b) user `email`, (c) user `mobile_number`, (d) any other user identity,
///    (e) any device identity; ties within a class go to the smallest (type, encoding, value)
///    in byte order, so the order the identities were sent in does not matter. The key is
///    `~` followed by the lowercase hex SHA-256 of `u` (user) or `d` (device), NUL, the type,
///    NUL, the encoding, NUL, the value: it holds no PII, cannot equal an accepted mpid, and
///    sorts after every mpid made of ASCII digits.
/// 3. A profile with neither has no key.
///
/// The same person sent once with an mpid and once without (or with a different identity
/// first in the order) is two members: mParticle sends the mpid on every profile when the
/// registration asks for it (`allow_access_mpid`).
///
/// ```
/// use liveramp_audience_store::{member_key, MemberChange};
/// assert_eq!(member_key(&MemberChange::with_mpid("42")).as_deref(), Some("42"));
/// let anonymous = MemberChange::new()
///     .device_identity("ios_advertising_id", "raw", "6D92078A-8246-4BA4-AE5B-76104861E7DC")
///     .user_identity("email", "raw", "Jane@x.com");
/// let key = member_key(&anonymous).unwrap();
/// assert!(key.starts_with('~') && key.len() == 65); // from the email, which comes first
/// assert_eq!(member_key(&MemberChange::new()), None);
/// ```
pub fn member_key(profile: &MemberChange) -> Option<String> {
    if let Some(mpid) = profile.mpid.as_deref().filter(|m| !m.is_empty()) {
        return (!mpid.starts_with(DERIVED_KEY_PREFIX)).then(|| mpid.to_owned());
    }
    let user = profile
        .user_identities
        .iter()
        .filter(|i| !i.value.is_empty())
        .map(|i| (user_class(&i.kind), b'u', i));
    let device = profile
        .device_identities
        .iter()
        .filter(|i| !i.value.is_empty())
        .map(|i| (4u8, b'd', i));
    let (_, side, identity) = user.chain(device).min_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.2.kind.cmp(&b.2.kind))
            .then_with(|| a.2.encoding.cmp(&b.2.encoding))
            .then_with(|| a.2.value.cmp(&b.2.value))
    })?;
    let mut hasher = Sha256::new();
    hasher.update([side, 0]);
    hasher.update(identity.kind.as_bytes());
    hasher.update([0]);
    hasher.update(identity.encoding.as_bytes());
    hasher.update([0]);
    hasher.update(identity.value.as_bytes());
    let mut key = String::with_capacity(65);
    key.push(DERIVED_KEY_PREFIX);
    key.push_str(&hex::encode(hasher.finalize()));
    Some(key)
}

fn user_class(kind: &str) -> u8 {
    match kind {
        "customer_id" | "customer" => 0,
        "email" => 1,
        "mobile_number" => 2,
        _ => 3,
    }
}

/// The version of one entry of a message: last writer wins on it.
///
/// Versions compare as the triple (`timestamp_ms`, `message_id` in byte order, `seq`), where
/// `seq` is the entry's position in its message: numbering from 0 in message order, each
/// profile takes one number (its identities' version), then each of its audience changes one,
/// then each attribute change of that audience change one. So two different messages never tie
/// (their ids differ, and a message id is applied once), and within a message a later entry for
/// the same thing wins over an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Version {
    /// The message's `timestamp_ms`.
    pub timestamp_ms: i64,
    /// The message's id.
    pub message_id: String,
    /// The entry's position within the message.
    pub seq: u64,
}

impl Version {
    /// A version from its parts.
    pub fn new(timestamp_ms: i64, message_id: impl Into<String>, seq: u64) -> Version {
        Version {
            timestamp_ms,
            message_id: message_id.into(),
            seq,
        }
    }
}

/// Appends `s` as a JSON string literal, escaped exactly as `serde_json` does: `"` and `\`,
/// `\b \f \n \r \t`, other control characters as `\u00xx`; everything else as it is.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The member's part of a snapshot line, everything but `user_attributes`:
/// `"mpid":"…","user_identities":[…],"device_identities":[…]` (no `mpid` when it has none).
pub(crate) fn identity_fragment(
    mpid: Option<&str>,
    user: &[Identity],
    device: &[Identity],
) -> String {
    let mut out = Vec::with_capacity(64 + 64 * (user.len() + device.len()));
    if let Some(mpid) = mpid {
        out.extend_from_slice(b"\"mpid\":");
        push_json_str(&mut out, mpid);
        out.push(b',');
    }
    out.extend_from_slice(b"\"user_identities\":");
    push_identities(&mut out, user);
    out.extend_from_slice(b",\"device_identities\":");
    push_identities(&mut out, device);
    // Only whole UTF-8 strings and ASCII were pushed.
    String::from_utf8(out).unwrap_or_default()
}

fn push_identities(out: &mut Vec<u8>, identities: &[Identity]) {
    out.push(b'[');
    for (i, identity) in identities.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"type\":");
        push_json_str(out, &identity.kind);
        out.extend_from_slice(b",\"encoding\":");
        push_json_str(out, &identity.encoding);
        out.extend_from_slice(b",\"value\":");
        push_json_str(out, &identity.value);
        out.push(b'}');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn escaping_is_serde_json(s in any::<String>()) {
            let mut out = Vec::new();
            push_json_str(&mut out, &s);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn escapes_every_control_character() {
        let s: String = (0u8..0x80).map(char::from).collect();
        let mut out = Vec::new();
        push_json_str(&mut out, &s);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&s).unwrap()
        );
    }

    #[test]
    fn fragment_shape() {
        let f = identity_fragment(Some("1\"2"), &[Identity::new("email", "raw", "a@b")], &[]);
        assert_eq!(
            f,
            r#""mpid":"1\"2","user_identities":[{"type":"email","encoding":"raw","value":"a@b"}],"device_identities":[]"#
        );
    }
}
