//! Stripe's list endpoints, one page at a time (100 objects, `starting_after`), so a
//! caller walking a large account holds one page in memory.

use serde_json::Value;

use super::{
    StripeApi, StripeCallError,
    event::StripeEvent,
    objects::{Customer, Price, Product, StripeObject, Subscription, entitlement_features},
};

/// The kinds of object billing walks a whole account for, in the order they are applied
/// (a subscription's state carries its product's features; a customer's link decides a
/// subscription's owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Listing {
    /// `GET /products`, each with its features.
    Products,
    /// `GET /prices`.
    Prices,
    /// `GET /customers`.
    Customers,
    /// `GET /subscriptions?status=all`.
    Subscriptions,
}

impl Listing {
    /// Every kind, in the order to apply them.
    pub const ALL: [Listing; 4] = [Self::Products, Self::Prices, Self::Customers, Self::Subscriptions];

    /// Its name on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Prices => "prices",
            Self::Customers => "customers",
            Self::Subscriptions => "subscriptions",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// The objects, in Stripe's order.
    pub items: Vec<T>,
    /// The id to ask for the next page with, when there is one.
    pub next: Option<String>,
}

impl StripeApi {
    async fn page<T>(
        &self,
        path: &str,
        after: Option<&str>,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<Page<T>, StripeCallError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit=100");
        if let Some(after) = after {
            url.push_str(&format!("&starting_after={after}"));
        }
        let list = self.get(&url).await?;
        let data = list["data"].as_array().cloned().unwrap_or_default();
        let last = data.last().and_then(|o| o["id"].as_str()).map(str::to_owned);
        let next = if list["has_more"] == true { last } else { None };
        Ok(Page { items: data.iter().filter_map(parse).collect(), next })
    }

    /// Events created at or after `since` (Unix seconds), newest first, each with its raw
    /// JSON as the webhook would have carried it.
    pub async fn events_page(
        &self,
        since: i64,
        after: Option<&str>,
    ) -> Result<Page<(StripeEvent, String)>, StripeCallError> {
        self.page(&format!("/events?created[gte]={since}"), after, |event| {
            let raw = event.to_string();
            StripeEvent::parse(raw.as_bytes()).ok().map(|parsed| (parsed, raw))
        })
        .await
    }

    /// A page of `listing`, as the objects billing keeps; with `since`, only customers and
    /// subscriptions created at or after it (Unix seconds, Stripe's `created[gte]`), while
    /// the catalogue is always listed whole.
    pub async fn objects_page(
        &self,
        listing: Listing,
        since: Option<i64>,
        after: Option<&str>,
    ) -> Result<Page<StripeObject>, StripeCallError> {
        fn wrap<T>(page: Page<T>, into: fn(T) -> StripeObject) -> Page<StripeObject> {
            Page { items: page.items.into_iter().map(into).collect(), next: page.next }
        }
        let created = since.map(|since| format!("created[gte]={since}"));
        Ok(match listing {
            Listing::Products => wrap(self.products_page(after).await?, StripeObject::Product),
            Listing::Prices => {
                wrap(self.page("/prices", after, |p| Some(Price::from_json(p))).await?, StripeObject::Price)
            }
            Listing::Customers => {
                let path = created.map_or_else(|| "/customers".to_owned(), |c| format!("/customers?{c}"));
                wrap(
                    self.page(&path, after, |c| Some(Customer::from_json(c, self.user_keys()))).await?,
                    StripeObject::Customer,
                )
            }
            Listing::Subscriptions => {
                let path = match created {
                    Some(c) => format!("/subscriptions?status=all&{c}"),
                    None => "/subscriptions?status=all".to_owned(),
                };
                let page = self.page(&path, after, |s| Some(Subscription::from_json(s))).await?;
                wrap(page, StripeObject::Subscription)
            }
        })
    }

    /// Products, each with its Stripe Entitlements features.
    pub async fn products_page(&self, after: Option<&str>) -> Result<Page<Product>, StripeCallError> {
        let page = self.page("/products", after, |p| Some(Product::from_json(p))).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for product in page.items {
            let features = self.get(&format!("/products/{}/features?limit=100", product.id)).await?;
            items.push(product.with_features(entitlement_features(&features)));
        }
        Ok(Page { items, next: page.next })
    }
}
