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
    let open: Vec<String> =
        stripe.open_checkout_sessions(customer).await?.into_iter().map(|s| s.id).collect();
    settle_closed(db, user, expire_all(stripe, &open).await).await?;
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

/// Expires the sessions `ids` at Stripe, side by side, and says what became of each: a
/// session that completed (or expired) before the expiry reached it is fetched instead.
/// One Stripe has no more is taken as expired.
pub async fn expire_all(stripe: &StripeApi, ids: &[String]) -> Vec<Result<CheckoutSession, StripeCallError>> {
    futures_util::future::join_all(ids.iter().map(|id| expire(stripe, id))).await
}

async fn expire(stripe: &StripeApi, id: &str) -> Result<CheckoutSession, StripeCallError> {
    match stripe.expire_checkout_session(id).await {
        Err(StripeCallError::Rejected { .. }) => stripe.checkout_session(id).await,
        Err(StripeCallError::NotFound(_)) => Ok(CheckoutSession {
            status: Some(SessionStatus::Expired),
            ..CheckoutSession::from_json(&serde_json::json!({ "id": id }))
        }),
        other => other,
    }
}

/// Applies what became of closed sessions (a completed one confirms its trial, an
/// expired one frees its reservation). Fails with the first session that could not be
/// closed, after applying the others. Returns whether any had completed.
pub async fn settle_closed(
    db: &DatabaseConnection,
    user: &str,
    closed: Vec<Result<CheckoutSession, StripeCallError>>,
) -> Result<bool, SessionCheckError> {
    let mut settled = Vec::new();
    let mut failed = None;
    for result in closed {
        match result {
            Ok(session) => {
                tracing::info!(user, session = %session.id, status = ?session.status, "older checkout session closed");
                settled.push(session);
            }
            Err(err) => failed = failed.or(Some(err)),
        }
    }
    let completed = settled.iter().any(|s| s.status == Some(SessionStatus::Complete));
    if !settled.is_empty() {
        let fetched: Vec<Fetched> =
            settled.into_iter().map(|s| Fetched::now(StripeObject::CheckoutSession(s))).collect();
        apply(db, &fetched, None).await?;
    }
    match failed {
        Some(err) => Err(err.into()),
        None => Ok(completed),
    }
}
