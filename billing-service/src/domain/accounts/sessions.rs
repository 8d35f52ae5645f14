//! Checkout Sessions and the trial they carry, checked with Stripe: the newest session of
//! a user carries the trial, and a reservation is given back only when Stripe says its
//! session expired or never completed.

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::domain::{
    accounts::trials::RESERVATION_TTL,
    objects::apply::{ApplyError, Fetched, StripeObject, apply},
};
use crate::{
    store::{StoreError, trials},
    stripe::{
        StripeApi, StripeCallError,
        objects::{CheckoutSession, SessionStatus},
    },
};

/// Why a session check failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionCheckError {
    /// Stripe failed.
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    /// Applying what Stripe said failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl From<SessionCheckError> for crate::error::BillingError {
    fn from(err: SessionCheckError) -> Self {
        match err {
            SessionCheckError::Stripe(stripe) => stripe.into(),
            SessionCheckError::Apply(apply) => apply.into(),
        }
    }
}

impl From<StoreError> for SessionCheckError {
    fn from(err: StoreError) -> Self {
        Self::Apply(err.into())
    }
}

/// Expires the customer's open sessions at Stripe and applies what became of each (one
/// that completed meanwhile confirms its trial; an expired one frees its reservation),
/// then gives back the user's reservations that no session carries. Called, under the
/// user's lock, before a new session is opened, so at most one session is open per user.
pub async fn close_open(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    user: &str,
    customer: &str,
    livemode: bool,
) -> Result<(), SessionCheckError> {
    let mut closed = Vec::new();
    for session in stripe.open_checkout_sessions(customer).await? {
        let session = match stripe.expire_checkout_session(&session.id).await {
            Ok(expired) => expired,
            // It completed (or expired) between the list and now: ask what it became.
            Err(StripeCallError::Rejected { .. }) => stripe.checkout_session(&session.id).await?,
            Err(err) => return Err(err.into()),
        };
        tracing::info!(user, session = %session.id, status = ?session.status, "older checkout session closed");
        closed.push(Fetched::now(StripeObject::CheckoutSession(session)));
    }
    if !closed.is_empty() {
        apply(db, &closed, None).await?;
    }
    trials::release_unattached(db, user, livemode).await?;
    Ok(())
}

/// Checks with Stripe every reservation (of `holder`'s user or email, or all) whose
/// session should have ended: a completed session confirms the trial, an expired one
/// frees it, an open one holds it until the session's own expiry. A reservation that no
/// session carries and that is older than any session can live is given back (had Stripe
/// made a session that completed, its subscription's `trial_start` marks the trial used).
/// Returns how many reservations changed.
pub async fn check_lapsed(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    holder: Option<(&str, &str)>,
) -> Result<usize, SessionCheckError> {
    let now = Utc::now();
    let mut changed = 0;
    for reservation in trials::lapsed(db, now, holder).await? {
        let Some(session_id) = reservation.checkout_session_id.as_deref() else {
            if reservation.reserved_at + RESERVATION_TTL < now {
                trials::release(db, reservation.id).await?;
                changed += 1;
            }
            continue;
        };
        let session: CheckoutSession = match stripe.checkout_session(session_id).await {
            Ok(session) => session,
            Err(StripeCallError::NotFound(_)) => {
                trials::release(db, reservation.id).await?;
                changed += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        match session.status {
            Some(SessionStatus::Open) => {
                let until = session.expires_at.unwrap_or(now + RESERVATION_TTL);
                trials::extend(db, reservation.id, until).await?;
            }
            _ => {
                apply(db, &[Fetched::now(StripeObject::CheckoutSession(session))], None).await?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}
