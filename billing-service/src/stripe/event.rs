//! Stripe's events as billing reads them: the one list of the kinds billing acts on, each
//! with the object it refetches, and the event envelope parsed once from its JSON.
//!
//! Adding a kind is one line in [`EventKind::ALL`] plus one arm in
//! [`EventKind::name`] and [`StripeEvent::target`]; the webhook registration and the
//! apply path follow from there.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    keys::UserKeys,
    objects::{CheckoutSession, Customer, Price, Product, StripeObject, Subscription, id_of},
};

/// An event kind billing acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `checkout.session.completed`
    CheckoutSessionCompleted,
    /// `checkout.session.expired`
    CheckoutSessionExpired,
    /// `customer.created`
    CustomerCreated,
    /// `customer.updated`
    CustomerUpdated,
    /// `customer.deleted`
    CustomerDeleted,
    /// `customer.subscription.created`
    SubscriptionCreated,
    /// `customer.subscription.updated`
    SubscriptionUpdated,
    /// `customer.subscription.deleted`
    SubscriptionDeleted,
    /// `customer.subscription.trial_will_end`
    SubscriptionTrialWillEnd,
    /// `customer.subscription.paused`
    SubscriptionPaused,
    /// `customer.subscription.resumed`
    SubscriptionResumed,
    /// `customer.subscription.pending_update_applied`
    SubscriptionPendingUpdateApplied,
    /// `customer.subscription.pending_update_expired`
    SubscriptionPendingUpdateExpired,
    /// `invoice.paid`
    InvoicePaid,
    /// `invoice.payment_succeeded`
    InvoicePaymentSucceeded,
    /// `invoice.payment_failed`
    InvoicePaymentFailed,
    /// `product.created`
    ProductCreated,
    /// `product.updated`
    ProductUpdated,
    /// `price.created`
    PriceCreated,
    /// `price.updated`
    PriceUpdated,
    /// `entitlements.active_entitlement_summary.updated`
    EntitlementSummaryUpdated,
}

impl EventKind {
    /// Every kind billing acts on; a registered webhook endpoint asks Stripe for these.
    pub const ALL: &'static [EventKind] = &[
        Self::CheckoutSessionCompleted,
        Self::CheckoutSessionExpired,
        Self::CustomerCreated,
        Self::CustomerUpdated,
        Self::CustomerDeleted,
        Self::SubscriptionCreated,
        Self::SubscriptionUpdated,
        Self::SubscriptionDeleted,
        Self::SubscriptionTrialWillEnd,
        Self::SubscriptionPaused,
        Self::SubscriptionResumed,
        Self::SubscriptionPendingUpdateApplied,
        Self::SubscriptionPendingUpdateExpired,
        Self::InvoicePaid,
        Self::InvoicePaymentSucceeded,
        Self::InvoicePaymentFailed,
        Self::ProductCreated,
        Self::ProductUpdated,
        Self::PriceCreated,
        Self::PriceUpdated,
        Self::EntitlementSummaryUpdated,
    ];

    /// Stripe's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::CheckoutSessionCompleted => "checkout.session.completed",
            Self::CheckoutSessionExpired => "checkout.session.expired",
            Self::CustomerCreated => "customer.created",
            Self::CustomerUpdated => "customer.updated",
            Self::CustomerDeleted => "customer.deleted",
            Self::SubscriptionCreated => "customer.subscription.created",
            Self::SubscriptionUpdated => "customer.subscription.updated",
            Self::SubscriptionDeleted => "customer.subscription.deleted",
            Self::SubscriptionTrialWillEnd => "customer.subscription.trial_will_end",
            Self::SubscriptionPaused => "customer.subscription.paused",
            Self::SubscriptionResumed => "customer.subscription.resumed",
            Self::SubscriptionPendingUpdateApplied => "customer.subscription.pending_update_applied",
            Self::SubscriptionPendingUpdateExpired => "customer.subscription.pending_update_expired",
            Self::InvoicePaid => "invoice.paid",
            Self::InvoicePaymentSucceeded => "invoice.payment_succeeded",
            Self::InvoicePaymentFailed => "invoice.payment_failed",
            Self::ProductCreated => "product.created",
            Self::ProductUpdated => "product.updated",
            Self::PriceCreated => "price.created",
            Self::PriceUpdated => "price.updated",
            Self::EntitlementSummaryUpdated => "entitlements.active_entitlement_summary.updated",
        }
    }

    /// The kind Stripe calls `name`, if billing acts on it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.name() == name)
    }
}

/// What an event makes billing look at, by the Stripe object it refetches.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `GET /customers/{id}`.
    Customer(String),
    /// A deleted customer: nothing to fetch, the payload says all.
    DeletedCustomer(Customer),
    /// `GET /subscriptions/{id}`; `payload_usable` when the event's object is that
    /// subscription (an invoice's is not).
    Subscription {
        /// `sub_...`.
        id: String,
        /// Whether the payload may stand in when Stripe cannot be asked.
        payload_usable: bool,
    },
    /// `GET /checkout/sessions/{id}` with its subscription expanded.
    CheckoutSession(String),
    /// `GET /products/{id}` and its features.
    Product(String),
    /// `GET /prices/{id}`.
    Price(String),
    /// Nothing to fetch: the customer's subscribers are recomputed (their product's
    /// features may have changed).
    Subscribers(String),
}

