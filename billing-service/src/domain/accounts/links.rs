//! Linking customers that belong to no user (the seed's `fix_customer_links`): by their
//! `metadata.user_id`, by the `client_reference_id` of their completed checkouts, or by
//! email against the application's own user list. A match that is not unique is
//! reported, never guessed.

use std::collections::BTreeMap;

use sea_orm::DatabaseConnection;

use crate::domain::{
    accounts::trials::normalize_email,
    objects::apply::{ApplyError, Fetched, StripeObject, apply},
};
use crate::{
    store::{StoreError, customers},
    stripe::{
        StripeApi, StripeCallError,
        lists::{Listing, Page},
    },
};

/// Why linking failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Stripe failed.
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    /// Applying failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl From<StoreError> for LinkError {
    fn from(err: StoreError) -> Self {
        Self::Apply(err.into())
    }
}

/// How a link was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The customer's own `metadata.user_id`.
    Metadata,
    /// The `client_reference_id` of its completed Checkout Sessions.
    Checkout,
    /// Its email, matched against the application's users.
    Email,
    /// The operator's link file (dj-stripe's `djstripe_customer.subscriber_id`).
    File,
}

impl Rule {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::Checkout => "checkout",
            Self::Email => "email",
            Self::File => "file",
        }
    }
}

/// A customer to link, and to whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// `cus_...`.
    pub customer: String,
    /// The user.
    pub user: String,
    /// How it was found.
    pub rule: Rule,
}

/// A match that is not unique: left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguous {
    /// What was matched on (an email, or a customer's checkout users).
    pub key: String,
    /// The candidate users.
    pub users: Vec<String>,
    /// The candidate customers.
    pub customers: Vec<String>,
}

/// What linking would do (or did).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkPlan {
    /// Links found.
    pub links: Vec<Link>,
    /// Matches left alone.
    pub ambiguous: Vec<Ambiguous>,
    /// Customers still belonging to no user.
    pub unlinked: Vec<String>,
}

/// Finds a user for every customer at Stripe (of `livemode`) that has none; `users` is
/// the application's `(user_id, email)` list for the email rule.
pub async fn plan(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    livemode: bool,
    users: &[(String, String)],
) -> Result<LinkPlan, LinkError> {
    let mut plan = LinkPlan::default();
    let mut by_email: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let Page { items, next } = stripe.objects_page(Listing::Customers, None, after.as_deref()).await?;
        for object in items {
            let StripeObject::Customer(customer) = object else { continue };
            let stored = customers::find(db, &customer.id).await?;
            if customer.deleted || stored.as_ref().is_some_and(|c| c.user_id.is_some()) {
                continue;
            }
            if let Some(user) = customer.user_id.clone() {
                plan.links.push(Link { customer: customer.id, user, rule: Rule::Metadata });
                continue;
            }
            match stripe.checkout_users(&customer.id).await?.as_slice() {
                [user] => {
                    plan.links.push(Link { customer: customer.id, user: user.clone(), rule: Rule::Checkout })
                }
                [] => match &customer.email {
                    Some(email) => by_email.entry(normalize_email(email)).or_default().push(customer.id),
                    None => plan.unlinked.push(customer.id),
                },
                several => plan.ambiguous.push(Ambiguous {
                    key: format!("checkouts of {}", customer.id),
                    users: several.to_vec(),
                    customers: vec![customer.id],
                }),
            }
        }
        match next {
            Some(id) => after = Some(id),
            None => break,
        }
    }
    let mut known: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (user, email) in users {
        known.entry(normalize_email(email)).or_default().push(user.clone());
    }
    for (email, found) in by_email {
        let candidates = known.get(&email).cloned().unwrap_or_default();
        match (candidates.as_slice(), found.as_slice()) {
            ([], _) => plan.unlinked.extend(found),
            ([user], [customer]) if customers::linked(db, user, livemode).await?.is_empty() => {
                plan.links.push(Link { customer: customer.clone(), user: user.clone(), rule: Rule::Email });
            }
            _ => plan.ambiguous.push(Ambiguous { key: email, users: candidates, customers: found }),
        }
    }
    Ok(plan)
}

