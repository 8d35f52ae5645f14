//! The one apply path: a Stripe event (or a synced object) becomes local rows, and every
//! user whose subscriptions changed gets a new revision, in one transaction.
//!
//! Order-safety: the object is refetched from Stripe and what Stripe says now is written.
//! When Stripe cannot be reached, the event's own payload is written only if it is newer
//! than the stored row; otherwise the event waits for a retry.

use caixa_entities::stripe_events;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::Value;

use super::stripe_json::{id_of, metadata_features, subscription_item};
use crate::{
    store::{StoreError, inbox, records, revisions, statement},
    stripe::{StripeApi, StripeCallError},
};

/// Why an event could not be applied (it will be retried).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The payload is not a Stripe event.
    #[error("unreadable event payload: {0}")]
    BadPayload(String),
    /// Stripe was unreachable and the payload is older than the stored state.
    #[error("Stripe unreachable ({0}) and the payload is older than the stored state")]
    StalePayload(String),
}

impl From<sea_orm::DbErr> for ApplyError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

/// What applying did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Revisions written (one per user whose state changed).
    pub revisions: Vec<i64>,
    /// Why nothing was done, for event types billing does not act on.
    pub ignored: Option<String>,
}

/// Applies events and synced objects.
#[derive(Clone)]
pub struct Applier {
    stripe: Option<StripeApi>,
}

/// An object to write, with the time of the data in it.
struct Fetched {
    object: Value,
    as_of: DateTime<Utc>,
    /// Set when Stripe could not be asked and this is the event's payload.
    fallback: Option<String>,
}

impl Applier {
    /// An applier that refetches through `stripe` when configured.
    pub fn new(stripe: Option<StripeApi>) -> Self {
        Self { stripe }
    }

    /// Applies a claimed inbox event and marks it done, in one transaction.
    pub async fn apply_event(
        &self,
        db: &DatabaseConnection,
        event: &stripe_events::Model,
        worker: &str,
    ) -> Result<Applied, ApplyError> {
        let payload: Value =
            serde_json::from_str(&event.payload).map_err(|e| ApplyError::BadPayload(e.to_string()))?;
        let object = &payload["data"]["object"];
        let kind = event.event_type.as_str();
        let created = event.stripe_created;
        let fetched = match kind.split('.').next() {
            Some("customer") if kind.starts_with("customer.subscription.") => Some(
                self.fetch(
                    &format!("/subscriptions/{}", id_of(&object["id"]).unwrap_or_default()),
                    object,
                    created,
                )
                .await,
            ),
            Some("customer") if kind == "customer.deleted" => {
                Some(Fetched { object: deleted(object), as_of: created, fallback: None })
            }
            Some("customer") => Some(
                self.fetch(
                    &format!("/customers/{}", id_of(&object["id"]).unwrap_or_default()),
                    object,
                    created,
                )
                .await,
            ),
            Some("checkout") => Some(
                self.fetch(
                    &format!(
                        "/checkout/sessions/{}?expand[]=subscription",
                        id_of(&object["id"]).unwrap_or_default()
                    ),
                    object,
                    created,
                )
                .await,
            ),
            Some("invoice") => match invoice_subscription(object) {
                Some(sub) => Some(self.fetch(&format!("/subscriptions/{sub}"), &Value::Null, created).await),
                None => None,
            },
            Some("product") => Some(
                self.fetch(
                    &format!("/products/{}", id_of(&object["id"]).unwrap_or_default()),
                    object,
                    created,
                )
                .await,
            ),
            Some("price") => Some(
                self.fetch(&format!("/prices/{}", id_of(&object["id"]).unwrap_or_default()), object, created)
                    .await,
            ),
            _ => None,
        };
        let product_features = match (kind.starts_with("product."), &fetched) {
            (true, Some(product)) => self.product_features(&product.object).await,
            _ => Vec::new(),
        };
        // A subscription whose product is not known yet (its product event is still on
        // the way) would publish a state without features; fetch the product first.
        let missing_product = match &fetched {
            Some(f) if !kind.starts_with("product.") => match &self.stripe {
                Some(stripe) => missing_product(db, stripe, &f.object).await?,
                None => None,
            },
            _ => None,
        };
        let txn = db.begin().await?;
        revisions::lock_for_sqlite(&txn).await?;
        let mut applied = Applied::default();
        let mut users: Vec<(String, bool)> = Vec::new();
        if let Some((product, features)) = &missing_product {
            records::upsert_product(&txn, product, features.clone(), Utc::now()).await?;
        }
        match (kind, fetched) {
            (_, Some(Fetched { object, fallback: Some(reason), .. })) if object.is_null() => {
                return Err(ApplyError::StalePayload(reason));
            }
            (k, Some(f)) if k.starts_with("customer.subscription.") || k.starts_with("invoice.") => {
                let up = records::upsert_subscription(&txn, &f.object, f.as_of).await?;
                stale_check(up.applied, &f)?;
                users.extend(
                    up.user_id
                        .into_iter()
                        .chain(up.previous_user_id)
                        .map(|u| (u, f.object["livemode"] == true)),
                );
            }
            (k, Some(f)) if k.starts_with("customer.") => {
                let up = records::upsert_customer(&txn, &f.object, f.as_of).await?;
                stale_check(up.applied, &f)?;
                users.extend(subscribers_of_customer(&txn, &f.object).await?);
            }
            (k, Some(f)) if k.starts_with("checkout.session.") => {
                users.extend(apply_checkout_session(&txn, &f.object, f.as_of).await?);
            }
            (k, Some(f)) if k.starts_with("product.") => {
                let mut features = metadata_features(&f.object);
                features.extend(product_features);
                features.sort();
                features.dedup();
                stale_check(records::upsert_product(&txn, &f.object, features, f.as_of).await?, &f)?;
                users.extend(
                    records::users_of_product(&txn, &id_of(&f.object["id"]).unwrap_or_default()).await?,
                );
            }
            (k, Some(f)) if k.starts_with("price.") => {
                stale_check(records::upsert_price(&txn, &f.object, f.as_of).await?, &f)?;
            }
            ("entitlements.active_entitlement_summary.updated", None) => {
                users.extend(
                    subscribers_of_customer(&txn, &serde_json::json!({ "id": object["customer"] })).await?,
                );
            }
            (other, _) => applied.ignored = Some(format!("billing does not act on {other}")),
        }
        applied.revisions = record_users(&txn, users).await?;
        let status = if applied.ignored.is_some() { "ignored" } else { "processed" };
        inbox::finish(&txn, &event.id, worker, status).await?;
        txn.commit().await?;
        Ok(applied)
    }