impl Target {
    /// The Stripe object this target refetches, as (kind, id): events with the same key
    /// are settled by one fetch. `None` for targets applied from their own payload, each
    /// of which counts.
    pub fn key(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::Customer(id) => Some(("customer", id)),
            Self::Subscription { id, .. } => Some(("subscription", id)),
            Self::CheckoutSession(id) => Some(("checkout_session", id)),
            Self::Product(id) => Some(("product", id)),
            Self::Price(id) => Some(("price", id)),
            Self::DeletedCustomer(_) | Self::Subscribers(_) => None,
        }
    }

    /// Whether the event's own payload may stand in for the object when Stripe cannot
    /// be asked (all but an invoice's subscription).
    fn payload_usable(&self) -> bool {
        !matches!(self, Self::Subscription { payload_usable: false, .. })
    }

    /// Whether `later`, naming the same object, should stand for it instead: the newer
    /// event, unless only this one's payload could stand in for the object.
    pub fn yields_to(&self, later: &Target) -> bool {
        later.payload_usable() || !self.payload_usable()
    }
}

/// Why a payload is not a Stripe event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// JSON without the envelope's fields.
    #[error("event has no {0}")]
    Missing(&'static str),
}

/// A Stripe event's envelope and object.
#[derive(Clone, Debug)]
pub struct StripeEvent {
    /// `evt_...`.
    pub id: String,
    /// Stripe's name for its kind.
    pub type_name: String,
    /// The kind, when billing acts on it.
    pub kind: Option<EventKind>,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// API version it was rendered in.
    pub api_version: Option<String>,
    /// Stripe `created`; `None` when absent.
    pub created: Option<DateTime<Utc>>,
    /// `data.object`, as of `created`.
    pub object: Value,
}

impl StripeEvent {
    /// Parses a webhook body or a stored inbox payload.
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        let mut event: Value =
            serde_json::from_slice(payload).map_err(|e| EventError::NotJson(e.to_string()))?;
        let id = event["id"].as_str().ok_or(EventError::Missing("id"))?.to_owned();
        let type_name = event["type"].as_str().ok_or(EventError::Missing("type"))?.to_owned();
        Ok(Self {
            kind: EventKind::parse(&type_name),
            livemode: event["livemode"] == true,
            api_version: event["api_version"].as_str().map(str::to_owned),
            created: super::objects::timestamp(&event["created"]),
            // Not `event["data"]["object"]`: indexing a string or an array to write would
            // panic, and a payload is anyone's JSON until proven Stripe's.
            object: event
                .get_mut("data")
                .and_then(|d| d.get_mut("object"))
                .map(Value::take)
                .unwrap_or_default(),
            id,
            type_name,
        })
    }

    /// The id of `data.object`.
    pub fn object_id(&self) -> Option<String> {
        id_of(&self.object["id"])
    }

    /// The customer the event concerns: its ordering key in the inbox.
    pub fn customer(&self) -> Option<String> {
        match self.object["object"].as_str() {
            Some("customer") => id_of(&self.object["id"]),
            _ => id_of(&self.object["customer"]),
        }
    }

    /// What billing must look at; `None` for kinds it does not act on, and for an invoice
    /// that belongs to no subscription. `keys` name a deleted customer's user.
    pub fn target(&self, keys: &UserKeys) -> Option<Target> {
        use EventKind as K;
        let own_id = || self.object_id().unwrap_or_default();
        Some(match self.kind? {
            K::CheckoutSessionCompleted | K::CheckoutSessionExpired => Target::CheckoutSession(own_id()),
            K::CustomerCreated | K::CustomerUpdated => Target::Customer(own_id()),
            K::CustomerDeleted => {
                let mut customer = Customer::from_json(&self.object, keys);
                customer.deleted = true;
                Target::DeletedCustomer(customer)
            }
            K::SubscriptionCreated
            | K::SubscriptionUpdated
            | K::SubscriptionDeleted
            | K::SubscriptionTrialWillEnd
            | K::SubscriptionPaused
            | K::SubscriptionResumed
            | K::SubscriptionPendingUpdateApplied
            | K::SubscriptionPendingUpdateExpired => {
                Target::Subscription { id: own_id(), payload_usable: true }
            }
            K::InvoicePaid | K::InvoicePaymentSucceeded | K::InvoicePaymentFailed => {
                Target::Subscription { id: invoice_subscription(&self.object)?, payload_usable: false }
            }
            K::ProductCreated | K::ProductUpdated => Target::Product(own_id()),
            K::PriceCreated | K::PriceUpdated => Target::Price(own_id()),
            K::EntitlementSummaryUpdated => {
                Target::Subscribers(id_of(&self.object["customer"]).unwrap_or_default())
            }
        })
    }
}

impl StripeEvent {
    /// The event's own object standing in for `target` (as of the event), for when
    /// Stripe cannot be asked; `None` when it cannot stand in (an invoice is not its
    /// subscription). `keys` name a customer's user.
    pub fn payload_object(&self, target: &Target, keys: &UserKeys) -> Option<StripeObject> {
        let payload = &self.object;
        Some(match target {
            Target::Customer(_) => StripeObject::Customer(Customer::from_json(payload, keys)),
            Target::DeletedCustomer(customer) => StripeObject::Customer(customer.clone()),
            Target::Subscription { payload_usable: true, .. } => {
                StripeObject::Subscription(Subscription::from_json(payload))
            }
            Target::Subscription { payload_usable: false, .. } => return None,
            Target::CheckoutSession(_) => StripeObject::CheckoutSession(CheckoutSession::from_json(payload)),
            Target::Product(_) => StripeObject::Product(Product::from_json(payload)),
            Target::Price(_) => StripeObject::Price(Price::from_json(payload)),
            Target::Subscribers(customer) => StripeObject::Subscribers(customer.clone()),
        })
    }
}

/// The subscription an invoice belongs to (current and older API versions).
fn invoice_subscription(invoice: &Value) -> Option<String> {
    id_of(&invoice["parent"]["subscription_details"]["subscription"])
        .or_else(|| id_of(&invoice["subscription"]))
}

#[cfg(test)]
mod tests;
