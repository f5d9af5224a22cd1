//! A deterministic stream of mParticle Firehose audience messages, for the tests of the
//! real-time path and for the demo (`examples/demo/stream.ndjson`, `cargo xtask
//! generate-stream`).
//!
//! [`stream`] makes the store's values first ([`Stream::messages`], distinct, in time order:
//! what the reference model [`store_model`](crate::store_model) replays), then renders each as
//! the JSON mParticle sends ([`Stream::lines`]: shuffled, with repeats, as retries and
//! parallel senders deliver them). The members are the messy profiles of
//! [`members`](crate::members): emails with odd case and spaces, phones in every shape,
//! invalid and limited-ad-tracking device IDs, names with accents, unknown countries.
//!
//! The story of a stream: every audience is connected (`add`), the members join the first
//! audience (every third also the second), with their identities and user attributes; some
//! then leave (`delete`), some have their attributes changed (`attribute_update`: an upsert
//! and a delete), some of those who left come back; one in a hundred has no mpid (the store
//! derives its key from its identities); the second audience is renamed (`update`), and a
//! last audience is connected, gets members and is disconnected (`remove`): it must get no
//! files.

use std::collections::BTreeMap;

use liveramp_audience_store::{
    AttributeChange, AttributeValue, AudienceChange, Change, Identity, MemberChange,
    MembershipAction, Message, SubscriptionAction,
};
use serde_json::{Value, json};

use crate::members::member_line;

/// What stream to make.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// The seed: the same options give the same stream, byte for byte.
    pub seed: u64,
    /// Members in all.
    pub members: u64,
    /// The audiences (id, name) members join: the first gets everyone, the second every third
    /// member, and one more (id of the first plus 1000) is connected and then removed.
    pub audiences: Vec<(i64, String)>,
    /// Profiles per membership message (mParticle batches them).
    pub profiles_per_message: usize,
    /// The time of the first message (milliseconds since the epoch).
    pub start_ms: i64,
    /// Repeated messages, in percent of the distinct ones.
    pub repeats_percent: u64,
    /// The `apiKey` every message carries in `account.account_settings`.
    pub api_key: String,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            seed: 2026,
            members: 1_200,
            audiences: vec![
                (30001, "Live high-value customers".to_owned()),
                (30002, "Newsletter".to_owned()),
            ],
            profiles_per_message: 25,
            // 2026-11-27T12:00:00Z.
            start_ms: 1_795_780_800_000,
            repeats_percent: 5,
            api_key: "demo-api-key-not-secret".to_owned(),
        }
    }
}

/// A stream: the store's values and the JSON lines mParticle would send.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Every distinct message, in time order.
    pub messages: Vec<Message>,
    /// The messages as Firehose JSON, one per line, shuffled, with repeats.
    pub lines: Vec<String>,
}

