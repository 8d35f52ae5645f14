//! Opening a Checkout Session: one customer per user, the newest session carries the
//! trial, and a customer deleted at Stripe behind billing's back is replaced.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_shared::CheckoutSessionMode;

use crate::domain::{
    accounts::billing::{Billing, CheckoutRequest},
    accounts::customers,
    accounts::sessions,
    accounts::trials,
    objects::apply::{Fetched, StripeObject, apply},
};
use crate::{
    error::BillingError,
    store::{self, sessions::Opened},
    stripe::{StripeApi, StripeCallError, objects::Customer},
};

/// A Checkout Session opened for a user.
#[derive(Clone, Debug)]
pub struct OpenedCheckout {
    /// `cs_...`.
    pub session_id: String,
    /// Where the user pays.
    pub url: String,
    /// Days of free trial it carries (0: none).
    pub trial_days: u32,
    /// When Stripe expires it, if it said.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Billing {
    /// Creates a Checkout Session, with a trial when the user has never had one.
    #[tracing::instrument(name = "create checkout", level = "debug", skip_all)]
    pub async fn create_checkout(&self, request: CheckoutRequest) -> Result<OpenedCheckout, BillingError> {
        let stripe = self.stripe()?;
        self.check_price(stripe, &request.price_id).await?;
        let held = self.locks.lock(&self.db, request.user_id.as_str()).await?;
        let opened = match self.open_session(stripe, &request).await {
            // The customer may have been deleted at Stripe without billing hearing of it
            // yet: learn it now, and open the session for a new customer.
            Err(BillingError::NotFound(reason)) => {
                match self.forget_deleted_customer(stripe, request.user_id.as_str()).await {
                    Ok(true) => self.open_session(stripe, &request).await,
                    Ok(false) => Err(BillingError::NotFound(reason)),
                    Err(err) => Err(err),
                }
            }
            other => other,
        };
        held.release().await;
        opened
    }

    /// Whether the user's linked customer turned out deleted at Stripe (and is now stored
    /// as such, freeing the link).
    async fn forget_deleted_customer(&self, stripe: &StripeApi, user: &str) -> Result<bool, BillingError> {
        let Some(linked) =
            customers::preferred(&self.db, user, self.settings.live_mode, &self.policy).await?
        else {
            return Ok(false);
        };
        let customer = match stripe.customer(&linked.id).await {
            Ok(customer) => customer,
            Err(StripeCallError::NotFound(_)) => Customer {
                deleted: true,
                ..Customer::from_json(&serde_json::json!({ "id": linked.id }), stripe.user_keys())
            },
            Err(err) => return Err(err.into()),
        };
        if !customer.deleted {
            return Ok(false);
        }
        tracing::info!(user, customer = %customer.id, "linked customer was deleted at Stripe; a new one will be made");
        apply(&self.db, &[Fetched::now(StripeObject::Customer(customer))], None).await?;
        Ok(true)
    }

    /// Finds or makes the customer, reserves the trial if the user may have one, opens
    /// the session and closes the older ones.
    ///
    /// A returning user's checkout makes one Stripe call's wait: the sessions billing
    /// recorded as open are expired beside the create, not before it. The trial stays
    /// single: a reservation held for an older session moves to the new one, and if an
    /// older session turns out to have completed meanwhile (its trial used), the new
    /// session is expired and opened again without one. If an older session cannot be
    /// closed, the new one is expired and the checkout fails, as it would have before.
    async fn open_session(
        &self,
        stripe: &StripeApi,
        request: &CheckoutRequest,
    ) -> Result<OpenedCheckout, BillingError> {
        let (user, live) = (request.user_id.as_str(), self.settings.live_mode);
        let (customer, created) =
            customers::find_or_create(&self.db, stripe, (user, request.email.as_str()), live, &self.policy)
                .await?;
        let email = trials::normalize_email(&request.email);
        let (older, held) = self.older_sessions(stripe, user, &customer, created).await?;
        sessions::check_lapsed(&self.db, stripe, Some((user, &email))).await?;
        let reservation_ttl = Utc::now() + trials::RESERVATION_TTL;
        let (reservation, moved) = match self.settings.trial_days {
            0 => (None, false),
            _ => match held {
                // Held for a session closing now: it moves to the new one.
                Some((id, Some(session))) if older.contains(&session) => (Some(id), true),
                // Held for a session this checkout does not close: no second trial.
                Some(_) => (None, false),
                None => (trials::reserve(&self.db, user, &email, live, reservation_ttl).await?, false),
            },
        };
        let trial_days = trials::days_granted(self.settings.trial_days, reservation.is_some());
        let key = format!("caixa-checkout-{}", uuid::Uuid::new_v4());
        let form = session_form(request, customer.clone(), trial_days);
        let (made, closed) =
            tokio::join!(stripe.create_checkout_session(&form, &key), sessions::expire_all(stripe, &older));
        let session = match made {
            Ok(session) => session,
            Err(err) => {
                // Stripe may have made the session without answering: the reservation
                // stays, unattached, so that the user's next checkout asks Stripe for
                // open sessions. One that Stripe refused gives a fresh reservation back,
                // and leaves a moved one with the older session, whose end decides it.
                match (reservation, matches!(err, StripeCallError::Unreachable(_))) {
                    (Some(id), true) => store::trials::detach(&self.db, id).await?,
                    (Some(id), false) if !moved => store::trials::release(&self.db, id).await?,
                    _ => {}
                }
                sessions::settle_closed(&self.db, user, closed).await?;
                return Err(err.into());
            }
        };
        let expires_at = session.expires_at.unwrap_or(reservation_ttl);
        if let Some(id) = reservation {
            store::trials::attach(&self.db, id, &session.id, expires_at).await?;
        }
        let opened = Opened {
            id: &session.id,
            livemode: live,
            user,
            customer: &customer,
            expires_at: session.expires_at,
        };
        store::sessions::record(&self.db, &opened).await?;
        match sessions::settle_closed(&self.db, user, closed).await {
            Ok(false) => {}
            Ok(true) if trial_days == 0 => {}
            // An older session completed before its expiry reached it: its trial was the
            // user's one.
            Ok(true) => {
                tracing::info!(user, session = %session.id, "an older session completed meanwhile; opening again without a trial");
                self.withdraw(stripe, user, &session.id).await?;
                return Box::pin(self.open_session(stripe, request)).await;
            }
            Err(err) => {
                self.withdraw(stripe, user, &session.id).await?;
                return Err(err.into());
            }
        }
        tracing::info!(user, session = %session.id, trial_days, closed = older.len(), "checkout session created");
        Ok(OpenedCheckout {
            session_id: session.id,
            url: session.url.unwrap_or_default(),
            trial_days,
            expires_at: session.expires_at,
        })
    }