    /// The object from Stripe now, or the payload (as of the event) when Stripe cannot be
    /// asked.
    async fn fetch(&self, path: &str, payload: &Value, created: DateTime<Utc>) -> Fetched {
        let reason = match &self.stripe {
            Some(stripe) => match stripe.get(path).await {
                Ok(object) => return Fetched { object, as_of: Utc::now(), fallback: None },
                Err(err) => err.to_string(),
            },
            None => {
                StripeCallError::NotConfigured("STRIPE_TEST_SECRET_KEY or STRIPE_LIVE_SECRET_KEY").to_string()
            }
        };
        tracing::warn!(%path, %reason, "refetch failed; using the event payload if it is newer");
        Fetched { object: payload.clone(), as_of: created, fallback: Some(reason) }
    }

    async fn product_features(&self, product: &Value) -> Vec<String> {
        match &self.stripe {
            Some(stripe) => product_features(stripe, product).await,
            None => Vec::new(),
        }
    }
}

/// The product (and its feature keys) of a subscription, or of a session's expanded
/// subscription, when it is not stored yet: a state published without it would lack the
/// product's features.
pub async fn missing_product(
    db: &impl ConnectionTrait,
    stripe: &StripeApi,
    object: &Value,
) -> Result<Option<(Value, Vec<String>)>, ApplyError> {
    use caixa_entities::products;
    use sea_orm::EntityTrait;
    let subscription = if object["object"] == "checkout.session" { &object["subscription"] } else { object };
    let Some(product) = id_of(&subscription_item(subscription)["price"]["product"]) else { return Ok(None) };
    if products::Entity::find_by_id(product.clone()).one(db).await?.is_some() {
        return Ok(None);
    }
    let Ok(object) = stripe.get(&format!("/products/{product}")).await else { return Ok(None) };
    let mut features = metadata_features(&object);
    features.extend(product_features(stripe, &object).await);
    features.sort();
    features.dedup();
    Ok(Some((object, features)))
}

