//! The state of one member in one audience (membership, delete floor, versioned attributes),
//! its merge rules, and the compact encoding of its attributes.
//!
//! The attributes of one (audience, member) are one BLOB: a table of the distinct
//! (`timestamp_ms`, message id) pairs their versions use, then the entries in key byte order,
//! each `key, version index, seq, kind, value`, with LEB128 lengths and zig-zag timestamps.
//! Tombstones (deleted keys) are entries without a value.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::key::push_json_str;
use crate::message::{AttributeValue, MembershipAction};

const FORMAT: u8 = 1;
const TOMBSTONE: u8 = 0;
const TEXT: u8 = 1;
const LIST: u8 = 2;

/// A stored version: (`timestamp_ms`, message id, seq); the id is shared by every entry of
/// the same message, so keeping a version does not copy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ver {
    pub ts: i64,
    pub mid: Arc<str>,
    pub seq: u64,
}

impl Ver {
    pub(crate) fn new(ts: i64, mid: impl Into<Arc<str>>, seq: u64) -> Ver {
        Ver {
            ts,
            mid: mid.into(),
            seq,
        }
    }
}

/// A borrowed version: (`timestamp_ms`, message id, seq).
#[derive(Debug, Clone, Copy)]
pub(crate) struct V<'a> {
    pub ts: i64,
    pub mid: &'a Arc<str>,
    pub seq: u64,
}

impl V<'_> {
    fn cmp(&self, other: &Ver) -> Ordering {
        self.ts
            .cmp(&other.ts)
            .then_with(|| (**self.mid).cmp(&*other.mid))
            .then_with(|| self.seq.cmp(&other.seq))
    }
    pub(crate) fn newer_than(&self, other: Option<&Ver>) -> bool {
        other.is_none_or(|o| self.cmp(o) == Ordering::Greater)
    }
    pub(crate) fn owned(&self) -> Ver {
        Ver {
            ts: self.ts,
            mid: Arc::clone(self.mid),
            seq: self.seq,
        }
    }
}

/// Whether version `a` is newer than version `b`.
pub(crate) fn newer(a: V<'_>, b: V<'_>) -> bool {
    (a.ts, &**a.mid, a.seq) > (b.ts, &**b.mid, b.seq)
}

/// A version's `seq` as the databases store it (a signed 64-bit integer).
pub(crate) fn seq_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// What one batch changes in one audience row (both backends merge a batch into these).
#[derive(Default)]
pub(crate) struct AudienceDelta<'a> {
    pub(crate) newest_ms: Option<i64>,
    /// The newest name and its version.
    pub(crate) name: Option<(V<'a>, &'a str)>,
    /// The newest subscription change: version, connect?
    pub(crate) sub: Option<(V<'a>, bool)>,
    pub(crate) first_connect_ms: Option<i64>,
    pub(crate) members: i64,
}

impl PairState {
    /// Applies one (audience, member) group of a batch's operations (in batch order), noting
    /// their names and times in the audience's delta `d`; `version` gives an entry's version
    /// from its message and sequence number. Whether anything changed.
    pub(crate) fn apply_ops<'a>(
        &mut self,
        group: &[&'a crate::prepare::POp],
        d: &mut AudienceDelta<'a>,
        version: &dyn Fn(usize, u64) -> V<'a>,
    ) -> bool {
        let mut changed = false;
        for op in group {
            let v = version(op.msg, op.seq);
            d.touch(v.ts);
            if let Some(name) = &op.name {
                d.name(v, name);
            }
            match op.action {
                MembershipAction::Add => changed |= self.set_membership(v, true),
                MembershipAction::Delete => changed |= self.set_membership(v, false),
                MembershipAction::AttributeUpdate => {}
            }
            for a in &op.attrs {
                changed |= self.write_attr(&a.key, version(op.msg, a.seq), a.value.as_ref());
            }
        }
        changed
    }
}

impl<'a> AudienceDelta<'a> {
    pub(crate) fn touch(&mut self, ts: i64) {
        self.newest_ms = Some(self.newest_ms.map_or(ts, |n| n.max(ts)));
    }
    pub(crate) fn name(&mut self, v: V<'a>, name: &'a str) {
        if self.name.is_none_or(|(old, _)| newer(v, old)) {
            self.name = Some((v, name));
        }
    }
}

/// One attribute of a member in an audience: its newest value (or tombstone) and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttrEntry {
    pub key: String,
    pub version: Ver,
    pub value: Option<AttributeValue>,
}

/// Everything the store keeps about one member in one audience.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PairState {
    pub present: bool,
    /// The newest `add` or `delete`.
    pub membership: Option<Ver>,
    /// The newest `delete`: attribute writes older than it are void.
    pub delete_floor: Option<Ver>,
    /// Sorted by key bytes.
    pub attrs: Vec<AttrEntry>,
}

