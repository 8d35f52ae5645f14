//! The billing API's work: checkout with one trial per user, syncing a finished checkout,
//! the customer portal, and a user's status computed now.

use caixa_entities::state::SubscriptionState;
use caixa_policy::{AccessReason, Decision, Policy};
use caixa_types::input::shown;
use caixa_types::{PriceId, Revision, SessionId, UserId};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use url::Url;

use crate::domain::{
    accounts::customers::{self, UserLocks},
    accounts::sessions::SessionCheckError,
    accounts::trials,
    objects::apply::{Fetched, StripeObject, apply},
    objects::intake::Intake,
};
use crate::{
    config::StripeSettings,
    error::BillingError,
    revisions::RevisionFeed,
    store::{catalogue, revisions, subscriptions},
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
    /// Per-user checkout locks.
    pub locks: UserLocks,
    /// Announces revisions written by a sync.
    pub feed: RevisionFeed,
    /// Fetches what a sync applies.
    pub intake: Intake,
    /// The access policy.
    pub policy: Policy,
}

/// A validated checkout request.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// The user.
    pub user_id: UserId,
    /// The user's email.
    pub email: String,
    /// The price to subscribe to.
    pub price_id: PriceId,
    /// Where Stripe sends the user after paying.
    pub success_url: String,
    /// Where Stripe sends the user who gives up.
    pub cancel_url: String,
    /// Seats to buy (the line item's quantity).
    pub quantity: u32,
    /// Whether the checkout page takes promotion codes.
    pub allow_promotion_codes: bool,
}

/// A user's subscription status, with access decided now.
#[derive(Clone, Debug)]
pub struct UserStatus {
    /// The user.
    pub user_id: UserId,
    /// Whether the user has access now.
    pub allowed: bool,
    /// Why.
    pub reason: AccessReason,
    /// The subscription that decided, if any.
    pub subscription: Option<SubscriptionState>,
    /// Whether a checkout now would carry a free trial.
    pub trial_eligible: bool,
    /// The customer the portal and new checkouts use.
    pub customer_id: Option<String>,
    /// The revision of the user's newest change.
    pub revision: Revision,
}

/// A finished checkout, synced from Stripe.
#[derive(Clone, Debug)]
pub struct SyncedCheckout {
    /// `cs_...`.
    pub session_id: String,
    /// The subscription the session made, if any yet.
    pub subscription_id: Option<String>,
    /// The session's user's status after the sync.
    pub status: UserStatus,
}

impl Billing {
    pub(super) fn stripe(&self) -> Result<&StripeApi, BillingError> {
        let var = if self.settings.live_mode { "STRIPE_LIVE_SECRET_KEY" } else { "STRIPE_TEST_SECRET_KEY" };
        self.stripe.as_ref().ok_or_else(|| StripeCallError::NotConfigured(var).into())
    }

    /// The default URL under `FRONTEND_URL`.
    pub fn frontend(&self, path: &str) -> Url {
        self.frontend_url.join(path).unwrap_or_else(|_| self.frontend_url.clone())
    }

    /// The price must exist, be active, recurring and of this deployment's mode.
    pub(super) async fn check_price(
        &self,
        stripe: &StripeApi,
        price_id: &PriceId,
    ) -> Result<(), BillingError> {
        let price_id = price_id.as_str();
        let invalid = |reason: String| BillingError::InvalidArgument { field: "price_id", reason };
        let price = match catalogue::price(&self.db, price_id).await? {
            Some(price) => price,
            None => {
                let price = stripe.price(price_id).await.map_err(|err| match err {
                    StripeCallError::NotFound(_) => {
                        invalid(format!("no price {} in Stripe", shown(price_id)))
                    }
                    other => other.into(),
                })?;
                apply(&self.db, &[Fetched::now(StripeObject::Price(price))], None).await?;
                catalogue::price(&self.db, price_id)
                    .await?
                    .ok_or_else(|| invalid(format!("no price {}", shown(price_id))))?
            }
        };
        if price.livemode != self.settings.live_mode {
            return Err(invalid(format!("{} belongs to the other mode (test vs live)", shown(price_id))));
        }
        if !price.active {
            return Err(invalid(format!("{} is not active", shown(price_id))));
        }
        if price.recurring_interval.is_none() {
            return Err(invalid(format!("{price_id} is not a recurring price")));
        }
        Ok(())
    }

    /// Fetches a session and its subscription from Stripe now and applies them through
    /// the one apply path.
    #[tracing::instrument(name = "sync checkout", level = "debug", skip_all)]
    pub async fn sync_checkout(&self, session_id: &SessionId) -> Result<SyncedCheckout, BillingError> {
        let session_id = session_id.as_str();
        let stripe = self.stripe()?;
        let (session, objects) =
            self.intake.session(&self.db, stripe, session_id).await.map_err(|err| match err {
                SessionCheckError::Stripe(StripeCallError::NotFound(_)) => {
                    BillingError::NotFound(format!("no checkout session {session_id}"))
                }
                other => other.into(),
            })?;
        // The id billing wrote into the session's metadata, read back from Stripe.
        let Some(user) = session.user_id.as_deref().and_then(|user| UserId::parse(user).ok()) else {
            return Err(BillingError::FailedPrecondition(format!(
                "checkout session {session_id} names no user"
            )));
        };
        apply(&self.db, &objects, None).await?;
        let status = self.status(&user).await?;
        self.feed.publish(status.revision);
        Ok(SyncedCheckout {
            session_id: session_id.to_owned(),
            subscription_id: session.subscription_id,
            status,
        })
    }

    /// A Customer Portal session for a user who has a customer.
    #[tracing::instrument(name = "portal session", level = "debug", skip_all)]
    pub async fn portal(&self, user: &UserId, return_url: String) -> Result<String, BillingError> {
        let user = user.as_str();
        let stripe = self.stripe()?;
        let Some(customer) =
            customers::preferred(&self.db, user, self.settings.live_mode, &self.policy).await?
        else {
            return Err(BillingError::FailedPrecondition(format!(
                "user {user} has no Stripe customer yet; a checkout creates one"
            )));
        };
        let key = format!("caixa-portal-{}", uuid::Uuid::new_v4());
        Ok(stripe.create_portal_session(&customer.id, &return_url, &key).await?)
    }

    /// The user's status from the local database, with access decided now.
    #[tracing::instrument(name = "subscription status", level = "debug", skip_all)]
    pub async fn status(&self, user_id: &UserId) -> Result<UserStatus, BillingError> {
        let (user, live) = (user_id.as_str(), self.settings.live_mode);
        let state = subscriptions::user_state(&self.db, user, live).await?;
        let decision: Decision<_> = self.policy.decide(&state.subscriptions, None, Utc::now().timestamp());
        // The decision at hand picks the customer: no second read of the state.
        let linked = crate::store::customers::linked(&self.db, user, live).await?;
        let customer = customers::pick(linked, customers::granting(&decision));
        let email = customer.as_ref().and_then(|c| c.email_normalized.clone());
        let revision = revisions::of_user(&self.db, user, live).await?;
        Ok(UserStatus {
            user_id: user_id.clone(),
            allowed: decision.allowed,
            reason: decision.reason,
            subscription: decision.subscription.cloned(),
            trial_eligible: trials::eligible(&self.db, user, email.as_deref(), live).await?,
            customer_id: customer.map(|c| c.id),
            revision,
        })
    }
}