/// Lookup keys of the Stripe Entitlements features attached to a product.
async fn product_features(stripe: &StripeApi, product: &Value) -> Vec<String> {
    let path = format!("/products/{}/features?limit=100", id_of(&product["id"]).unwrap_or_default());
    match stripe.get(&path).await {
        Ok(list) => list["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|f| f["entitlement_feature"]["lookup_key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(err) => {
            tracing::warn!(error = %err, "cannot list product features");
            Vec::new()
        }
    }
}

/// Applies a Checkout Session: links its customer to its user, confirms or releases the
/// trial reservation, and writes its subscription when expanded. Returns the users whose
/// state must be recomputed. Also used by `SyncCheckoutSession`.
pub async fn apply_checkout_session(
    db: &impl ConnectionTrait,
    session: &Value,
    as_of: DateTime<Utc>,
) -> Result<Vec<(String, bool)>, ApplyError> {
    let livemode = session["livemode"] == true;
    let session_id = id_of(&session["id"]).unwrap_or_default();
    let user = session["client_reference_id"]
        .as_str()
        .or_else(|| session["metadata"]["user_id"].as_str())
        .map(str::to_owned);
    let customer = id_of(&session["customer"]);
    if let (Some(user), Some(customer)) = (&user, &customer) {
        let email =
            session["customer_details"]["email"].as_str().or_else(|| session["customer_email"].as_str());
        records::link_customer(db, customer, user, email, livemode, as_of).await?;
    }
    match session["status"].as_str() {
        Some("complete") => {
            let sql = "UPDATE trial_usage SET state = 'confirmed', subscription_id = $1, confirmed_at = $2, updated_at = $2 \
                       WHERE checkout_session_id = $3 AND state = 'reserved'";
            let values =
                vec![id_of(&session["subscription"]).into(), Utc::now().into(), session_id.clone().into()];
            db.execute_raw(statement(db, sql, values)).await?;
        }
        Some("expired") => {
            let sql = "DELETE FROM trial_usage WHERE checkout_session_id = $1 AND state = 'reserved'";
            db.execute_raw(statement(db, sql, vec![session_id.into()])).await?;
        }
        _ => {}
    }
    let mut users = Vec::new();
    if session["subscription"].is_object() {
        let up = records::upsert_subscription(db, &session["subscription"], as_of).await?;
        users.extend(up.user_id.into_iter().chain(up.previous_user_id).map(|u| (u, livemode)));
    }
    users.extend(user.map(|u| (u, livemode)));
    Ok(users)
}

/// Records the state of each user once; returns the revisions written.
pub async fn record_users(
    db: &impl ConnectionTrait,
    mut users: Vec<(String, bool)>,
) -> Result<Vec<i64>, ApplyError> {
    users.sort();
    users.dedup();
    let mut revisions = Vec::new();
    for (user, livemode) in users {
        let state = records::user_state(db, &user, livemode).await?;
        revisions.push(revisions::record(db, &user, livemode, &state).await?);
    }
    Ok(revisions)
}

fn stale_check(applied: bool, fetched: &Fetched) -> Result<(), ApplyError> {
    match (&fetched.fallback, applied) {
        (Some(reason), false) => Err(ApplyError::StalePayload(reason.clone())),
        _ => Ok(()),
    }
}

fn deleted(object: &Value) -> Value {
    let mut object = object.clone();
    object["deleted"] = Value::Bool(true);
    object
}

/// The subscription an invoice belongs to (current and older API versions).
fn invoice_subscription(invoice: &Value) -> Option<String> {
    id_of(&invoice["parent"]["subscription_details"]["subscription"])
        .or_else(|| id_of(&invoice["subscription"]))
}

async fn subscribers_of_customer(
    db: &impl ConnectionTrait,
    customer: &Value,
) -> Result<Vec<(String, bool)>, StoreError> {
    use caixa_entities::subscriptions;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id = id_of(&customer["id"]).unwrap_or_default();
    let rows = subscriptions::Entity::find().filter(subscriptions::Column::CustomerId.eq(id)).all(db).await?;
    Ok(rows.into_iter().filter_map(|r| r.user_id.map(|u| (u, r.livemode))).collect())
}
