//! The billing API's work: checkout with one trial per user, syncing a finished checkout,
//! the customer portal, and a user's status computed now.

use caixa_entities::{entitlements, prices};
use caixa_policy::{Decision, Policy};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionResponse, GetSubscriptionStatusResponse, SubscriptionSnapshot,
    SyncCheckoutSessionResponse,
};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use url::Url;

use super::{
    apply::{apply_checkout_session, missing_product, record_users},
    customers::{self, CustomerLocks},
    stripe_json::{id_of, normalize_email},
    trials,
};
use crate::{
    config::StripeSettings,
    error::ApiError,
    events::RevisionFeed,
    store::{records, revisions},
    stripe::{StripeApi, StripeCallError},
};

/// Everything the billing API works with.
#[derive(Clone)]
pub struct Billing {
    /// The database.
    pub db: DatabaseConnection,
    /// Stripe, when configured.
    pub stripe: Option<StripeApi>,
    /// Mode, keys, default price, trial length.
    pub settings: StripeSettings,
    /// Base of default redirect URLs.
    pub frontend_url: Url,
    /// Per-user customer creation locks.
    pub locks: CustomerLocks,
    /// Announces revisions written by a sync.
    pub feed: RevisionFeed,
    /// The access policy.
    pub policy: Policy,
}

/// A validated checkout request.
pub struct CheckoutRequest {
    /// The user.
    pub user_id: String,
    /// The user's email.
    pub email: String,
    /// The price to subscribe to.
    pub price_id: String,
    /// Where Stripe sends the user after paying.
    pub success_url: String,
    /// Where Stripe sends the user who gives up.
    pub cancel_url: String,
}

impl Billing {
    fn stripe(&self) -> Result<&StripeApi, ApiError> {
        let var = if self.settings.live_mode { "STRIPE_LIVE_SECRET_KEY" } else { "STRIPE_TEST_SECRET_KEY" };
        self.stripe.as_ref().ok_or_else(|| StripeCallError::NotConfigured(var).into())
    }

    /// The default URL under `FRONTEND_URL`.
    pub fn frontend(&self, path: &str) -> Url {
        self.frontend_url.join(path).unwrap_or_else(|_| self.frontend_url.clone())
    }

