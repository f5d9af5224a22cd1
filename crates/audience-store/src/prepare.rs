//! A batch made ready for the writer on the caller's thread: member keys derived, identities
//! rendered, entries numbered and sorted by the rows they touch. The writer then only reads and
//! writes rows.

use crate::key::{identity_fragment, member_key};
use crate::message::{AttributeChange, AttributeValue, Change, MembershipAction, Message};
use crate::store::ApplySummary;

pub(crate) struct Prepared {
    pub messages: Vec<PMessage>,
    /// One per profile with a key; ops and identities point into it.
    pub keys: Vec<String>,
    pub subs: Vec<PSub>,
    /// Sorted by key.
    pub idents: Vec<PIdent>,
    /// Sorted by (audience, key), message order kept within.
    pub ops: Vec<POp>,
}

pub(crate) struct PMessage {
    pub id: std::sync::Arc<str>,
    pub ts: i64,
    /// What applying this message counts.
    pub counts: ApplySummary,
}

pub(crate) struct PSub {
    pub msg: usize,
    pub audience: i64,
    pub name: String,
    pub connect: bool,
}

pub(crate) struct PIdent {
    pub key: usize,
    pub msg: usize,
    pub seq: u64,
    pub fragment: String,
}

pub(crate) struct POp {
    pub audience: i64,
    pub key: usize,
    pub msg: usize,
    pub seq: u64,
    pub name: Option<String>,
    pub action: MembershipAction,
    pub attrs: Vec<PAttr>,
}

pub(crate) struct PAttr {
    pub key: String,
    pub seq: u64,
    pub value: Option<AttributeValue>,
}

impl Prepared {
    pub(crate) fn new(batch: &[Message]) -> Prepared {
        let mut p = Prepared {
            messages: Vec::with_capacity(batch.len()),
            keys: Vec::new(),
            subs: Vec::new(),
            idents: Vec::new(),
            ops: Vec::new(),
        };
        for (msg, message) in batch.iter().enumerate() {
            let mut counts = ApplySummary {
                messages: 1,
                ..ApplySummary::default()
            };
            match &message.change {
                Change::Subscription(s) => {
                    counts.subscriptions += 1;
                    p.subs.push(PSub {
                        msg,
                        audience: s.audience_id,
                        name: s.audience_name.clone(),
                        connect: s.action == crate::SubscriptionAction::Connect,
                    });
                }
                Change::Membership(profiles) => {
                    let mut seq = 0u64;
                    for profile in profiles {
                        let profile_seq = seq;
                        seq += 1;
                        let Some(key) = member_key(profile) else {
                            counts.rejected_profiles += 1;
                            continue;
                        };
                        counts.profiles += 1;
                        if profile.audiences.is_empty() {
                            continue;
                        }
                        let k = p.keys.len();
                        let mpid = (!key.starts_with(crate::key::DERIVED_KEY_PREFIX))
                            .then_some(key.as_str());
                        p.idents.push(PIdent {
                            key: k,
                            msg,
                            seq: profile_seq,
                            fragment: identity_fragment(
                                mpid,
                                &profile.user_identities,
                                &profile.device_identities,
                            ),
                        });
                        p.keys.push(key);
                        for change in &profile.audiences {
                            let op_seq = seq;
                            seq += 1;
                            let mut attrs = Vec::new();
                            match change.action {
                                MembershipAction::Add => counts.adds += 1,
                                MembershipAction::Delete => counts.deletes += 1,
                                MembershipAction::AttributeUpdate => counts.attribute_updates += 1,
                            }
                            for attr in &change.attributes {
                                let attr_seq = seq;
                                seq += 1;
                                if change.action == MembershipAction::Delete {
                                    continue;
                                }
                                attrs.push(match attr {
                                    AttributeChange::Upsert { key, value } => PAttr {
                                        key: key.clone(),
                                        seq: attr_seq,
                                        value: Some(value.clone()),
                                    },
                                    AttributeChange::Delete { key } => PAttr {
                                        key: key.clone(),
                                        seq: attr_seq,
                                        value: None,
                                    },
                                });
                            }
                            p.ops.push(POp {
                                audience: change.audience_id,
                                key: k,
                                msg,
                                seq: op_seq,
                                name: change.audience_name.clone(),
                                action: change.action,
                                attrs,
                            });
                        }
                    }
                }
            }
            p.messages.push(PMessage {
                id: std::sync::Arc::from(message.id.as_str()),
                ts: message.timestamp_ms,
                counts,
            });
        }
        let keys = &p.keys;
        p.idents.sort_by(|a, b| keys[a.key].cmp(&keys[b.key]));
        p.ops.sort_by(|a, b| {
            a.audience
                .cmp(&b.audience)
                .then_with(|| keys[a.key].cmp(&keys[b.key]))
        });
        p
    }
}
