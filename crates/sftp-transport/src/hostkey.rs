//! Host-key verification: SHA-256 fingerprints as `ssh-keygen -lf` prints them, and an
//! OpenSSH `known_hosts` reader (plain, hashed `|1|salt|hash` and `[host]:port` entries,
//! `*`/`?` wildcards, `!` negation, `@revoked` markers).

use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use liveramp_transport::{Error, Result};

/// The `SHA256:...` fingerprint of an SSH public key blob, exactly as `ssh-keygen -lf` prints
/// it (base64 without padding).
pub(crate) fn fingerprint(key_blob: &[u8]) -> String {
    format!("SHA256:{}", base64_encode(&Sha256::digest(key_blob), false))
}

/// The key type named inside an SSH public key blob (e.g. `ssh-ed25519`).
pub(crate) fn key_type(key_blob: &[u8]) -> String {
    if key_blob.len() >= 4 {
        let len = u32::from_be_bytes([key_blob[0], key_blob[1], key_blob[2], key_blob[3]]);
        if let Some(name) = usize::try_from(len)
            .ok()
            .and_then(|l| key_blob.get(4..4 + l))
            .and_then(|n| std::str::from_utf8(n).ok())
        {
            return name.to_owned();
        }
    }
    "unknown".to_owned()
}

/// Checks that a pin looks like `SHA256:<43 base64 chars>`.
pub(crate) fn validate_pin(pin: &str) -> Result<()> {
    let body = pin.trim().strip_prefix("SHA256:").unwrap_or_default();
    let body = body.trim_end_matches('=');
    if body.len() == 43 && base64_decode(body).is_some_and(|d| d.len() == 32) {
        Ok(())
    } else {
        Err(Error::InvalidSettings(format!(
            "`host_key_fingerprint` `{pin}` is not a SHA-256 fingerprint: give it as \
             `ssh-keygen -lf` prints it, e.g. `SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU`"
        )))
    }
}

/// Whether a pinned fingerprint equals the server's (padding and surrounding space ignored).
pub(crate) fn pin_matches(pin: &str, actual: &str) -> bool {
    pin.trim().trim_end_matches('=') == actual
}

/// The result of looking a host up in `known_hosts`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// An entry for the host holds exactly this key.
    Match,
    /// The host has entries, none with this key (or the key is `@revoked`); the fingerprints
    /// of the recorded keys.
    Mismatch(Vec<String>),
    /// No entry names the host.
    NotFound,
}

/// Looks `host`:`port` up in the OpenSSH `known_hosts` file at `path`, as OpenSSH does: port 22
/// is looked up as `host`, any other port as `[host]:port`.
pub(crate) fn lookup(path: &Path, host: &str, port: u16, key_blob: &[u8]) -> Result<Lookup> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidSettings(format!(
            "cannot read known_hosts file {}: {e}; fix `known_hosts_path`",
            path.display()
        ))
    })?;
    Ok(lookup_text(&text, &host_pattern_name(host, port), key_blob))
}

/// The name OpenSSH records for a host and port.
pub(crate) fn host_pattern_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

fn lookup_text(text: &str, name: &str, key_blob: &[u8]) -> Lookup {
    let mut recorded = Vec::new();
    let mut matched = false;
    let mut revoked = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut marker = None;
        if first.starts_with('@') {
            marker = Some(first);
            first = fields.next().unwrap_or_default();
        }
        let (Some(_key_type), Some(key_b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        if marker == Some("@cert-authority") || !hosts_match(first, name) {
            continue;
        }
        let Some(blob) = base64_decode(key_b64) else {
            continue;
        };
        let same = blob == key_blob;
        if marker == Some("@revoked") {
            revoked |= same;
            continue;
        }
        if same {
            matched = true;
        } else {
            recorded.push(fingerprint(&blob));
        }
    }
    if revoked {
        Lookup::Mismatch(vec!["(this key is marked @revoked)".to_owned()])
    } else if matched {
        Lookup::Match
    } else if recorded.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::Mismatch(recorded)
    }
}

/// Whether a `known_hosts` host field (comma-separated patterns, or one hashed entry) names
/// `name`.
fn hosts_match(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        let Some((salt, hash)) = hashed.split_once('|') else {
            return false;
        };
        let (Some(salt), Some(hash)) = (base64_decode(salt), base64_decode(hash)) else {
            return false;
        };
        return hmac_sha1(&salt, name.as_bytes()) == hash.as_slice();
    }
    let mut positive = false;
    for pattern in field.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if wildcard_match(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// `*` and `?` glob matching.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = u32::try_from(ALPHABET.iter().position(|&a| a == c)?).ok()?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // An ed25519 key and the fingerprint `ssh-keygen -lf` prints for it.
    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn base64_roundtrip() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let enc = base64_encode(data, true);
            assert_eq!(base64_decode(&enc).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar", true), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fooba", true), "Zm9vYmE=");
        assert_eq!(base64_encode(b"fooba", false), "Zm9vYmE");
        assert!(base64_decode("a$b").is_none());
    }

    #[test]
    fn fingerprint_of_empty_blob_matches_known_value() {
        // sha256("") in base64 without padding, as OpenSSH prints it.
        assert_eq!(
            fingerprint(b""),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(key_type(&base64_decode(KEY).unwrap()), "ssh-ed25519");
    }

    #[test]
    fn hmac_sha1_rfc2202() {
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn known_hosts_entries() {
        let blob = base64_decode(KEY).unwrap();
        let other = "AAAAC3NzaC1lZDI1NTE5AAAAIPBtx3cLvBQ6V6H0FkGtx0nlv8vTo8fp1bldMCnqDVfB";
        let text = format!(
            "# comment\n\nexample.com,10.0.0.1 ssh-ed25519 {KEY}\n[example.com]:2222 ssh-ed25519 {other}\n*.wild.test ssh-ed25519 {KEY}\n"
        );
        assert_eq!(lookup_text(&text, "example.com", &blob), Lookup::Match);
        assert_eq!(lookup_text(&text, "10.0.0.1", &blob), Lookup::Match);
        assert_eq!(lookup_text(&text, "a.wild.test", &blob), Lookup::Match);
        assert_eq!(lookup_text(&text, "other.test", &blob), Lookup::NotFound);
        assert!(matches!(
            lookup_text(&text, "[example.com]:2222", &blob),
            Lookup::Mismatch(_)
        ));
        let negated = format!("*.test,!bad.test ssh-ed25519 {KEY}\n");
        assert_eq!(lookup_text(&negated, "bad.test", &blob), Lookup::NotFound);
        let revoked = format!("@revoked * ssh-ed25519 {KEY}\nh ssh-ed25519 {KEY}\n");
        assert!(matches!(
            lookup_text(&revoked, "h", &blob),
            Lookup::Mismatch(_)
        ));
    }

    #[test]
    fn hashed_entry() {
        let blob = base64_decode(KEY).unwrap();
        let salt = b"0123456789abcdefghij";
        let hash = hmac_sha1(salt, b"[127.0.0.1]:2222");
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY}\n",
            base64_encode(salt, true),
            base64_encode(&hash, true)
        );
        assert_eq!(lookup_text(&line, "[127.0.0.1]:2222", &blob), Lookup::Match);
        assert_eq!(lookup_text(&line, "127.0.0.1", &blob), Lookup::NotFound);
    }

    #[test]
    fn pins() {
        assert!(validate_pin("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU").is_ok());
        assert!(validate_pin("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_ok());
        assert!(validate_pin("MD5:aa:bb").is_err());
        assert!(validate_pin("SHA256:short").is_err());
        assert!(pin_matches(
            " SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= ",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        ));
    }
}
