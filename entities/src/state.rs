//! The JSON kept in `entitlements.state` and `entitlement_changes.state`: a user's full
//! access-relevant state. Billing writes it; the entitlement service reads it; both turn
//! it into the proto `EntitlementState` the same way, here.

use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
use std::collections::BTreeMap;

use caixa_types::Limit;
use serde::{Deserialize, Serialize};

/// Every subscription of one user in one mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserState {
    /// Sorted by subscription id, so equal states serialise equally.
    pub subscriptions: Vec<SubscriptionState>,
}

/// One subscription, with times as Unix seconds. Absent values are left out of the JSON
/// rather than written as `null`: a million stored states stay smaller to store and load.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    /// `sub_...`.
    pub id: String,
    /// `cus_...`.
    pub customer_id: String,
    /// Stripe's status, stored by Stripe's name for it (a name this version does not
    /// know reads as `Unspecified`).
    #[serde(with = "stripe_name")]
    pub status: SubscriptionStatus,
    /// Price of the first item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    /// Product of that price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Trial start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_start: Option<i64>,
    /// Trial end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<i64>,
    /// Current period start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_start: Option<i64>,
    /// Current period end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<i64>,
    /// Cancels at period end.
    pub cancel_at_period_end: bool,
    /// Scheduled cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_at: Option<i64>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Start of the grace period of a past_due episode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_due_since: Option<i64>,
    /// Feature lookup keys its product grants.
    pub features: Vec<String>,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Seats: its item's quantity. States stored before seats were kept read as 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub quantity: u32,
    /// The numbers its product sets on features it grants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Limit>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// The status as Stripe names it, in the stored JSON.
mod stripe_name {
    use std::borrow::Cow;

    use caixa_proto::billing::v1::SubscriptionStatus;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(status: &SubscriptionStatus, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(caixa_types::stripe_name(*status).unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SubscriptionStatus, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(caixa_types::status_from_stripe(&name))
    }
}

fn timestamp(seconds: Option<i64>) -> Option<prost_types::Timestamp> {
    seconds.map(caixa_proto::timestamp)
}

impl SubscriptionState {
    /// From the proto snapshot (the inverse of [`SubscriptionState::to_proto`]).
    pub fn from_proto(s: &SubscriptionSnapshot) -> Self {
        let seconds = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| t.seconds);
        Self {
            id: s.subscription_id.clone(),
            customer_id: s.customer_id.clone(),
            status: s.status(),
            price_id: Some(s.price_id.clone()).filter(|p| !p.is_empty()),
            product_id: Some(s.product_id.clone()).filter(|p| !p.is_empty()),
            trial_start: seconds(&s.trial_start),
            trial_end: seconds(&s.trial_end),
            current_period_start: seconds(&s.current_period_start),
            current_period_end: seconds(&s.current_period_end),
            cancel_at_period_end: s.cancel_at_period_end,
            cancel_at: seconds(&s.cancel_at),
            ended_at: seconds(&s.ended_at),
            past_due_since: seconds(&s.past_due_since),
            features: s.features.clone(),
            livemode: s.livemode,
            quantity: s.quantity,
            limits: Limit::of_features(&s.limits).map(|(f, l)| (f.to_owned(), l)).collect(),
        }
    }

    /// The proto snapshot.
    pub fn to_proto(&self) -> SubscriptionSnapshot {
        SubscriptionSnapshot {
            subscription_id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            status: self.status.into(),
            price_id: self.price_id.clone().unwrap_or_default(),
            product_id: self.product_id.clone().unwrap_or_default(),
            trial_start: timestamp(self.trial_start),
            trial_end: timestamp(self.trial_end),
            current_period_start: timestamp(self.current_period_start),
            current_period_end: timestamp(self.current_period_end),
            cancel_at_period_end: self.cancel_at_period_end,
            cancel_at: timestamp(self.cancel_at),
            ended_at: timestamp(self.ended_at),
            past_due_since: timestamp(self.past_due_since),
            features: self.features.clone(),
            livemode: self.livemode,
            quantity: self.quantity,
            limits: self.limits.iter().map(|(f, l)| Limit::feature(f, *l)).collect(),
        }
    }
}

impl UserState {
    /// The proto state of `user_id` at `revision`, committed at `changed_at` (Unix seconds).
    pub fn to_proto(
        &self,
        user_id: &str,
        revision: caixa_types::Revision,
        changed_at: i64,
    ) -> EntitlementState {
        EntitlementState {
            user_id: user_id.to_owned(),
            revision: revision.get(),
            subscriptions: self.subscriptions.iter().map(SubscriptionState::to_proto).collect(),
            changed_at: timestamp(Some(changed_at)),
            traceparent: String::new(),
        }
    }
}

/// The stored form, read by the access policy.
impl caixa_policy::Terms for SubscriptionState {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
    fn dates(&self) -> caixa_policy::Dates {
        caixa_policy::Dates {
            trial_end: self.trial_end,
            current_period_start: self.current_period_start,
            current_period_end: self.current_period_end,
            cancel_at: self.cancel_at,
            ended_at: self.ended_at,
            past_due_since: self.past_due_since,
            cancel_at_period_end: self.cancel_at_period_end,
        }
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
    fn features(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(String::as_str)
    }
    fn limit(&self, feature: &str) -> Option<Limit> {
        self.limits.get(feature).copied()
    }
    fn seats(&self) -> u32 {
        self.quantity
    }
}
