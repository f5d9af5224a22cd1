//! A minimal SFTP v3 client on a second channel of the same SSH session, used only for the
//! `posix-rename@openssh.com` extension (libssh2 offers no way to send SFTP extensions, and
//! plain SFTP v3 `RENAME` fails when the target exists).

use std::io::{Read, Write};

use ssh2::{Channel, Session};

const FXP_INIT: u8 = 1;
const FXP_VERSION: u8 = 2;
const FXP_STATUS: u8 = 101;
const FXP_EXTENDED: u8 = 200;
const POSIX_RENAME: &str = "posix-rename@openssh.com";

/// An SFTP channel that knows which extensions the server offers.
pub(crate) struct RawSftp {
    channel: Channel,
    posix_rename: bool,
    next_id: u32,
}

impl RawSftp {
    /// Opens the `sftp` subsystem on a new channel and reads the server's extensions.
    pub(crate) fn open(session: &Session) -> Result<RawSftp, String> {
        let mut channel = session.channel_session().map_err(|e| e.to_string())?;
        channel.subsystem("sftp").map_err(|e| e.to_string())?;
        let mut raw = RawSftp {
            channel,
            posix_rename: false,
            next_id: 1,
        };
        let mut init = Vec::new();
        init.push(FXP_INIT);
        init.extend_from_slice(&3u32.to_be_bytes());
        raw.send(&init)?;
        let reply = raw.receive()?;
        let mut r = Reader(&reply);
        if r.byte()? != FXP_VERSION {
            return Err("the server did not answer SFTP INIT with VERSION".to_owned());
        }
        let _version = r.u32()?;
        while !r.0.is_empty() {
            let name = r.string()?;
            let _data = r.string()?;
            if name == POSIX_RENAME.as_bytes() {
                raw.posix_rename = true;
            }
        }
        Ok(raw)
    }

    /// Whether the server offers `posix-rename@openssh.com`.
    pub(crate) fn has_posix_rename(&self) -> bool {
        self.posix_rename
    }

    /// Renames `from` to `to`, atomically replacing `to` (`rename(2)` semantics). Returns the
    /// server's status code and message on failure.
    pub(crate) fn posix_rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut packet = vec![FXP_EXTENDED];
        packet.extend_from_slice(&id.to_be_bytes());
        put_string(&mut packet, POSIX_RENAME.as_bytes());
        put_string(&mut packet, from.as_bytes());
        put_string(&mut packet, to.as_bytes());
        self.send(&packet)?;
        let reply = self.receive()?;
        let mut r = Reader(&reply);
        if r.byte()? != FXP_STATUS || r.u32()? != id {
            return Err("unexpected answer to posix-rename".to_owned());
        }
        let code = r.u32()?;
        if code == 0 {
            Ok(())
        } else {
            let message = String::from_utf8_lossy(r.string().unwrap_or_default()).into_owned();
            Err(format!("status {code}: {message}"))
        }
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), String> {
        let len = u32::try_from(payload.len()).map_err(|e| e.to_string())?;
        let mut packet = Vec::with_capacity(payload.len() + 4);
        packet.extend_from_slice(&len.to_be_bytes());
        packet.extend_from_slice(payload);
        self.channel
            .write_all(&packet)
            .and_then(|()| self.channel.flush())
            .map_err(|e| e.to_string())
    }

    fn receive(&mut self) -> Result<Vec<u8>, String> {
        let mut len = [0u8; 4];
        self.channel
            .read_exact(&mut len)
            .map_err(|e| e.to_string())?;
        let len = u32::from_be_bytes(len) as usize;
        if len > 1 << 20 {
            return Err(format!("SFTP packet of {len} bytes is too large"));
        }
        let mut body = vec![0u8; len];
        self.channel
            .read_exact(&mut body)
            .map_err(|e| e.to_string())?;
        Ok(body)
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Paths and names are far below 4 GiB.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated SFTP packet".to_owned());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}
