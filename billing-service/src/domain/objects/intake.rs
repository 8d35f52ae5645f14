//! From what Stripe said to what billing writes: an inbox event (or a session to sync)
//! becomes the Stripe objects it concerns, refetched so that what Stripe says now is
//! written, then goes through the one apply path.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use caixa_entities::stripe_events::{self, InboxStatus};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::{
    accounts::sessions::SessionCheckError,
    objects::apply::{ApplyError, Fetched, Settles, Source, apply},
    objects::fetched::RecentProducts,
    objects::lifecycle,
};
use crate::{
    store::{catalogue, customers, inbox::NewEvent, subscriptions},
    stripe::{
        StripeApi, StripeCallError,
        event::{StripeEvent, Target},
        keys::UserKeys,
        objects::{CheckoutSession, StripeObject},
    },
};

/// The inbox row that confirms an early apply: the same event under its own id, which
/// takes the usual path (its object is stored by then).
fn confirmation(row: &stripe_events::Model) -> NewEvent {
    NewEvent {
        id: format!("{}{CONFIRMATION}", row.id),
        event_type: row.event_type.clone(),
        livemode: row.livemode,
        api_version: row.api_version.clone(),
        created: row.stripe_created,
        object_id: row.object_id.clone(),
        customer_id: row.customer_id.clone(),
        endpoint_id: None,
        payload: row.payload.clone(),
        trace_context: row.trace_context.clone(),
    }
}

/// Suffix of the id of a row that confirms an early apply.
pub const CONFIRMATION: &str = ":confirm";

/// What settling an inbox event did.
#[derive(Debug, Default)]
pub struct Settled {
    /// Revisions written (one per user whose state changed).
    pub revisions: Vec<caixa_types::Revision>,
    /// Why nothing was done, for event kinds billing does not act on.
    pub ignored: Option<String>,
}

/// Fetches what events and syncs concern from Stripe, when Stripe is configured.
#[derive(Clone)]
pub struct Intake {
    stripe: Option<StripeApi>,
    /// Name a customer's user in a payload applied without Stripe's answer.
    keys: UserKeys,
    /// Set once an event has shown Stripe's clock ahead of ours by more than the skew
    /// bound; from then on no update to a stored object is applied early.
    clock_ahead: Arc<AtomicBool>,
    /// Products lacked by chains settled side by side, asked of Stripe once.
    products: RecentProducts,
}

impl Intake {
    /// Refetches through `stripe` when configured; `keys` name customers' users.
    pub fn new(stripe: Option<StripeApi>, keys: UserKeys) -> Self {
        Self { stripe, keys, clock_ahead: Arc::default(), products: RecentProducts::default() }
    }

    /// Refetches through `stripe`, with its link keys.
    pub fn with(stripe: &StripeApi) -> Self {
        Self::new(Some(stripe.clone()), stripe.user_keys().clone())
    }

    /// Applies a claimed inbox event and marks it done, in one transaction.
    #[tracing::instrument(name = "settle event", level = "debug", skip_all)]
    pub async fn settle(
        &self,
        db: &DatabaseConnection,
        row: &stripe_events::Model,
        worker: &str,
    ) -> Result<Settled, ApplyError> {
        let event =
            StripeEvent::parse(row.payload.as_bytes()).map_err(|e| ApplyError::BadPayload(e.to_string()))?;
        let (objects, status, ignored) = match event.target(&self.keys) {
            Some(target) => {
                if let Some(settled) = self.settle_early(db, row, &event, &target, worker).await {
                    return Ok(settled);
                }
                let fetched = self.fetch(&event, target, row.stripe_created).await?;
                (self.with_products(db, vec![fetched]).await?, InboxStatus::Processed, None)
            }
            None => (
                Vec::new(),
                InboxStatus::Ignored,
                Some(format!("billing does not act on {}", event.type_name)),
            ),
        };
        let settles = Settles { events: &[(&row.id, status)], worker, then: None };
        let revisions = apply(db, &objects, Some(settles)).await?;
        self.copy_links(&objects).await;
        Ok(Settled { revisions, ignored })
    }

    /// The keys that name a customer's user.
    pub(super) fn keys(&self) -> &UserKeys {
        &self.keys
    }

    /// Copies user links Stripe lacks onto applied `objects`, when Stripe is configured.
    pub(super) async fn copy_links(&self, objects: &[Fetched]) {
        if let Some(stripe) = &self.stripe {
            crate::domain::accounts::links::copy_links(stripe, objects).await;
        }
    }

