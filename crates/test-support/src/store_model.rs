//! The reference model of the membership store: sort the distinct messages by (`timestamp_ms`,
//! id), replay them entry by entry with the obvious semantics, render the snapshot lines with
//! `serde_json`. The store's behavioural suite, and every test of the real-time path (ingest,
//! the HTTP endpoint, several nodes on one database), compare what they got with it.
//!
//! It shares no code with the store: the member key, the replay and the JSON are written
//! again here, from the rules in `liveramp-audience-store`'s crate documentation.

use std::collections::{BTreeMap, BTreeSet};

use liveramp_audience_store::{
    AttributeChange, AttributeValue, AudienceInfo, Change, Identity, MemberChange,
    MembershipAction, Message, SubscriptionAction,
};
use sha2::{Digest, Sha256};

/// The member key of rule 1, written from its documentation.
pub fn key(profile: &MemberChange) -> Option<String> {
    if let Some(mpid) = profile.mpid.as_deref()
        && !mpid.is_empty()
    {
        return if mpid.starts_with('~') {
            None
        } else {
            Some(mpid.to_owned())
        };
    }
    let mut candidates: Vec<(u8, &str, &str, &str, &str)> = Vec::new();
    for i in profile
        .user_identities
        .iter()
        .filter(|i| !i.value.is_empty())
    {
        let class = match i.kind.as_str() {
            "customer_id" | "customer" => 0,
            "email" => 1,
            "mobile_number" => 2,
            _ => 3,
        };
        candidates.push((class, &i.kind, &i.encoding, &i.value, "u"));
    }
    for i in profile
        .device_identities
        .iter()
        .filter(|i| !i.value.is_empty())
    {
        candidates.push((4, &i.kind, &i.encoding, &i.value, "d"));
    }
    candidates.sort_unstable();
    let (_, kind, encoding, value, side) = candidates.first()?;
    let digest = Sha256::digest(format!("{side}\0{kind}\0{encoding}\0{value}").as_bytes());
    Some(format!("~{}", hex::encode(digest)))
}

/// A member's mpid (when its key is one), user and device identities.
type Identities = (Option<String>, Vec<Identity>, Vec<Identity>);

#[derive(Debug, Default, Clone)]
struct Member {
    present: bool,
    attributes: BTreeMap<String, AttributeValue>,
}

#[derive(Debug, Clone)]
struct Audience {
    info: AudienceInfo,
    members: BTreeMap<String, Member>,
}

/// The state after replaying messages.
#[derive(Debug, Default, Clone)]
pub struct Model {
    audiences: BTreeMap<i64, Audience>,
    /// Per member key: mpid (when the key is one), user and device identities.
    identities: BTreeMap<String, Identities>,
}

impl Model {
    /// Replays `messages` (any order, duplicates allowed: the first of an id counts).
    pub fn replay(messages: &[Message]) -> Model {
        let mut seen = BTreeSet::new();
        let mut distinct: Vec<&Message> = messages
            .iter()
            .filter(|m| seen.insert(m.id.clone()))
            .collect();
        distinct.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
        let mut model = Model::default();
        for m in distinct {
            model.apply(m);
        }
        model
    }

    fn audience(&mut self, id: i64, ts: i64) -> &mut Audience {
        let a = self.audiences.entry(id).or_insert_with(|| Audience {
            info: AudienceInfo::new(id),
            members: BTreeMap::new(),
        });
        a.info.newest_change_ms = Some(a.info.newest_change_ms.map_or(ts, |n| n.max(ts)));
        a
    }

    fn apply(&mut self, m: &Message) {
        let ts = m.timestamp_ms;
        match &m.change {
            Change::Subscription(s) => {
                let a = self.audience(s.audience_id, ts);
                a.info.name = Some(s.audience_name.clone());
                match s.action {
                    SubscriptionAction::Connect => {
                        a.info.connected = true;
                        a.info.disconnected_at_ms = None;
                        a.info.first_connected_ms.get_or_insert(ts);
                    }
                    SubscriptionAction::Disconnect => {
                        a.info.connected = false;
                        a.info.disconnected_at_ms = Some(ts);
                    }
                }
            }
            Change::Membership(profiles) => {
                for p in profiles {
                    let Some(key) = key(p) else { continue };
                    if p.audiences.is_empty() {
                        continue;
                    }
                    let mpid = (!key.starts_with('~')).then(|| key.clone());
                    self.identities.insert(
                        key.clone(),
                        (mpid, p.user_identities.clone(), p.device_identities.clone()),
                    );
                    for change in &p.audiences {
                        let a = self.audience(change.audience_id, ts);
                        if let Some(name) = &change.audience_name {
                            a.info.name = Some(name.clone());
                        }
                        let member = a.members.entry(key.clone()).or_default();
                        match change.action {
                            MembershipAction::Add => member.present = true,
                            MembershipAction::Delete => {
                                member.present = false;
                                member.attributes.clear();
                                continue;
                            }
                            MembershipAction::AttributeUpdate => {}
                        }
                        for attr in &change.attributes {
                            match attr {
                                AttributeChange::Upsert { key, value } => {
                                    member.attributes.insert(key.clone(), value.clone());
                                }
                                AttributeChange::Delete { key } => {
                                    member.attributes.remove(key);
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// `audiences()` as the store must answer it.
    pub fn audiences(&self) -> Vec<AudienceInfo> {
        self.audiences
            .values()
            .map(|a| {
                let mut info = a.info.clone();
                info.members = a.members.values().filter(|m| m.present).count() as u64;
                info
            })
            .collect()
    }

    /// The snapshot lines (without `\n`) of an audience, in key order.
    pub fn lines(&self, audience: i64) -> Vec<String> {
        let Some(a) = self.audiences.get(&audience) else {
            return Vec::new();
        };
        a.members
            .iter()
            .filter(|(_, m)| m.present)
            .map(|(key, m)| {
                let (mpid, user, device) = &self.identities[key];
                line(mpid.as_deref(), user, device, &m.attributes)
            })
            .collect()
    }
}

/// One snapshot line, rendered with `serde_json`.
pub fn line(
    mpid: Option<&str>,
    user: &[Identity],
    device: &[Identity],
    attributes: &BTreeMap<String, AttributeValue>,
) -> String {
    let j = |s: &str| serde_json::to_string(s).unwrap();
    let ids = |ids: &[Identity]| {
        let items: Vec<String> = ids
            .iter()
            .map(|i| {
                format!(
                    "{{\"type\":{},\"encoding\":{},\"value\":{}}}",
                    j(&i.kind),
                    j(&i.encoding),
                    j(&i.value)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let attrs: BTreeMap<&String, serde_json::Value> = attributes
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttributeValue::Text(t) => serde_json::Value::from(t.as_str()),
                AttributeValue::List(l) => serde_json::Value::from(l.clone()),
            };
            (k, v)
        })
        .collect();
    format!(
        "{{{}\"user_identities\":{},\"device_identities\":{},\"user_attributes\":{}}}",
        mpid.map(|m| format!("\"mpid\":{},", j(m)))
            .unwrap_or_default(),
        ids(user),
        ids(device),
        serde_json::to_string(&attrs).unwrap()
    )
}
