//! The one apply path: Stripe objects become stored rows, and every user whose state
//! changed gets a new revision, in one transaction. The inbox worker, the sync RPC and
//! every other path that learns something from Stripe calls [`apply`]; nothing else
//! writes Stripe-derived rows.
//!
//! Order-safety: a row is only replaced by data at least as new as what it holds
//! ([`lifecycle::may_replace`]). Data refetched from Stripe is as of now; an event's
//! payload, used when Stripe cannot be asked, is as of the event, and when even that is
//! older than the stored row the apply fails so that the event is retried later. A
//! payload applied ahead of Stripe's answer replaces only a row it provably leads
//! ([`lifecycle::payload_leads`]).

use caixa_entities::stripe_events::InboxStatus;
use caixa_types::Revision;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

pub use crate::domain::objects::fetched::{Fetched, Source};
use crate::domain::{accounts::trials, objects::lifecycle};
pub use crate::stripe::objects::StripeObject;
use crate::{
    store::{
        StoreError, catalogue, customers, inbox, revisions, sessions,
        subscriptions::{self, Ownership},
    },
    stripe::objects::{CheckoutSession, Customer, Subscription},
};

/// Why an apply failed (an event is retried).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored payload is not a Stripe event.
    #[error("unreadable event payload: {0}")]
    BadPayload(String),
    /// Stripe was unreachable and the payload is older than the stored state (or cannot
    /// stand in for the object).
    #[error("Stripe unreachable ({0}) and the payload is older than the stored state")]
    StalePayload(String),
    /// A payload applied ahead of Stripe's answer does not provably lead the stored row.
    #[error("the event's payload is not provably newer than the stored row")]
    NotProvablyNewer,
}

impl From<sea_orm::DbErr> for ApplyError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

impl From<ApplyError> for crate::error::BillingError {
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::Store(store) => store.into(),
            other => Self::dependency("applying Stripe's data", other),
        }
    }
}

/// The inbox events an apply settles, marked done in the same transaction.
#[derive(Clone, Copy)]
pub struct Settles<'a> {
    /// `evt_...` ids, each with what it becomes: `Processed` or `Ignored`.
    pub events: &'a [(&'a str, InboxStatus)],
    /// The worker holding their claim.
    pub worker: &'a str,
    /// An event to store in the same transaction: the confirmation of an early apply,
    /// which must exist exactly when the apply it confirms does.
    pub then: Option<&'a inbox::NewEvent>,
}

/// Writes `objects` in order, records every affected user's state, settles the inbox
/// event if any, and commits. Returns the revisions of the affected users.
pub async fn apply(
    db: &DatabaseConnection,
    objects: &[Fetched],
    settles: Option<Settles<'_>>,
) -> Result<Vec<Revision>, ApplyError> {
    // A row read as missing can be inserted by a concurrent apply before this one writes
    // it, and two applies can deadlock; the transaction is then rolled back and
    // everything decided again from what is stored now.
    let mut tries = 0;
    loop {
        tries += 1;
        match apply_once(db, objects, settles).await {
            Err(ApplyError::Store(err))
                if tries < 3 && (matches!(err, StoreError::Raced) || err.is_transient_conflict()) =>
            {
                continue;
            }
            result => return result,
        }
    }
}

async fn apply_once(
    db: &DatabaseConnection,
    objects: &[Fetched],
    settles: Option<Settles<'_>>,
) -> Result<Vec<Revision>, ApplyError> {
    let txn = db.begin().await?;
    revisions::lock_for_sqlite(&txn).await?;
    let mut users = Vec::new();
    for fetched in objects {
        users.extend(write(&txn, fetched).await?);
    }
    let revisions = revisions::record_users(&txn, users).await?;
    if let Some(s) = settles {
        for status in [InboxStatus::Processed, InboxStatus::Ignored] {
            let ids: Vec<&str> = s.events.iter().filter(|(_, to)| *to == status).map(|(id, _)| *id).collect();
            inbox::finish(&txn, &ids, s.worker, status).await?;
        }
        if let Some(next) = s.then {
            inbox::insert_many(&txn, std::slice::from_ref(next)).await?;
        }
    }
    txn.commit().await?;
    Ok(revisions)
}

use crate::store::revisions::UserKey as User;