impl PairState {
    /// An `add` (`present = true`) or `delete` (`false`) at `v`. Returns whether it changed
    /// anything.
    pub(crate) fn set_membership(&mut self, v: V<'_>, present: bool) -> bool {
        let mut changed = false;
        if v.newer_than(self.membership.as_ref()) {
            self.membership = Some(v.owned());
            self.present = present;
            changed = true;
        }
        if !present && v.newer_than(self.delete_floor.as_ref()) {
            self.attrs.retain(|a| v.cmp(&a.version) == Ordering::Less);
            self.delete_floor = Some(v.owned());
            changed = true;
        }
        changed
    }

    /// An attribute upsert (`Some`) or deletion (`None`) at `v`. Returns whether it won.
    pub(crate) fn write_attr(
        &mut self,
        key: &str,
        v: V<'_>,
        value: Option<&AttributeValue>,
    ) -> bool {
        if !v.newer_than(self.delete_floor.as_ref()) {
            return false;
        }
        match self.attrs.binary_search_by(|a| a.key.as_str().cmp(key)) {
            Ok(i) => {
                let entry = &mut self.attrs[i];
                if v.newer_than(Some(&entry.version)) {
                    entry.version = v.owned();
                    entry.value = value.cloned();
                    true
                } else {
                    false
                }
            }
            Err(i) => {
                self.attrs.insert(
                    i,
                    AttrEntry {
                        key: key.to_owned(),
                        version: v.owned(),
                        value: value.cloned(),
                    },
                );
                true
            }
        }
    }

    /// Forgets what no message can override any more: every message older than `horizon_ms`
    /// is refused, so tombstones and a delete floor older than it have nothing left to hide.
    pub(crate) fn forget_before(&mut self, horizon_ms: i64) {
        self.attrs
            .retain(|a| a.value.is_some() || a.version.ts >= horizon_ms);
        if self
            .delete_floor
            .as_ref()
            .is_some_and(|d| d.ts < horizon_ms)
        {
            self.delete_floor = None;
        }
    }

    /// For a row that is not a member, the newest timestamp it holds (when it may be purged);
    /// `None` for a member.
    pub(crate) fn gone_ms(&self) -> Option<i64> {
        if self.present {
            return None;
        }
        let versions = self
            .membership
            .iter()
            .chain(self.delete_floor.iter())
            .chain(self.attrs.iter().map(|a| &a.version));
        Some(versions.map(|v| v.ts).max().unwrap_or(i64::MIN))
    }
}

/// The attributes as a BLOB, `None` when there are none.
pub(crate) fn encode_attrs(attrs: &[AttrEntry]) -> Option<Vec<u8>> {
    if attrs.is_empty() {
        return None;
    }
    let mut versions: Vec<(i64, &str)> = Vec::with_capacity(2);
    let mut out = Vec::with_capacity(64 + attrs.len() * 32);
    out.push(FORMAT);
    let mut index = Vec::with_capacity(attrs.len());
    for a in attrs {
        let pair = (a.version.ts, &*a.version.mid);
        let i = versions.iter().position(|p| *p == pair).unwrap_or_else(|| {
            versions.push(pair);
            versions.len() - 1
        });
        index.push(i);
    }
    put_uvarint(&mut out, len(versions.len()));
    for (ts, mid) in &versions {
        put_ivarint(&mut out, *ts);
        put_bytes(&mut out, mid.as_bytes());
    }
    put_uvarint(&mut out, len(attrs.len()));
    for (a, i) in attrs.iter().zip(index) {
        put_bytes(&mut out, a.key.as_bytes());
        put_uvarint(&mut out, len(i));
        put_uvarint(&mut out, a.version.seq);
        match &a.value {
            None => out.push(TOMBSTONE),
            Some(AttributeValue::Text(text)) => {
                out.push(TEXT);
                put_bytes(&mut out, text.as_bytes());
            }
            Some(AttributeValue::List(items)) => {
                out.push(LIST);
                put_uvarint(&mut out, len(items.len()));
                for item in items {
                    put_bytes(&mut out, item.as_bytes());
                }
            }
        }
    }
    Some(out)
}

/// A BLOB that is not what [`encode_attrs`] writes.
#[derive(Debug)]
pub(crate) struct Corrupt;