    /// Creates a Checkout Session, with a trial when the user has never had one.
    pub async fn create_checkout(
        &self,
        request: CheckoutRequest,
    ) -> Result<CreateCheckoutSessionResponse, ApiError> {
        let stripe = self.stripe()?;
        let live = self.settings.live_mode;
        self.check_price(stripe, &request.price_id).await?;
        let customer =
            customers::find_or_create(&self.db, stripe, &self.locks, &request.user_id, &request.email, live)
                .await?;
        let email = normalize_email(&request.email);
        let reservation_ttl = Utc::now() + chrono::Duration::hours(24);
        let reservation = match self.settings.trial_days {
            0 => None,
            _ => trials::reserve(&self.db, &request.user_id, &email, live, reservation_ttl).await?,
        };
        let trial_days = if reservation.is_some() { self.settings.trial_days } else { 0 };
        let mut form = vec![
            ("mode", "subscription".to_owned()),
            ("customer", customer),
            ("client_reference_id", request.user_id.clone()),
            ("line_items[0][price]", request.price_id.clone()),
            ("line_items[0][quantity]", "1".to_owned()),
            ("success_url", request.success_url),
            ("cancel_url", request.cancel_url),
            ("metadata[user_id]", request.user_id.clone()),
            ("subscription_data[metadata][user_id]", request.user_id.clone()),
        ];
        if trial_days > 0 {
            form.push(("subscription_data[trial_period_days]", trial_days.to_string()));
        }
        let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let key = format!("caixa-checkout-{}", uuid::Uuid::new_v4());
        let session = match stripe.post("/checkout/sessions", &form, &key).await {
            Ok(session) => session,
            Err(err) => {
                if let Some(id) = reservation {
                    trials::release(&self.db, id).await?;
                }
                return Err(err.into());
            }
        };
        let session_id = session["id"].as_str().unwrap_or_default().to_owned();
        let expires_at = session["expires_at"].as_i64().and_then(|t| DateTime::from_timestamp(t, 0));
        if let Some(id) = reservation {
            trials::attach(&self.db, id, &session_id, expires_at.unwrap_or(reservation_ttl)).await?;
        }
        tracing::info!(user = %request.user_id, session = %session_id, trial_days, "checkout session created");
        Ok(CreateCheckoutSessionResponse {
            session_id,
            url: session["url"].as_str().unwrap_or_default().to_owned(),
            trial_applied: trial_days > 0,
            trial_days,
            expires_at: expires_at.map(|t| prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }),
        })
    }

    /// The price must exist, be active, recurring and of this deployment's mode.
    async fn check_price(&self, stripe: &StripeApi, price_id: &str) -> Result<(), ApiError> {
        let invalid = |reason: String| ApiError::InvalidArgument { field: "price_id", reason };
        let price = match prices::Entity::find_by_id(price_id.to_owned()).one(&self.db).await? {
            Some(price) => price,
            None => {
                let object = stripe.get(&format!("/prices/{price_id}")).await.map_err(|err| match err {
                    StripeCallError::NotFound(_) => invalid(format!("no price {price_id} in Stripe")),
                    other => other.into(),
                })?;
                records::upsert_price(&self.db, &object, Utc::now()).await?;
                prices::Entity::find_by_id(price_id.to_owned())
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| invalid(format!("no price {price_id}")))?
            }
        };
        if price.livemode != self.settings.live_mode {
            return Err(invalid(format!("{price_id} belongs to the other mode (test vs live)")));
        }
        if !price.active {
            return Err(invalid(format!("{price_id} is not active")));
        }
        if price.recurring_interval.is_none() {
            return Err(invalid(format!("{price_id} is not a recurring price")));
        }
        Ok(())
    }

    /// Fetches a session and its subscription from Stripe now and applies them through
    /// the one apply path.
    pub async fn sync_checkout(&self, session_id: &str) -> Result<SyncCheckoutSessionResponse, ApiError> {
        let stripe = self.stripe()?;
        let session = stripe
            .get(&format!("/checkout/sessions/{session_id}?expand[]=subscription"))
            .await
            .map_err(|err| match err {
                StripeCallError::NotFound(_) => {
                    ApiError::NotFound(format!("no checkout session {session_id}"))
                }
                other => other.into(),
            })?;
        let user = session["client_reference_id"]
            .as_str()
            .or_else(|| session["metadata"]["user_id"].as_str())
            .map(str::to_owned);
        let Some(user) = user else {
            return Err(ApiError::FailedPrecondition(format!("checkout session {session_id} names no user")));
        };
        let product = missing_product(&self.db, stripe, &session).await?;
        let txn = self.db.begin().await?;
        revisions::lock_for_sqlite(&txn).await?;
        if let Some((product, features)) = &product {
            records::upsert_product(&txn, product, features.clone(), Utc::now()).await?;
        }
        let users = apply_checkout_session(&txn, &session, Utc::now()).await?;
        record_users(&txn, users).await?;
        txn.commit().await?;
        let status = self.status(&user).await?;
        self.feed.publish(i64::try_from(status.revision).unwrap_or(0));
        let subscription = status.subscription.unwrap_or_default();
        Ok(SyncCheckoutSessionResponse {
            session_id: session_id.to_owned(),
            user_id: user,
            subscription_id: id_of(&session["subscription"]).unwrap_or_default(),
            status: subscription.status,
            has_active_subscription: status.has_active_subscription,
            revision: status.revision,
        })
    }

    /// A Customer Portal session for a user who has a customer.
    pub async fn portal(&self, user: &str, return_url: String) -> Result<String, ApiError> {
        let stripe = self.stripe()?;
        let Some(customer) = customers::linked(&self.db, user, self.settings.live_mode).await? else {
            return Err(ApiError::FailedPrecondition(format!(
                "user {user} has no Stripe customer yet; a checkout creates one"
            )));
        };
        let form = vec![("customer".to_owned(), customer.id), ("return_url".to_owned(), return_url)];
        let session = stripe
            .post("/billing_portal/sessions", &form, &format!("caixa-portal-{}", uuid::Uuid::new_v4()))
            .await?;
        Ok(session["url"].as_str().unwrap_or_default().to_owned())
    }

    /// The user's status from the local database, with access decided now.
    pub async fn status(&self, user: &str) -> Result<GetSubscriptionStatusResponse, ApiError> {
        let live = self.settings.live_mode;
        let state = records::user_state(&self.db, user, live).await?;
        let decision: Decision = self.policy.decide(&state.subscriptions, None, Utc::now().timestamp());
        let subscription: Option<SubscriptionSnapshot> = decision
            .subscription_id
            .and_then(|id| state.subscriptions.iter().find(|s| s.id == id))
            .map(|s| s.to_proto());
        let customer = customers::linked(&self.db, user, live).await?;
        let email = customer.as_ref().and_then(|c| c.email_normalized.clone());
        let revision = entitlements::Entity::find()
            .filter(entitlements::Column::UserId.eq(user))
            .filter(entitlements::Column::Livemode.eq(live))
            .one(&self.db)
            .await?
            .map_or(0, |row| row.revision);
        Ok(GetSubscriptionStatusResponse {
            user_id: user.to_owned(),
            has_active_subscription: decision.allowed,
            reason: decision.reason.into(),
            subscription,
            trial_eligible: trials::eligible(&self.db, user, email.as_deref(), live).await?,
            customer_id: customer.map(|c| c.id).unwrap_or_default(),
            revision: u64::try_from(revision).unwrap_or(0),
        })
    }
}
