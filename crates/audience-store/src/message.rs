//! The plain input types: one Firehose message as the store sees it.
//!
//! They hold owned strings and numbers only; the connector converts parsed Firehose messages
//! into them. Nothing is normalised: identities and attribute values are kept exactly as given.

/// One Firehose message: its unique `id`, its `timestamp_ms` and what it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The message's unique id (a UUID in Firehose). A message id is applied once.
    pub id: String,
    /// The message's time, milliseconds since the epoch: the only time it carries.
    pub timestamp_ms: i64,
    /// What the message changes.
    pub change: Change,
}

impl Message {
    /// A message from its parts.
    pub fn new(id: impl Into<String>, timestamp_ms: i64, change: Change) -> Message {
        Message {
            id: id.into(),
            timestamp_ms,
            change,
        }
    }

    /// An `audience_subscription_request`: `action` connects (add, update) or disconnects
    /// (remove) the audience.
    pub fn subscription(
        id: impl Into<String>,
        timestamp_ms: i64,
        audience_id: i64,
        audience_name: impl Into<String>,
        action: SubscriptionAction,
    ) -> Message {
        Message::new(
            id,
            timestamp_ms,
            Change::Subscription(SubscriptionChange::new(audience_id, audience_name, action)),
        )
    }

    /// An `audience_membership_change_request` carrying `profiles` (an empty list is a
    /// verification ping: it changes nothing, but its id is recorded).
    pub fn membership(
        id: impl Into<String>,
        timestamp_ms: i64,
        profiles: Vec<MemberChange>,
    ) -> Message {
        Message::new(id, timestamp_ms, Change::Membership(profiles))
    }
}

/// What a message changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// An audience was connected to, updated in, or disconnected from the integration.
    Subscription(SubscriptionChange),
    /// A batch of user profiles whose audience membership or attributes changed.
    Membership(Vec<MemberChange>),
}

/// An audience subscription change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionChange {
    /// The mParticle audience id.
    pub audience_id: i64,
    /// The audience's name as mParticle sent it.
    pub audience_name: String,
    /// Connect (Firehose `add` or `update`) or disconnect (`remove`).
    pub action: SubscriptionAction,
}

impl SubscriptionChange {
    /// A subscription change from its parts.
    pub fn new(
        audience_id: i64,
        audience_name: impl Into<String>,
        action: SubscriptionAction,
    ) -> SubscriptionChange {
        SubscriptionChange {
            audience_id,
            audience_name: audience_name.into(),
            action,
        }
    }
}

/// What a subscription change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionAction {
    /// Firehose `add` or `update`: the audience is connected (and named).
    Connect,
    /// Firehose `remove`: the audience is disconnected; it is no longer delivered and its data
    /// is purged after the retention period.
    Disconnect,
}

/// One user profile of a membership message: who the member is and which audiences changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberChange {
    /// The mParticle ID, when the registration asks for it. An empty string counts as absent.
    pub mpid: Option<String>,
    /// User identities (`email`, `customer_id`, `mobile_number`, ...), in the order given.
    pub user_identities: Vec<Identity>,
    /// Device identities (`ios_advertising_id`, `google_advertising_id`, ...), in the order
    /// given.
    pub device_identities: Vec<Identity>,
    /// The audiences this profile entered, left, or whose attributes changed, in order.
    pub audiences: Vec<AudienceChange>,
}

impl MemberChange {
    /// A profile without mpid, identities or audiences (add them with the builder methods).
    pub fn new() -> MemberChange {
        MemberChange::default()
    }

    /// A profile with this mParticle ID.
    pub fn with_mpid(mpid: impl Into<String>) -> MemberChange {
        MemberChange {
            mpid: Some(mpid.into()),
            ..MemberChange::default()
        }
    }

    /// Adds a user identity.
    #[must_use]
    pub fn user_identity(
        mut self,
        kind: impl Into<String>,
        encoding: impl Into<String>,
        value: impl Into<String>,
    ) -> MemberChange {
        self.user_identities
            .push(Identity::new(kind, encoding, value));
        self
    }

    /// Adds a device identity.
    #[must_use]
    pub fn device_identity(
        mut self,
        kind: impl Into<String>,
        encoding: impl Into<String>,
        value: impl Into<String>,
    ) -> MemberChange {
        self.device_identities
            .push(Identity::new(kind, encoding, value));
        self
    }

    /// Adds an audience change.
    #[must_use]
    pub fn audience(mut self, change: AudienceChange) -> MemberChange {
        self.audiences.push(change);
        self
    }

