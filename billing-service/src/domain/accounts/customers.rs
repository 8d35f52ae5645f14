//! Finding or creating a user's Stripe customer without ever creating two.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use caixa_entities::customers as rows;
use caixa_entities::state::SubscriptionState;
use caixa_policy::{Decision, Policy};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait};

use crate::domain::objects::apply::{Fetched, StripeObject, apply};
use crate::{
    error::BillingError,
    store::{StoreError, customers, subscriptions},
    stripe::StripeApi,
};

/// One lock per user, so concurrent checkouts of a user queue up: each finds the
/// customer the previous one made, and closes the session it opened. In this process an
/// in-memory lock; across replicas on PostgreSQL, a transaction-scoped advisory lock on
/// the user, held until the checkout is done. (SQLite has one process.)
#[derive(Clone, Default)]
pub struct UserLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A user's checkout lock; [`Held::release`] gives it back.
pub struct Held {
    _local: tokio::sync::OwnedMutexGuard<()>,
    shared: Option<DatabaseTransaction>,
}

impl Held {
    /// Gives the lock back now.
    pub async fn release(mut self) {
        if let Some(txn) = self.shared.take()
            && let Err(err) = txn.rollback().await
        {
            tracing::warn!(error = %err, "releasing a checkout lock failed; it ends with its connection");
        }
    }
}

impl Drop for Held {
    /// A checkout abandoned midway (its caller went away) still gives the lock back,
    /// instead of leaving it on a pooled connection until that is used again.
    fn drop(&mut self) {
        if let Some(txn) = self.shared.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { drop(txn.rollback().await) });
        }
    }
}

impl UserLocks {
    /// Waits for the user's lock, in this process and then in the database.
    pub async fn lock(&self, db: &DatabaseConnection, user: &str) -> Result<Held, StoreError> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget locks nobody holds, so the map does not grow with every user ever seen.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(user.to_owned()).or_default().clone()
        };
        let local = lock.lock_owned().await;
        let shared = match db.get_database_backend() {
            DbBackend::Postgres => {
                let txn = db.begin().await?;
                customers::lock_user(&txn, user).await?;
                Some(txn)
            }
            _ => None,
        };
        Ok(Held { _local: local, shared })
    }
}

/// The customer the portal and new checkouts use, of the several a user may have (old
/// accounts hold duplicates from races and re-signups; access is the union of all their
/// subscriptions): the one whose subscription decides the user's access now, else the
/// newest created.
pub async fn preferred(
    db: &impl ConnectionTrait,
    user: &str,
    livemode: bool,
    policy: &Policy,
) -> Result<Option<rows::Model>, StoreError> {
    let linked = customers::linked(db, user, livemode).await?;
    if linked.len() < 2 {
        return Ok(linked.into_iter().next());
    }
    let state = subscriptions::user_state(db, user, livemode).await?;
    let decision = policy.decide(&state.subscriptions, None, Utc::now().timestamp());
    Ok(pick(linked, granting(&decision)))
}

/// The customer whose subscription grants access in `decision`, if it grants.
pub fn granting<'a>(decision: &Decision<'a, SubscriptionState>) -> Option<&'a str> {
    decision.subscription.filter(|_| decision.allowed).map(|s| s.customer_id.as_str())
}

/// Of a user's `linked` customers (newest created first), the one holding the `granting`
/// subscription's customer id, else the newest.
pub fn pick(mut linked: Vec<rows::Model>, granting: Option<&str>) -> Option<rows::Model> {
    match linked.iter().position(|c| Some(c.id.as_str()) == granting) {
        Some(at) => Some(linked.swap_remove(at)),
        None => linked.into_iter().next(),
    }
}

/// The user's customer id ([`preferred`]), created at Stripe (with `metadata.user_id`)
/// when missing, and whether it was created by this call. The caller holds the user's
/// lock.
pub async fn find_or_create(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    (user, email): (&str, &str),
    livemode: bool,
    policy: &Policy,
) -> Result<(String, bool), BillingError> {
    if let Some(customer) = preferred(db, user, livemode, policy).await? {
        return Ok((customer.id, false));
    }
    let mode = if livemode { "live" } else { "test" };
    // A fixed key per user would replay a customer deleted since: each deleted customer
    // starts a new generation.
    let key = match customers::deleted_of(db, user, livemode).await? {
        0 => format!("caixa-customer-{mode}-{user}"),
        generation => format!("caixa-customer-{mode}-{user}-{generation}"),
    };
    let created = stripe.create_customer((user, email), &key).await?;
    let id = created.id.clone();
    apply(db, &[Fetched::now(StripeObject::Customer(created))], None).await?;
    Ok((id, true))
}