/// Writes one object; returns the users whose state it may have changed.
async fn write(db: &impl ConnectionTrait, fetched: &Fetched) -> Result<Vec<User>, ApplyError> {
    let as_of = fetched.as_of;
    let written = |applied: bool| match (&fetched.source, applied) {
        (Source::Fallback(reason), false) => Err(ApplyError::StalePayload(reason.clone())),
        (Source::Early, false) => Err(ApplyError::NotProvablyNewer),
        _ => Ok(()),
    };
    Ok(match &fetched.object {
        StripeObject::Subscription(sub) => {
            let (applied, users) = put_subscription(db, sub, fetched).await?;
            written(applied)?;
            users.into_iter().map(|u| User::new(u, sub.livemode)).collect()
        }
        StripeObject::Customer(customer) => {
            // Owners before and after: a re-link moves access from one user to another.
            let mut users = subscriptions::users_of_customer(db, &customer.id).await?;
            let (applied, former, moved_to) = put_customer(db, customer, fetched).await?;
            written(applied)?;
            users.extend(moved_to);
            users.extend(former.map(|u| User::new(u, customer.livemode)));
            users
        }
        StripeObject::CheckoutSession(session) => put_session(db, session, fetched).await?,
        StripeObject::Product(product) => {
            let existing = catalogue::product(db, &product.id).await?;
            let applied = fetched.replaces(existing.as_ref().map(|r| r.as_of));
            if applied {
                catalogue::save_product(db, existing, product, as_of).await?;
            }
            written(applied)?;
            subscriptions::users_of_product(db, &product.id).await?
        }
        StripeObject::Price(price) => {
            let existing = catalogue::price(db, &price.id).await?;
            let applied = fetched.replaces(existing.as_ref().map(|r| r.as_of));
            if applied {
                catalogue::save_price(db, existing, price, as_of).await?;
            }
            written(applied)?;
            Vec::new()
        }
        StripeObject::Subscribers(customer) => subscriptions::users_of_customer(db, customer).await?,
    })
}

/// Writes a subscription unless the stored one is newer. Returns whether it was written,
/// and its user now and (when that changed) before.
async fn put_subscription(
    db: &impl ConnectionTrait,
    sub: &Subscription,
    fetched: &Fetched,
) -> Result<(bool, Vec<String>), ApplyError> {
    let as_of = fetched.as_of;
    let existing = subscriptions::find(db, &sub.id).await?;
    if !fetched.replaces(existing.as_ref().map(|r| r.as_of)) {
        return Ok((false, existing.and_then(|row| row.user_id).into_iter().collect()));
    }
    let customer = customers::find(db, &sub.customer_id).await?;
    let linked = customer.as_ref().and_then(|c| c.user_id.clone());
    let user_id = lifecycle::subscription_owner(linked, sub.user_id.clone());
    let previous =
        existing.as_ref().and_then(|row| row.user_id.clone()).filter(|p| Some(p) != user_id.as_ref());
    let past_due_since = lifecycle::past_due_since(
        existing.as_ref().map(|row| (row.status, row.past_due_since)),
        sub.status,
        sub.current_period_start,
        as_of,
    );
    let users = user_id.iter().cloned().chain(previous).collect();
    // A deleted customer frees its user's link, not the trial that user used.
    let trial_user = user_id
        .clone()
        .or_else(|| customer.as_ref().filter(|c| c.deleted).and_then(|c| c.former_user_id.clone()));
    if let (Some(user), Some(_)) = (&trial_user, sub.trial_start) {
        let email_key = customer.as_ref().and_then(|c| c.email_normalized.clone());
        trials::confirm_used(db, user, email_key, sub.livemode, &sub.id).await?;
    }
    subscriptions::save(db, existing, sub, Ownership { user_id, past_due_since }, as_of).await?;
    Ok((true, users))
}

