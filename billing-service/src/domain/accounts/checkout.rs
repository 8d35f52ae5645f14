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
    store,
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

    /// Finds or makes the customer, closes older sessions, reserves the trial if the user
    /// may have one, and opens the session.
    async fn open_session(
        &self,
        stripe: &StripeApi,
        request: &CheckoutRequest,
    ) -> Result<OpenedCheckout, BillingError> {
        let request = request.clone();
        let live = self.settings.live_mode;
        let (customer, created) = customers::find_or_create(
            &self.db,
            stripe,
            (request.user_id.as_str(), request.email.as_str()),
            live,
            &self.policy,
        )
        .await?;
        let email = trials::normalize_email(&request.email);
        // The newest session carries the trial: older open ones are closed first, and
        // reservations whose sessions should have ended are checked with Stripe. A
        // customer this call created has no session to close: billing opens sessions
        // only for customers it has stored, and this one was not stored before (an
        // idempotent replay of its creation included), so Stripe is not asked.
        if created {
            store::trials::release_unattached(&self.db, request.user_id.as_str(), live).await?;
        } else {
            sessions::close_open(&self.db, stripe, request.user_id.as_str(), &customer, live).await?;
        }
        sessions::check_lapsed(&self.db, stripe, Some((request.user_id.as_str(), &email))).await?;
        let reservation_ttl = Utc::now() + trials::RESERVATION_TTL;
        let reservation = match self.settings.trial_days {
            0 => None,
            _ => trials::reserve(&self.db, request.user_id.as_str(), &email, live, reservation_ttl).await?,
        };
        let trial_days = trials::days_granted(self.settings.trial_days, reservation.is_some());
        let key = format!("caixa-checkout-{}", uuid::Uuid::new_v4());
        let form = session_form(&request, customer, trial_days);
        let session = match stripe.create_checkout_session(&form, &key).await {
            Ok(session) => session,
            // Stripe may have made the session without answering: the reservation stays,
            // unattached, until the user's next checkout has asked Stripe.
            Err(err @ StripeCallError::Unreachable(_)) => return Err(err.into()),
            Err(err) => {
                if let Some(id) = reservation {
                    store::trials::release(&self.db, id).await?;
                }
                return Err(err.into());
            }
        };
        if let Some(id) = reservation {
            store::trials::attach(&self.db, id, &session.id, session.expires_at.unwrap_or(reservation_ttl))
                .await?;
        }
        tracing::info!(user = %request.user_id, session = %session.id, trial_days, "checkout session created");
        Ok(OpenedCheckout {
            session_id: session.id,
            url: session.url.unwrap_or_default(),
            trial_days,
            expires_at: session.expires_at,
        })
    }
}

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
    line.quantity = Some(1);
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer)
        .client_reference_id(request.user_id.to_string())
        .line_items(vec![line])
        .success_url(request.success_url.clone())
        .cancel_url(request.cancel_url.clone())
        .metadata(metadata)
        .subscription_data(subscription)
}