/// The attributes of a BLOB written by [`encode_attrs`] (`None` or empty: no attributes).
pub(crate) fn decode_attrs(blob: Option<&[u8]>) -> Result<Vec<AttrEntry>, Corrupt> {
    let Some(blob) = blob.filter(|b| !b.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut r = Reader { rest: blob };
    let versions = r.versions()?;
    let count = r.uvarint()?;
    let mut attrs = Vec::with_capacity(usize::try_from(count.min(1024)).unwrap_or(0));
    for _ in 0..count {
        let key = r.str()?.to_owned();
        let (ts, mid) = versions
            .get(usize::try_from(r.uvarint()?).map_err(|_| Corrupt)?)
            .ok_or(Corrupt)?;
        let seq = r.uvarint()?;
        let value = match r.byte()? {
            TOMBSTONE => None,
            TEXT => Some(AttributeValue::Text(r.str()?.to_owned())),
            LIST => {
                let n = r.uvarint()?;
                let mut items = Vec::with_capacity(usize::try_from(n.min(1024)).unwrap_or(0));
                for _ in 0..n {
                    items.push(r.str()?.to_owned());
                }
                Some(AttributeValue::List(items))
            }
            _ => return Err(Corrupt),
        };
        attrs.push(AttrEntry {
            key,
            version: Ver {
                ts: *ts,
                mid: Arc::clone(mid),
                seq,
            },
            value,
        });
    }
    r.end()?;
    Ok(attrs)
}

/// Appends the live attributes of a BLOB as the members of a JSON object (without braces):
/// `"k":"v","tags":["a","b"]`, in key byte order.
pub(crate) fn render_attrs(blob: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), Corrupt> {
    let Some(blob) = blob.filter(|b| !b.is_empty()) else {
        return Ok(());
    };
    let mut r = Reader { rest: blob };
    if r.byte()? != FORMAT {
        return Err(Corrupt);
    }
    for _ in 0..r.uvarint()? {
        r.ivarint()?;
        r.bytes()?;
    }
    let mut first = true;
    for _ in 0..r.uvarint()? {
        let key = r.str()?;
        r.uvarint()?;
        r.uvarint()?;
        let kind = r.byte()?;
        if kind == TOMBSTONE {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        push_json_str(out, key);
        out.push(b':');
        match kind {
            TEXT => push_json_str(out, r.str()?),
            LIST => {
                out.push(b'[');
                for i in 0..r.uvarint()? {
                    if i > 0 {
                        out.push(b',');
                    }
                    push_json_str(out, r.str()?);
                }
                out.push(b']');
            }
            _ => return Err(Corrupt),
        }
    }
    r.end()
}

fn put_uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(low_byte(n) | 0x80);
        n >>= 7;
    }
    out.push(low_byte(n));
}

#[allow(clippy::cast_possible_truncation)] // keeping the low 7 bits is the point
fn low_byte(n: u64) -> u8 {
    (n & 0x7f) as u8
}

fn put_ivarint(out: &mut Vec<u8>, n: i64) {
    put_uvarint(out, ((n << 1) ^ (n >> 63)).cast_unsigned());
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uvarint(out, len(bytes.len()));
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&b, rest) = self.rest.split_first().ok_or(Corrupt)?;
        self.rest = rest;
        Ok(b)
    }
    fn uvarint(&mut self) -> Result<u64, Corrupt> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Corrupt)
    }
    fn ivarint(&mut self) -> Result<i64, Corrupt> {
        let u = self.uvarint()?;
        Ok((u >> 1).cast_signed() ^ -(u & 1).cast_signed())
    }
    fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let len = usize::try_from(self.uvarint()?).map_err(|_| Corrupt)?;
        if len > self.rest.len() {
            return Err(Corrupt);
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }
    fn str(&mut self) -> Result<&'a str, Corrupt> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Corrupt)
    }
    fn versions(&mut self) -> Result<Vec<(i64, Arc<str>)>, Corrupt> {
        if self.byte()? != FORMAT {
            return Err(Corrupt);
        }
        let n = self.uvarint()?;
        let mut versions = Vec::with_capacity(usize::try_from(n.min(64)).unwrap_or(0));
        for _ in 0..n {
            let ts = self.ivarint()?;
            versions.push((ts, Arc::from(self.str()?)));
        }
        Ok(versions)
    }
    fn end(&self) -> Result<(), Corrupt> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Corrupt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = AttrEntry> {
        (
            any::<String>(),
            any::<i64>(),
            "[a-c]{0,3}",
            any::<u64>(),
            prop_oneof![
                Just(None),
                any::<String>().prop_map(|s| Some(AttributeValue::Text(s))),
                proptest::collection::vec(any::<String>(), 0..3)
                    .prop_map(|l| Some(AttributeValue::List(l))),
            ],
        )
            .prop_map(|(key, ts, mid, seq, value)| AttrEntry {
                key,
                version: Ver::new(ts, mid, seq),
                value,
            })
    }

    proptest! {
        #[test]
        fn round_trips_and_renders(mut attrs in proptest::collection::vec(entry(), 0..6)) {
            attrs.sort_by(|a, b| a.key.cmp(&b.key));
            attrs.dedup_by(|a, b| a.key == b.key);
            let blob = encode_attrs(&attrs);
            prop_assert_eq!(decode_attrs(blob.as_deref()).unwrap(), attrs.clone());
            let mut out = Vec::new();
            render_attrs(blob.as_deref(), &mut out).unwrap();
            let expected: Vec<String> = attrs.iter().filter_map(|a| {
                let value = match a.value.as_ref()? {
                    AttributeValue::Text(t) => serde_json::to_string(t).unwrap(),
                    AttributeValue::List(l) => serde_json::to_string(l).unwrap(),
                };
                Some(format!("{}:{value}", serde_json::to_string(&a.key).unwrap()))
            }).collect();
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected.join(","));
        }

        #[test]
        fn garbage_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_attrs(Some(&blob));
            let _ = render_attrs(Some(&blob), &mut Vec::new());
        }
    }
}
