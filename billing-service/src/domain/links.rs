//! Linking customers that belong to no user (the seed's `fix_customer_links`): by their
//! `metadata.user_id`, by the `client_reference_id` of their completed checkouts, or by
//! email against the application's own user list. A match that is not unique is
//! reported, never guessed.

use std::collections::BTreeMap;

use sea_orm::DatabaseConnection;

use super::{
    apply::{ApplyError, Fetched, StripeObject, apply},
    trials::normalize_email,
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
}

impl Rule {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::Checkout => "checkout",
            Self::Email => "email",
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
            ([user], [customer]) if customers::linked(db, user, livemode).await?.is_none() => {
                plan.links.push(Link { customer: customer.clone(), user: user.clone(), rule: Rule::Email });
            }
            _ => plan.ambiguous.push(Ambiguous { key: email, users: candidates, customers: found }),
        }
    }
    Ok(plan)
}

/// Writes each link to Stripe (`metadata.user_id`) and applies the customer through the
/// one apply path, so its subscriptions' access follows.
pub async fn execute(db: &DatabaseConnection, stripe: &StripeApi, links: &[Link]) -> Result<u64, LinkError> {
    let mut revisions = 0;
    for link in links {
        let customer = match link.rule {
            Rule::Metadata => stripe.customer(&link.customer).await?,
            Rule::Checkout | Rule::Email => stripe.set_customer_user(&link.customer, &link.user).await?,
        };
        tracing::info!(customer = %link.customer, user = %link.user, rule = link.rule.name(), "customer linked");
        revisions += apply(db, &[Fetched::now(StripeObject::Customer(customer))], None).await?.len() as u64;
    }
    Ok(revisions)
}