    /// Settles an event from its own object, without waiting for Stripe: Stripe's API
    /// answers in hundreds of milliseconds, and neither access nor the customer's next
    /// event should wait for it. Only a payload provably not older than what is stored
    /// qualifies: that of a subscription or customer billing has never stored, whatever
    /// the two clocks say, or that of a stored subscription dated after the stored row
    /// by more than the clock-skew bound ([`lifecycle::payload_leads`]). A copy of the
    /// event ([`CONFIRMATION`]) waits in the inbox behind it and takes the usual path, so
    /// a refetch confirms the row in the customer's order. `None` when this event must
    /// take the usual path itself: refetch, then apply.
    async fn settle_early(
        &self,
        db: &DatabaseConnection,
        row: &stripe_events::Model,
        event: &StripeEvent,
        target: &Target,
        worker: &str,
    ) -> Option<Settled> {
        self.stripe.as_ref()?;
        if lifecycle::stripe_clock_ahead(row.stripe_created, row.received_at)
            && !self.clock_ahead.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(event = %event.id, "Stripe's clock runs ahead of ours: updates wait for Stripe from now on");
        }
        let object = match target {
            Target::Subscription { payload_usable: true, .. } | Target::Customer(_) => {
                event.payload_object(target, &self.keys)?
            }
            _ => return None,
        };
        // Stripe's clock may run ahead of ours (test clocks run days ahead): stamped with
        // the event's time, the row would refuse every refetch until our clock caught up.
        let as_of = row.stripe_created.min(Utc::now());
        let stored = match &object {
            StripeObject::Subscription(sub) => subscriptions::find(db, &sub.id).await.ok()?.map(|r| r.as_of),
            // A stored customer's update can move its subscriptions to another user, and
            // waits for Stripe.
            StripeObject::Customer(customer) if customers::find(db, &customer.id).await.ok()?.is_some() => {
                return None;
            }
            StripeObject::Customer(_) => None,
            _ => return None,
        };
        if let Some(stored) = stored
            && !self.leads(row, event, stored, as_of)
        {
            return None;
        }
        let early = Fetched { object, as_of, source: Source::Early };
        let objects = self.with_products(db, vec![early]).await.ok()?;
        // The confirming refetch waits in the inbox behind this event, so that it runs in
        // the customer's order like any event, never beside the customer's next one.
        let confirm = confirmation(row);
        let settles = Settles { events: &[(&row.id, InboxStatus::Processed)], worker, then: Some(&confirm) };
        let revisions = apply(db, &objects, Some(settles)).await.ok()?;
        metrics::counter!("caixa_events_applied_early_total").increment(1);
        tracing::debug!(event = %event.id, ?revisions, "applied from the event; a refetch will confirm it");
        Some(Settled { revisions, ignored: None })
    }

    /// Whether a stored subscription's event, as of `as_of`, provably leads its row as of
    /// `stored`. A test clock's events are dated on that clock, and a confirmation is the
    /// event it confirms: neither qualifies. Nor does any event once one has shown Stripe's
    /// clock ahead of ours, since the skew bound no longer holds.
    fn leads(
        &self,
        row: &stripe_events::Model,
        event: &StripeEvent,
        stored: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> bool {
        !self.clock_ahead.load(Ordering::Relaxed)
            && !row.id.ends_with(CONFIRMATION)
            && event.object["test_clock"].is_null()
            && lifecycle::payload_leads(stored, as_of)
    }

    /// A Checkout Session as Stripe has it now (its subscription expanded), with what it
    /// needs, ready to apply.
    pub async fn session(
        &self,
        db: &impl ConnectionTrait,
        stripe: &StripeApi,
        id: &str,
    ) -> Result<(CheckoutSession, Vec<Fetched>), SessionCheckError> {
        let session = stripe.checkout_session(id).await?;
        let fetched = Fetched::now(StripeObject::CheckoutSession(session.clone()));
        Ok((session, self.with_products(db, vec![fetched]).await?))
    }

    /// The target as Stripe has it now, or the event's payload (as of the event) when
    /// Stripe cannot be asked.
    pub(super) async fn fetch(
        &self,
        event: &StripeEvent,
        target: Target,
        created: DateTime<Utc>,
    ) -> Result<Fetched, ApplyError> {
        let asked = match (&target, &self.stripe) {
            // Nothing to ask Stripe: the event says all there is.
            (Target::DeletedCustomer(_) | Target::Subscribers(_), _) => {
                let object = event
                    .payload_object(&target, &self.keys)
                    .ok_or_else(|| ApplyError::BadPayload(event.id.clone()))?;
                return Ok(Fetched { object, as_of: created, source: Source::Stripe });
            }
            (_, None) => {
                Err(StripeCallError::NotConfigured("STRIPE_TEST_SECRET_KEY or STRIPE_LIVE_SECRET_KEY"))
            }
            (Target::Customer(id), Some(s)) => s.customer(id).await.map(StripeObject::Customer),
            (Target::Subscription { id, .. }, Some(s)) => {
                s.subscription(id).await.map(StripeObject::Subscription)
            }
            (Target::CheckoutSession(id), Some(s)) => {
                s.checkout_session(id).await.map(StripeObject::CheckoutSession)
            }
            (Target::Product(id), Some(s)) => s.product(id).await.map(StripeObject::Product),
            (Target::Price(id), Some(s)) => s.price(id).await.map(StripeObject::Price),
        };
        let reason = match asked {
            Ok(object) => return Ok(Fetched::now(object)),
            Err(err) => err.to_string(),
        };
        tracing::warn!(?target, %reason, "refetch failed; using the event payload if it is newer");
        match event.payload_object(&target, &self.keys) {
            Some(object) => Ok(Fetched { object, as_of: created, source: Source::Fallback(reason) }),
            None => Err(ApplyError::StalePayload(reason)),
        }
    }

    /// `objects`, preceded by the product of any subscription among them that is not
    /// stored yet: a state published without it would lack the product's features (its
    /// own event may still be on the way).
    pub async fn with_products(
        &self,
        db: &impl ConnectionTrait,
        objects: Vec<Fetched>,
    ) -> Result<Vec<Fetched>, ApplyError> {
        let Some(stripe) = &self.stripe else { return Ok(objects) };
        let mut wanted: Vec<String> = objects
            .iter()
            .filter_map(|fetched| match &fetched.object {
                StripeObject::Subscription(sub) => Some(sub),
                StripeObject::CheckoutSession(session) => session.subscription.as_ref(),
                _ => None,
            })
            .filter_map(|sub| sub.product_id.clone())
            .collect();
        wanted.sort();
        wanted.dedup();
        let stored = catalogue::products(db, wanted.clone()).await?;
        let mut missing = Vec::new();
        for id in wanted.iter().filter(|id| !stored.iter().any(|row| &row.id == *id)) {
            if let Ok(product) = self.products.get(stripe, id).await {
                missing.push(product);
            }
        }
        missing.extend(objects);
        Ok(missing)
    }
}