/// xorshift64*: deterministic and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// A value of the generated profile JSON as text (`None` for null and containers).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn identities(profile: &Value, field: &str) -> Vec<Identity> {
    profile[field]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| {
                    let kind = id["type"].as_str()?;
                    let value = text(&id["value"])?;
                    let encoding = id["encoding"].as_str().unwrap_or("raw");
                    Some(Identity::new(kind, encoding, value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Member `i` as a profile with `change`, its identities and (for an add) its attributes.
fn member(options: &StreamOptions, i: u64, change: AudienceChange) -> MemberChange {
    let profile: Value = serde_json::from_str(&member_line(options.seed, i)).unwrap_or_default();
    let mut m = MemberChange::new();
    if i % 100 != 42 {
        m.mpid = profile["mpid"].as_str().map(str::to_owned);
    }
    m.user_identities = identities(&profile, "user_identities");
    m.device_identities = identities(&profile, "device_identities");
    if m.mpid.is_none() && m.user_identities.is_empty() && m.device_identities.is_empty() {
        m.user_identities
            .push(Identity::new("customer_id", "raw", format!("C{i}")));
    }
    m.audiences.push(change);
    m
}

fn add(options: &StreamOptions, i: u64, audience: &(i64, String)) -> AudienceChange {
    let profile: Value = serde_json::from_str(&member_line(options.seed, i)).unwrap_or_default();
    let mut change = AudienceChange::add(audience.0).named(audience.1.clone());
    if let Some(attributes) = profile["user_attributes"].as_object() {
        for (key, value) in attributes {
            if let Some(value) = text(value) {
                change = change.upsert(key.clone(), value);
            }
        }
    }
    if i.is_multiple_of(11) {
        change = change.upsert_list("interests", ["running", "jazz"]);
    }
    change
}

/// Makes the stream of `options`.
pub fn stream(options: &StreamOptions) -> Stream {
    let mut rng = Rng(options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut messages: Vec<Message> = Vec::new();
    let mut t = options.start_ms;
    let mut tick = |step: i64| {
        t += step;
        t
    };
    let audiences = &options.audiences;
    let gone = (
        audiences.first().map_or(1, |a| a.0) + 1000,
        "Retired".to_owned(),
    );
    for audience in audiences.iter().chain(std::iter::once(&gone)) {
        messages.push(Message::subscription(
            rng.uuid(),
            tick(1_000),
            audience.0,
            audience.1.clone(),
            SubscriptionAction::Connect,
        ));
    }
    let per_message = options.profiles_per_message.max(1);
    let per = per_message as u64;
    let batch = |rng: &mut Rng, at: i64, profiles: Vec<MemberChange>| {
        Message::membership(rng.uuid(), at, profiles)
    };
    // Everyone joins the first audience (every third also the second); some the retired one.
    for start in (0..options.members).step_by(per_message) {
        let at = tick(500);
        let mut profiles = Vec::new();
        for i in start..(start + per).min(options.members) {
            for (n, audience) in audiences.iter().enumerate() {
                if n == 0 || (n == 1 && i % 3 == 0) {
                    profiles.push(member(options, i, add(options, i, audience)));
                }
            }
            if i % 50 == 7 {
                profiles.push(member(options, i, add(options, i, &gone)));
            }
        }
        messages.push(batch(&mut rng, at, profiles));
    }
    // Changes: every tenth leaves the first audience, every seventh has attributes changed;
    // two messages share a timestamp (the greater id wins).
    let first = audiences
        .first()
        .cloned()
        .unwrap_or((1, "Audience".to_owned()));
    let mut profiles = Vec::new();
    for i in 0..options.members {
        if i % 10 == 3 {
            profiles.push(member(options, i, AudienceChange::delete(first.0)));
        } else if i % 7 == 2 {
            let change = AudienceChange::attribute_update(first.0)
                .upsert("$City", "Boston")
                .delete_attribute("$Zip");
            profiles.push(member(options, i, change));
        }
        if profiles.len() as u64 >= per {
            let at = tick(if i % 2 == 0 { 0 } else { 700 });
            messages.push(batch(&mut rng, at, std::mem::take(&mut profiles)));
        }
    }
    if !profiles.is_empty() {
        let at = tick(700);
        messages.push(batch(&mut rng, at, profiles));
    }
    // Every sixtieth of those who left comes back.
    let back: Vec<MemberChange> = (0..options.members)
        .filter(|i| i % 60 == 3)
        .map(|i| member(options, i, add(options, i, &first)))
        .collect();
    if !back.is_empty() {
        let at = tick(900);
        messages.push(batch(&mut rng, at, back));
    }
    // The second audience is renamed; the retired one is disconnected.
    if let Some(second) = audiences.get(1) {
        messages.push(Message::subscription(
            rng.uuid(),
            tick(1_000),
            second.0,
            format!("{} (weekly)", second.1),
            SubscriptionAction::Connect,
        ));
    }
    messages.push(Message::subscription(
        rng.uuid(),
        tick(1_000),
        gone.0,
        gone.1.clone(),
        SubscriptionAction::Disconnect,
    ));

    let lines = shuffled_lines(options, &messages, &mut rng);
    Stream { messages, lines }
}

/// The messages as JSON, shuffled, with repeats.
fn shuffled_lines(options: &StreamOptions, messages: &[Message], rng: &mut Rng) -> Vec<String> {
    let mut connected: BTreeMap<i64, bool> = BTreeMap::new();
    let mut lines: Vec<String> = messages
        .iter()
        .map(|m| firehose_json(m, &options.api_key, &mut connected))
        .collect();
    for i in (1..lines.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        lines.swap(i, j);
    }
    let repeats = (lines.len() as u64 * options.repeats_percent).div_ceil(100);
    for _ in 0..repeats {
        let from = usize::try_from(rng.below(lines.len() as u64)).unwrap_or(0);
        let to = usize::try_from(rng.below(lines.len() as u64 + 1)).unwrap_or(0);
        let line = lines[from].clone();
        lines.insert(to, line);
    }
    lines
}

/// One message as mParticle's JSON. `connected` remembers which audiences were connected
/// before (in time order), so a later connect is an `update`.
pub fn firehose_json(m: &Message, api_key: &str, connected: &mut BTreeMap<i64, bool>) -> String {
    let account = json!({"account_id": 123_456, "account_settings": {"apiKey": api_key}});
    let value = match &m.change {
        Change::Subscription(s) => {
            let action = match s.action {
                SubscriptionAction::Disconnect => "remove",
                SubscriptionAction::Connect if connected.insert(s.audience_id, true).is_some() => {
                    "update"
                }
                SubscriptionAction::Connect => "add",
            };
            json!({
                "type": "audience_subscription_request",
                "id": m.id,
                "timestamp_ms": m.timestamp_ms,
                "firehose_version": "3.2.0",
                "account": account,
                "audience_id": s.audience_id,
                "audience_name": s.audience_name,
                "audience_subscription_settings": {},
                "action": action,
            })
        }
        Change::Membership(profiles) => json!({
            "type": "audience_membership_change_request",
            "id": m.id,
            "timestamp_ms": m.timestamp_ms,
            "firehose_version": "3.2.0",
            "account": account,
            "user_profiles": profiles.iter().map(profile_json).collect::<Vec<_>>(),
        }),
        _ => json!({}),
    };
    value.to_string()
}

fn identity_json(id: &Identity) -> Value {
    json!({"type": id.kind, "encoding": id.encoding, "value": id.value})
}

fn profile_json(p: &MemberChange) -> Value {
    let mut out = json!({
        "user_identities": p.user_identities.iter().map(identity_json).collect::<Vec<_>>(),
        "device_identities": p.device_identities.iter().map(identity_json).collect::<Vec<_>>(),
        "audiences": p.audiences.iter().map(audience_json).collect::<Vec<_>>(),
    });
    if let Some(mpid) = &p.mpid {
        out["mpid"] = Value::from(mpid.as_str());
    }
    out
}

fn audience_json(a: &AudienceChange) -> Value {
    let action = match a.action {
        MembershipAction::Add => "add",
        MembershipAction::Delete => "delete",
        MembershipAction::AttributeUpdate => "attribute_update",
    };
    let attributes: Vec<Value> = a
        .attributes
        .iter()
        .map(|attr| match attr {
            AttributeChange::Upsert {
                key,
                value: AttributeValue::List(list),
            } => json!({"key": key, "list_value": list, "action": "upsert"}),
            AttributeChange::Upsert { key, value } => match value {
                AttributeValue::Text(t) => json!({"key": key, "value": t, "action": "upsert"}),
                AttributeValue::List(_) => json!({"key": key, "action": "upsert"}),
            },
            AttributeChange::Delete { key } => json!({"key": key, "action": "delete"}),
        })
        .collect();
    let mut out =
        json!({"audience_id": a.audience_id, "action": action, "user_attributes": attributes});
    if let Some(name) = &a.audience_name {
        out["audience_name"] = Value::from(name.as_str());
    }
    out
}

/// Writes a bench stream without holding it: one `audience_subscription_request` connecting
/// `audience` (id, name), then `members` of [`members`](crate::members)' profiles (`seed`), in
/// order, `per_message` to an `audience_membership_change_request`, each an `add` to that
/// audience with the member's identities and user attributes (upserts). One message per line,
/// timestamps one millisecond apart from `start_ms`. Returns the lines written.
///
/// This is the load of `cargo xtask bench`'s ingest scenarios: every profile is one change.
pub fn write_membership_stream(
    out: &mut dyn std::io::Write,
    members: u64,
    seed: u64,
    per_message: usize,
    audience: (i64, &str),
    api_key: &str,
    start_ms: i64,
) -> std::io::Result<u64> {
    let account = json!({"account_id": 123_456, "account_settings": {"apiKey": api_key}});
    let (audience_id, audience_name) = audience;
    let mut rng = Rng(seed ^ 0x5eed_57ea);
    let connect = json!({
        "type": "audience_subscription_request",
        "id": rng.uuid(),
        "timestamp_ms": start_ms,
        "firehose_version": "3.2.0",
        "account": account,
        "audience_id": audience_id,
        "audience_name": audience_name,
        "audience_subscription_settings": {},
        "action": "add",
    });
    writeln!(out, "{connect}")?;
    let mut lines = 1;
    let mut profiles = Vec::with_capacity(per_message);
    let mut index = 0;
    while index < members {
        profiles.clear();
        while profiles.len() < per_message.max(1) && index < members {
            profiles.push(bench_profile(&member_line(seed, index), audience));
            index += 1;
        }
        let message = json!({
            "type": "audience_membership_change_request",
            "id": rng.uuid(),
            "timestamp_ms": start_ms + i64::try_from(lines).unwrap_or(i64::MAX),
            "firehose_version": "3.2.0",
            "account": account,
            "user_profiles": profiles,
        });
        writeln!(out, "{message}")?;
        lines += 1;
    }
    Ok(lines)
}

/// A member profile line (mParticle's profile JSON) as a Firehose user profile joining
/// `audience`.
fn bench_profile(line: &str, (audience_id, audience_name): (i64, &str)) -> Value {
    let member: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let identities = |key: &str| -> Vec<Value> {
        member[key]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|id| {
                        json!({
                            "type": id["type"],
                            "encoding": id.get("encoding").cloned().unwrap_or(Value::from("raw")),
                            "value": id["value"],
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let attributes: Vec<Value> = member["user_attributes"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| match value {
                    Value::Array(list) => {
                        json!({"action": "upsert", "key": key, "list_value": list})
                    }
                    Value::String(text) => json!({"action": "upsert", "key": key, "value": text}),
                    other => json!({"action": "upsert", "key": key, "value": other.to_string()}),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut profile = json!({
        "user_identities": identities("user_identities"),
        "device_identities": identities("device_identities"),
        "audiences": [{
            "audience_id": audience_id,
            "audience_name": audience_name,
            "action": "add",
            "user_attributes": attributes,
        }],
    });
    if let Some(mpid) = member.get("mpid").filter(|m| !m.is_null()) {
        profile["mpid"] = Value::from(
            mpid.as_str()
                .map_or_else(|| mpid.to_string(), str::to_owned),
        );
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_model::Model;

    #[test]
    fn the_bench_stream_connects_then_adds_every_member_in_batches() {
        let mut out = Vec::new();
        let lines =
            write_membership_stream(&mut out, 250, 7, 100, (40001, "Bench"), "k", 1_000).unwrap();
        assert_eq!(lines, 4);
        let text = String::from_utf8(out).unwrap();
        let values: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(values.len(), 4);
        assert_eq!(values[0]["type"], "audience_subscription_request");
        assert_eq!(values[0]["audience_id"], 40001);
        let counts: Vec<usize> = values[1..]
            .iter()
            .map(|v| v["user_profiles"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [100, 100, 50]);
        assert_eq!(values[3]["timestamp_ms"], 1_003);
        let first = &values[1]["user_profiles"][0];
        let member: Value = serde_json::from_str(&member_line(7, 0)).unwrap();
        assert_eq!(first["mpid"], member["mpid"]);
        assert_eq!(first["audiences"][0]["action"], "add");
        assert_eq!(
            first["user_identities"].as_array().unwrap().len(),
            member["user_identities"].as_array().unwrap().len()
        );
    }

    #[test]
    fn the_stream_is_deterministic_and_tells_its_story() {
        let options = StreamOptions {
            members: 300,
            ..StreamOptions::default()
        };
        let a = stream(&options);
        let b = stream(&options);
        assert_eq!(a.lines, b.lines);
        assert!(a.lines.len() > a.messages.len(), "repeats");
        let model = Model::replay(&a.messages);
        let audiences = model.audiences();
        assert_eq!(audiences.len(), 3);
        // 300 joined the first, 30 left, 5 of them came back.
        assert_eq!(audiences[0].members, 300 - 30 + 5);
        assert_eq!(audiences[1].members, 100);
        assert_eq!(audiences[1].name.as_deref(), Some("Newsletter (weekly)"));
        assert!(
            !audiences[2].connected,
            "the retired audience is disconnected"
        );
    }
}