    /// The member key this profile is stored under, or `None` when none can be derived (the
    /// profile is then rejected): see [`member_key`](crate::member_key).
    pub fn key(&self) -> Option<String> {
        crate::key::member_key(self)
    }
}

/// One identity of a member, kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Identity {
    /// The identity type as mParticle names it: `email`, `customer_id`, `ios_advertising_id`...
    pub kind: String,
    /// `raw`, `md5`, `sha1` or `sha256` (or whatever was sent).
    pub encoding: String,
    /// The value.
    pub value: String,
}

impl Identity {
    /// An identity from its parts, e.g. `Identity::new("email", "raw", "Jane@x.com")`.
    pub fn new(
        kind: impl Into<String>,
        encoding: impl Into<String>,
        value: impl Into<String>,
    ) -> Identity {
        Identity {
            kind: kind.into(),
            encoding: encoding.into(),
            value: value.into(),
        }
    }
}

/// A change of one member in one audience.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudienceChange {
    /// The mParticle audience id.
    pub audience_id: i64,
    /// The audience's name, when the message carries it.
    pub audience_name: Option<String>,
    /// Entered (`add`), left (`delete`), or only attributes changed (`attribute_update`).
    pub action: MembershipAction,
    /// Attribute changes, in order. Those carried by a `delete` are ignored.
    pub attributes: Vec<AttributeChange>,
}

impl AudienceChange {
    /// An audience change without name or attributes.
    pub fn new(audience_id: i64, action: MembershipAction) -> AudienceChange {
        AudienceChange {
            audience_id,
            audience_name: None,
            action,
            attributes: Vec::new(),
        }
    }

    /// The member entered the audience.
    pub fn add(audience_id: i64) -> AudienceChange {
        AudienceChange::new(audience_id, MembershipAction::Add)
    }

    /// The member left the audience.
    pub fn delete(audience_id: i64) -> AudienceChange {
        AudienceChange::new(audience_id, MembershipAction::Delete)
    }

    /// Only the member's attributes in the audience changed.
    pub fn attribute_update(audience_id: i64) -> AudienceChange {
        AudienceChange::new(audience_id, MembershipAction::AttributeUpdate)
    }

    /// Sets the audience name the message carries.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> AudienceChange {
        self.audience_name = Some(name.into());
        self
    }

    /// Adds an attribute upsert with a text value.
    #[must_use]
    pub fn upsert(mut self, key: impl Into<String>, value: impl Into<String>) -> AudienceChange {
        self.attributes.push(AttributeChange::Upsert {
            key: key.into(),
            value: AttributeValue::Text(value.into()),
        });
        self
    }

    /// Adds an attribute upsert with a list value (Firehose `list_value`).
    #[must_use]
    pub fn upsert_list<I, S>(mut self, key: impl Into<String>, values: I) -> AudienceChange
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.attributes.push(AttributeChange::Upsert {
            key: key.into(),
            value: AttributeValue::List(values.into_iter().map(Into::into).collect()),
        });
        self
    }

    /// Adds an attribute deletion.
    #[must_use]
    pub fn delete_attribute(mut self, key: impl Into<String>) -> AudienceChange {
        self.attributes
            .push(AttributeChange::Delete { key: key.into() });
        self
    }

    /// Adds an attribute change.
    #[must_use]
    pub fn attribute(mut self, change: AttributeChange) -> AudienceChange {
        self.attributes.push(change);
        self
    }
}

/// What a membership entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MembershipAction {
    /// The member entered the audience (and its attributes are upserted).
    Add,
    /// The member left the audience (its attributes there are removed).
    Delete,
    /// Only attributes changed; membership does not.
    AttributeUpdate,
}

/// A change of one user attribute of a member in one audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeChange {
    /// Set the attribute.
    Upsert {
        /// The attribute key, e.g. `$FirstName`.
        key: String,
        /// The new value.
        value: AttributeValue,
    },
    /// Remove the attribute.
    Delete {
        /// The attribute key.
        key: String,
    },
}

impl AttributeChange {
    /// The attribute key.
    pub fn key(&self) -> &str {
        match self {
            AttributeChange::Upsert { key, .. } | AttributeChange::Delete { key } => key,
        }
    }
}

/// An attribute value: Firehose `value` (a string) or `list_value` (strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// A string value; delivered as a JSON string.
    Text(String),
    /// A list value; delivered as a JSON array of strings.
    List(Vec<String>),
}
