//! Finding or creating a user's Stripe customer without ever creating two.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sea_orm::DatabaseConnection;

use super::apply::{Fetched, StripeObject, apply};
use crate::{error::ApiError, store::customers, stripe::StripeApi};

/// One lock per user, so concurrent checkouts of a user in this process queue up: each
/// finds the customer the previous one made, and closes the session it opened. Across
/// replicas, Stripe's idempotency key (derived from the user) returns the same customer.
#[derive(Clone, Default)]
pub struct UserLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl UserLocks {
    /// Waits for the user's lock; held until the guard is dropped.
    pub async fn lock(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget locks nobody holds, so the map does not grow with every user ever seen.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(user.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// The user's customer id, created at Stripe (with `metadata.user_id`) when missing.
/// The caller holds the user's lock.
pub async fn find_or_create(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    user: &str,
    email: &str,
    livemode: bool,
) -> Result<String, ApiError> {
    if let Some(customer) = customers::linked(db, user, livemode).await? {
        return Ok(customer.id);
    }
    let form =
        vec![("email".to_owned(), email.to_owned()), ("metadata[user_id]".to_owned(), user.to_owned())];
    let mode = if livemode { "live" } else { "test" };
    // A fixed key per user would replay a customer deleted since: each deleted customer
    // starts a new generation.
    let key = match customers::deleted_of(db, user, livemode).await? {
        0 => format!("caixa-customer-{mode}-{user}"),
        generation => format!("caixa-customer-{mode}-{user}-{generation}"),
    };
    let created = stripe.create_customer(&form, &key).await?;
    let id = created.id.clone();
    apply(db, &[Fetched::now(StripeObject::Customer(created))], None).await?;
    Ok(id)
}