/// Writes a customer unless the stored one is newer; a deleted customer keeps its row,
/// marked deleted, and frees its user's link. A customer linked to another user takes its
/// subscriptions along. Returns whether it was written, the user it left, and the users
/// of its subscriptions when they moved (otherwise their owners are as they were).
async fn put_customer(
    db: &impl ConnectionTrait,
    customer: &Customer,
    fetched: &Fetched,
) -> Result<(bool, Option<String>, Vec<User>), ApplyError> {
    let as_of = fetched.as_of;
    let existing = customers::find(db, &customer.id).await?;
    // Deletion is final: no newer data can undo it, so it applies whatever the times say
    // (a deletion in the same second as the last refetch would otherwise look older).
    if let Some(row) = existing.clone().filter(|_| customer.deleted) {
        if !row.deleted {
            customers::mark_deleted(db, row, as_of.max(Utc::now())).await?;
        }
        return Ok((true, None, Vec::new()));
    }
    if existing.as_ref().is_some_and(|row| row.deleted)
        || !fetched.replaces(existing.as_ref().map(|r| r.as_of))
    {
        return Ok((false, None, Vec::new()));
    }
    if customer.deleted {
        // Deleted before billing saw it: stored as history only.
        let link =
            customers::Link { user_id: None, former_user_id: customer.user_id.clone(), email_key: None };
        customers::save(db, existing, customer, link, as_of).await?;
        return Ok((true, None, Vec::new()));
    }
    let current = existing.as_ref().and_then(|row| row.user_id.clone());
    let user_id = lifecycle::customer_owner(customer.user_id.clone(), current.clone());
    let former = current.filter(|c| Some(c) != user_id.as_ref());
    let newly_linked = existing.as_ref().is_none_or(|row| row.user_id.is_none()) && user_id.is_some();
    let moved = former.is_some() || newly_linked;
    let link = customers::Link {
        user_id: user_id.clone(),
        former_user_id: former.clone(),
        email_key: customer.email.as_deref().map(trials::normalize_email),
    };
    customers::save(db, existing, customer, link, as_of).await?;
    let email_key = customer.email.as_deref().map(trials::normalize_email);
    let moved_to = match moved {
        true => trials::reassign(db, &customer.id, user_id.as_deref(), email_key).await?,
        false => Vec::new(),
    };
    Ok((true, former, moved_to))
}

/// A Checkout Session links its customer to its user, settles the trial it carried, and
/// writes its subscription when expanded.
async fn put_session(
    db: &impl ConnectionTrait,
    session: &CheckoutSession,
    fetched: &Fetched,
) -> Result<Vec<User>, ApplyError> {
    let as_of = fetched.as_of;
    let mut users: Vec<String> = Vec::new();
    if let (Some(user), Some(customer)) = (&session.user_id, &session.customer_id) {
        // Owners before the link: a re-link moves access from one user to another.
        let before = subscriptions::users_of_customer(db, customer).await?;
        users.extend(before.into_iter().map(|u| u.user_id));
        link_customer(db, customer, user, session, as_of).await?;
    }
    trials::settle_session(db, session).await?;
    if let Some(status) = session.status {
        sessions::set_status(db, &session.id, status).await?;
    }
    if let Some(sub) = &session.subscription {
        users.extend(put_subscription(db, sub, fetched).await?.1);
    }
    users.extend(session.user_id.clone());
    Ok(users.into_iter().map(|u| User::new(u, session.livemode)).collect())
}

/// Links a customer to a user (checkout's `client_reference_id`), storing a stub when
/// the customer has not been seen yet.
async fn link_customer(
    db: &impl ConnectionTrait,
    customer: &str,
    user: &str,
    session: &CheckoutSession,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    match customers::find(db, customer).await? {
        Some(row) if row.user_id.as_deref() == Some(user) => Ok(()),
        // A customer that lost this user, to its deletion or to another user, stays as it
        // is: the session, delivered late or replayed, is older news than either.
        Some(row) if row.deleted || row.former_user_id.as_deref() == Some(user) => Ok(()),
        Some(row) if !lifecycle::session_may_link(row.metadata["user_id"].as_str(), user) => Ok(()),
        Some(row) => {
            customers::set_user(db, customer, user).await?;
            trials::reassign(db, customer, Some(user), row.email_normalized).await.map(drop)
        }
        None => {
            let email = session.email.as_deref().map(|e| (e, trials::normalize_email(e)));
            if !customers::insert_stub(db, customer, user, email, session.livemode, as_of).await? {
                // Stored a moment ago by another writer: only the link is ours to set.
                customers::set_user(db, customer, user).await?;
            }
            Ok(())
        }
    }
}
