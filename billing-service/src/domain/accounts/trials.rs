//! One free trial per user and per email. A trial is reserved in the ledger when a
//! checkout with a trial is created, confirmed when Stripe completes its session, and
//! given back when the session expires unused or lapses.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::{
    store::{StoreError, subscriptions, trials},
    stripe::objects::{CheckoutSession, SessionStatus},
};

/// How long a reservation is held before the session it belongs to is known (Stripe's
/// sessions last at most 24 hours).
pub const RESERVATION_TTL: Duration = Duration::hours(24);

/// Trimmed, lowercased email: the key for one trial per email.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What a session's status means for the trial it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialOutcome {
    /// Stripe made the subscription: the trial is used.
    Confirm,
    /// The session expired unused: the trial is free again.
    Release,
    /// Still open, or status unknown: nothing changes.
    Keep,
}

/// The trial outcome of a session in `status`.
pub fn outcome(status: Option<SessionStatus>) -> TrialOutcome {
    match status {
        Some(SessionStatus::Complete) => TrialOutcome::Confirm,
        Some(SessionStatus::Expired) => TrialOutcome::Release,
        Some(SessionStatus::Open) | None => TrialOutcome::Keep,
    }
}

/// The trial days a checkout carries: the configured length when a trial was reserved.
pub fn days_granted(configured: u32, reserved: bool) -> u32 {
    if reserved { configured } else { 0 }
}

/// Applies a session's outcome to the reservation it carried.
pub async fn settle_session(db: &impl ConnectionTrait, session: &CheckoutSession) -> Result<(), StoreError> {
    match outcome(session.status) {
        TrialOutcome::Confirm => {
            trials::confirm_session(db, &session.id, session.subscription_id.as_deref()).await
        }
        TrialOutcome::Release => trials::release_session(db, &session.id).await,
        TrialOutcome::Keep => Ok(()),
    }
}

/// Whether a new checkout for this user (and email) would carry a trial: neither holds
/// one in the ledger, and the user has no subscription that had a trial (trials from
/// before the ledger existed are on the subscriptions themselves). A reservation whose
/// session should have ended still counts until Stripe has been asked about it.
pub async fn eligible(
    db: &impl ConnectionTrait,
    user: &str,
    email: Option<&str>,
    livemode: bool,
) -> Result<bool, StoreError> {
    if trials::taken(db, user, email, livemode).await? {
        return Ok(false);
    }
    Ok(!subscriptions::had_trial(db, user, livemode).await?)
}

/// The key a trial is held under when the user's email is unknown: it has no `@`, so it
/// never collides with an email.
pub fn user_key(user: &str) -> String {
    format!("user:{user}")
}

/// A subscription that had a trial used it, whatever became of the reservation: the
/// user's trial is confirmed (under their customer's email when known).
pub async fn confirm_used(
    db: &impl ConnectionTrait,
    user: &str,
    email_key: Option<String>,
    livemode: bool,
    subscription: &str,
) -> Result<(), StoreError> {
    let placeholder = user_key(user);
    let key = email_key.unwrap_or_else(|| placeholder.clone());
    trials::confirm_used(db, user, (&key, &placeholder), livemode, subscription).await
}

/// Moves a customer's subscriptions to `user` (or to nobody): a trial one of them had is
/// the new owner's used trial, under the customer's `email_key` when known. Returns the
/// subscriptions' owners now.
pub async fn reassign(
    db: &impl ConnectionTrait,
    customer: &str,
    user: Option<&str>,
    email_key: Option<String>,
) -> Result<Vec<crate::store::revisions::UserKey>, StoreError> {
    let owners = subscriptions::reassign(db, customer, user).await?;
    if let Some(user) = user {
        for (sub, livemode) in subscriptions::trials_of_customer(db, customer).await? {
            confirm_used(db, user, email_key.clone(), livemode, &sub).await?;
        }
    }
    Ok(owners)
}

/// Reserves the user's trial until `expires_at`; `None` when not eligible (including
/// when a concurrent checkout reserved it first).
pub async fn reserve(
    db: &impl ConnectionTrait,
    user: &str,
    email: &str,
    livemode: bool,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    if !eligible(db, user, Some(email), livemode).await? {
        return Ok(None);
    }
    trials::reserve(db, user, email, livemode, expires_at).await
}

/// A trial the old application recorded (the seed's `TrialUsageTracking`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastTrial {
    /// The application's user.
    pub user: String,
    /// Their email, when known.
    pub email: Option<String>,
    /// When they used it.
    pub used_at: DateTime<Utc>,
}

/// What an import did, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Trials added to the ledger.
    pub added: u64,
    /// Trials the ledger held already.
    pub already_held: u64,
    /// Trials held without an email that are now held under one too.
    pub email_learned: u64,
    /// Users whose trial is held under another email already: `(user, email)`.
    pub other_email: Vec<(String, String)>,
}

/// Records `trials` in the ledger in one transaction, so a failure changes nothing; a
/// dry run rolls it back. Idempotent: a second import adds nothing.
pub async fn import(
    db: &DatabaseConnection,
    livemode: bool,
    past: &[PastTrial],
    dry_run: bool,
) -> Result<ImportReport, StoreError> {
    let txn = db.begin().await?;
    let mut report = ImportReport::default();
    for trial in past {
        let email = trial.email.as_deref().map(normalize_email);
        let placeholder = user_key(&trial.user);
        match trials::import_used(
            &txn,
            livemode,
            &trial.user,
            (email.as_deref(), &placeholder),
            trial.used_at,
        )
        .await?
        {
            trials::Imported::Added => report.added += 1,
            trials::Imported::AlreadyHeld => report.already_held += 1,
            trials::Imported::EmailLearned => report.email_learned += 1,
            trials::Imported::HeldUnderOtherEmail => {
                report.other_email.push((trial.user.clone(), email.unwrap_or_default()));
            }
        }
    }
    if dry_run {
        txn.rollback().await?
    } else {
        txn.commit().await?
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_keyed_trimmed_and_lowercased() {
        assert_eq!(normalize_email("  Ana@Example.COM "), "ana@example.com");
        assert_eq!(normalize_email("ana@example.com"), normalize_email("ANA@example.com"));
    }

    #[test]
    fn only_a_completed_session_uses_the_trial_and_only_an_expired_one_frees_it() {
        assert_eq!(outcome(Some(SessionStatus::Complete)), TrialOutcome::Confirm);
        assert_eq!(outcome(Some(SessionStatus::Expired)), TrialOutcome::Release);
        assert_eq!(outcome(Some(SessionStatus::Open)), TrialOutcome::Keep);
        assert_eq!(outcome(None), TrialOutcome::Keep);
    }

    #[test]
    fn a_checkout_carries_trial_days_only_with_a_reservation() {
        assert_eq!(days_granted(14, true), 14);
        assert_eq!(days_granted(14, false), 0);
    }
}