    /// The open sessions to close beside the user's new one, and the reservation the
    /// user then holds (with its session): none to close for a customer this call created
    /// (billing opens sessions only for customers it has stored), those billing recorded
    /// as open for one it opened sessions for, and otherwise (sessions made before
    /// billing took the account over, or by a create that never answered) Stripe's,
    /// closed now.
    async fn older_sessions(
        &self,
        stripe: &StripeApi,
        user: &str,
        customer: &str,
        created: bool,
    ) -> Result<(Vec<String>, Held), BillingError> {
        let live = self.settings.live_mode;
        let held = || store::trials::held(&self.db, user, live);
        if created {
            store::trials::release_unattached(&self.db, user, live).await?;
            return Ok((Vec::new(), held().await?));
        }
        let before = held().await?;
        // A reservation no session carries is a create Stripe may have made without
        // answering: that session is unknown here, so Stripe is asked.
        let unanswered = matches!(before, Some((_, None)));
        match store::sessions::open_of(&self.db, customer).await? {
            Some(open) if !unanswered => Ok((open.into_iter().map(|row| row.id).collect(), before)),
            _ => {
                sessions::close_open(&self.db, stripe, user, customer, live).await?;
                Ok((Vec::new(), held().await?))
            }
        }
    }

    /// Expires a session just opened that must not stand, and applies its end.
    async fn withdraw(&self, stripe: &StripeApi, user: &str, session: &str) -> Result<(), BillingError> {
        let closed = sessions::expire_all(stripe, &[session.to_owned()]).await;
        sessions::settle_closed(&self.db, user, closed).await?;
        Ok(())
    }
}

/// A reservation the user holds, with the session it is attached to.
type Held = Option<(i64, Option<String>)>;

/// The session to create, in async-stripe's typed request, so that a misspelt parameter
/// does not compile.
fn session_form(request: &CheckoutRequest, customer: String, trial_days: u32) -> CreateCheckoutSession {
    let mut metadata = HashMap::from([("user_id".to_owned(), request.user_id.to_string())]);
    // The session's completion and its subscription's creation arrive later as webhooks;
    // the trace context lets them join the trace of this call (the bridge reads it back
    // under `trace::METADATA_KEY`).
    if let Some(traceparent) = caixa_runtime::telemetry::trace::traceparent() {
        metadata.insert(caixa_runtime::telemetry::trace::METADATA_KEY.to_owned(), traceparent);
    }
    let mut subscription = CreateCheckoutSessionSubscriptionData::new();
    subscription.metadata = Some(metadata.clone());
    subscription.trial_period_days = (trial_days > 0).then_some(trial_days);
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(request.price_id.to_string());
    line.quantity = Some(u64::from(request.quantity));
    let mut form = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer)
        .client_reference_id(request.user_id.to_string())
        .line_items(vec![line])
        .success_url(request.success_url.clone())
        .cancel_url(request.cancel_url.clone())
        .metadata(metadata)
        .subscription_data(subscription);
    // Sent only when asked for: Stripe refuses it beside `discounts`, and a form without
    // it is the one every checkout made before.
    if request.allow_promotion_codes {
        form = form.allow_promotion_codes(true);
    }
    form
}
