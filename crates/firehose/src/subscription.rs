//! `audience_subscription_request`: an audience connected to, updated on, or removed from the
//! integration.

use std::collections::BTreeMap;

use crate::de::{Keyword, parse_keyword};
use crate::membership::serialize_as_str;
use crate::message::Envelope;

/// An audience was connected (`add`), its connection settings changed (`update`), or it was
/// disconnected (`remove`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceSubscriptionRequest {
    /// `type`, `id`, `timestamp_ms`, `firehose_version`, `account`.
    pub envelope: Envelope,
    /// mParticle's audience ID (required).
    pub audience_id: u64,
    /// The audience's name, if sent.
    pub audience_name: Option<String>,
    /// The audience's description, if sent.
    pub audience_description: Option<String>,
    /// The settings of this audience's connection (empty if absent).
    pub audience_subscription_settings: BTreeMap<String, String>,
    /// The settings before an `update` (empty if absent).
    pub previous_audience_subscription_settings: BTreeMap<String, String>,
    /// What happened to the subscription (required).
    pub action: SubscriptionAction,
}

/// What happened to an audience subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscriptionAction {
    /// `add`: the audience was connected.
    Add,
    /// `update`: its connection settings changed.
    Update,
    /// `remove`: the audience was disconnected.
    Remove,
}

impl SubscriptionAction {
    /// The keyword as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionAction::Add => "add",
            SubscriptionAction::Update => "update",
            SubscriptionAction::Remove => "remove",
        }
    }
}

impl Keyword for SubscriptionAction {
    const EXPECTED: &'static str = "add, update or remove";
    fn from_keyword(name: &str) -> Option<Self> {
        match name {
            "add" => Some(SubscriptionAction::Add),
            "update" => Some(SubscriptionAction::Update),
            "remove" => Some(SubscriptionAction::Remove),
            _ => None,
        }
    }
}

parse_keyword!(SubscriptionAction);
serialize_as_str!(SubscriptionAction);