/// Plans the links of an operator's file, `(customer, user)` pairs: a customer already
/// linked to its user needs nothing, one whose metadata names another user is left alone
/// (reported as ambiguous), a deleted one has nothing to link. Returns the plan and the
/// customers Stripe does not know, which refuse the whole file.
pub async fn plan_file(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    pairs: &[(String, String)],
) -> Result<(LinkPlan, Vec<String>), LinkError> {
    let mut plan = LinkPlan::default();
    let mut unknown = Vec::new();
    let stored = customers::find_many(db, pairs.iter().map(|(c, _)| c.clone()).collect()).await?;
    let stored: BTreeMap<String, _> = stored.into_iter().map(|row| (row.id.clone(), row)).collect();
    for (customer, user) in pairs {
        let (deleted, owner) = match stored.get(customer) {
            Some(row) => (row.deleted, row.user_id.clone()),
            None => match stripe.customer(customer).await {
                Ok(found) => (found.deleted, found.user_id),
                Err(StripeCallError::NotFound(_)) => {
                    unknown.push(customer.clone());
                    continue;
                }
                Err(err) => return Err(err.into()),
            },
        };
        match owner {
            _ if deleted => {}
            Some(owner) if &owner == user => {}
            Some(owner) => plan.ambiguous.push(Ambiguous {
                key: format!("{customer} is linked to {owner}"),
                users: vec![owner, user.clone()],
                customers: vec![customer.clone()],
            }),
            None => {
                plan.links.push(Link { customer: customer.clone(), user: user.clone(), rule: Rule::File })
            }
        }
    }
    Ok((plan, unknown))
}

/// Writes each link to Stripe (`metadata.user_id`) and applies the customer through the
/// one apply path, so its subscriptions' access follows.
pub async fn execute(db: &DatabaseConnection, stripe: &StripeApi, links: &[Link]) -> Result<u64, LinkError> {
    use futures_util::{StreamExt, TryStreamExt};
    // Each link waits on Stripe's round trip: on PostgreSQL several are in flight (each
    // its own customer, so their applies do not meet); SQLite has one writer.
    let in_flight = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => LINKS_IN_FLIGHT,
        _ => 1,
    };
    futures_util::stream::iter(links)
        .map(|link| async move {
            let customer = match link.rule {
                Rule::Metadata => stripe.customer(&link.customer).await?,
                Rule::Checkout | Rule::Email | Rule::File => {
                    stripe.set_customer_user(&link.customer, &link.user).await?
                }
            };
            tracing::info!(customer = %link.customer, user = %link.user, rule = link.rule.name(), "customer linked");
            let written = apply(db, &[Fetched::now(StripeObject::Customer(customer))], None).await?;
            Ok::<u64, LinkError>(written.len() as u64)
        })
        .buffer_unordered(in_flight)
        .try_fold(0, |total, revisions| async move { Ok(total + revisions) })
        .await
}

/// Links made at once, and copies to `metadata.user_id` in flight: within Stripe's rate
/// limits at its usual latency.
const LINKS_IN_FLIGHT: usize = 8;

/// Copies to `metadata.user_id` at Stripe the link of every customer among `applied`
/// whose user another key than `user_id` names (dj-stripe's `djstripe_subscriber`), so
/// that both apps agree during a dual run. Called after an apply by every path that
/// refetches customers (inbox, sync, reconciliation). Idempotent; a failure is logged and
/// left to the customer's next event or sync. Returns how many were copied.
pub async fn copy_links(stripe: &StripeApi, applied: &[Fetched]) -> usize {
    use futures_util::StreamExt;
    let links: Vec<(String, String)> = applied
        .iter()
        .filter_map(|fetched| match &fetched.object {
            StripeObject::Customer(c) if !c.deleted && c.named_by_other_key => {
                c.user_id.clone().map(|user| (c.id.clone(), user))
            }
            _ => None,
        })
        .collect();
    let copies = futures_util::stream::iter(links).map(|(customer, user)| async move {
        match stripe.set_customer_user(&customer, &user).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(%customer, error = %err, "cannot copy the link to metadata.user_id; tried again at its next event or sync");
                false
            }
        }
    });
    copies.buffer_unordered(LINKS_IN_FLIGHT).filter(|copied| std::future::ready(*copied)).count().await
}
