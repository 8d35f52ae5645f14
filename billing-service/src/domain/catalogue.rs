//! The plans on sale, for a pricing page: built from the stored catalogue, held in memory
//! and answered from there, and read again every second so that a product or price event
//! applied by any billing replica reaches every replica's answer.

use std::{cmp::Ordering, collections::BTreeMap, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use caixa_entities::{prices, products};
use caixa_runtime::{grpc::ServeError, shutdown::DrainSignal};
use caixa_types::Limit;
use sea_orm::DatabaseConnection;

use crate::store::{self, StoreError};

/// How often the stored catalogue is read again.
const REFRESH: Duration = Duration::from_secs(1);

/// The product metadata key that orders plans for display.
pub const ORDER_KEY: &str = "order";

/// One price on sale, with what its product grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// `price_...`.
    pub price_id: String,
    /// `prod_...`.
    pub product_id: String,
    /// The product's name.
    pub name: String,
    /// The product's description.
    pub description: Option<String>,
    /// Amount per period and seat, in the currency's smallest unit.
    pub unit_amount: i64,
    /// Currency code.
    pub currency: String,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    /// Intervals per period.
    pub interval_count: u32,
    /// Features granted, sorted, each with its limit if the product sets one.
    pub features: Vec<(String, Option<Limit>)>,
    /// The price's lookup key.
    pub lookup_key: Option<String>,
    /// The product's `order` metadata.
    pub order: Option<i32>,
}

/// The plans among `products` and `prices` (one mode's rows): active recurring prices of
/// active products, in display order.
pub fn plans(products: &[products::Model], prices: &[prices::Model]) -> Vec<Plan> {
    let products: BTreeMap<&str, &products::Model> =
        products.iter().filter(|p| p.active).map(|p| (p.id.as_str(), p)).collect();
    let mut plans: Vec<Plan> = prices
        .iter()
        .filter(|price| price.active)
        .filter_map(|price| {
            let product = products.get(price.product_id.as_str())?;
            let interval = price.recurring_interval.clone()?;
            let features: Vec<String> = serde_json::from_value(product.features.clone()).unwrap_or_default();
            let limits: BTreeMap<String, Limit> =
                serde_json::from_value(product.limits.clone()).unwrap_or_default();
            Some(Plan {
                price_id: price.id.clone(),
                product_id: product.id.clone(),
                name: product.name.clone(),
                description: product.description.clone(),
                unit_amount: price.unit_amount.unwrap_or(0),
                currency: price.currency.clone(),
                interval,
                interval_count: price
                    .recurring_interval_count
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(1),
                features: features
                    .into_iter()
                    .map(|feature| {
                        let limit = limits.get(&feature).copied();
                        (feature, limit)
                    })
                    .collect(),
                lookup_key: price.lookup_key.clone(),
                order: order_of(&product.metadata),
            })
        })
        .collect();
    plans.sort_by(display_order);
    plans
}

/// `order` metadata as a whole number; anything else reads as none.
fn order_of(metadata: &serde_json::Value) -> Option<i32> {
    metadata.get(ORDER_KEY)?.as_str()?.trim().parse().ok()
}

fn display_order(a: &Plan, b: &Plan) -> Ordering {
    let rank = |p: &Plan| (p.order.is_none(), p.order.unwrap_or(0));
    rank(a).cmp(&rank(b)).then(a.unit_amount.cmp(&b.unit_amount)).then_with(|| a.price_id.cmp(&b.price_id))
}

/// The plans of one mode, in memory. Cheap to clone; clones share the plans.
#[derive(Clone)]
pub struct Catalogue {
    db: DatabaseConnection,
    livemode: bool,
    plans: Arc<ArcSwap<Vec<Plan>>>,
}

impl Catalogue {
    /// The catalogue of `livemode` rows in `db`, read once now. A database that cannot
    /// be read yet leaves it empty until a later read succeeds, as billing starts anyway.
    pub async fn load(db: DatabaseConnection, livemode: bool) -> Self {
        let catalogue = Self { db, livemode, plans: Arc::default() };
        if let Err(error) = catalogue.refresh().await {
            tracing::warn!(%error, "cannot read the catalogue yet; no plans until it can be read");
        }
        catalogue
    }

    /// The plans as last read.
    pub fn plans(&self) -> Arc<Vec<Plan>> {
        self.plans.load_full()
    }

    /// Reads the stored catalogue again.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let (products, prices) = store::catalogue::of_mode(&self.db, self.livemode).await?;
        let fresh = plans(&products, &prices);
        if *self.plans.load_full() != fresh {
            tracing::debug!(plans = fresh.len(), "plans on sale changed");
            self.plans.store(Arc::new(fresh));
        }
        Ok(())
    }

    /// Reads the catalogue again every second until the drain.
    pub async fn run(self, drain: DrainSignal) -> Result<(), ServeError> {
        let drained = drain.wait();
        tokio::pin!(drained);
        // A database that is down stays down for many reads: said once when it starts
        // failing and once when it is back, not every second.
        let mut failing = false;
        loop {
            tokio::select! {
                () = &mut drained => return Ok(()),
                () = tokio::time::sleep(REFRESH) => {}
            }
            match self.refresh().await {
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot read the catalogue; plans answered as last read");
                }
                Err(error) => tracing::debug!(%error, "cannot read the catalogue"),
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("the catalogue is read again");
                }
                Ok(()) => {}
            }
        }
    }
}
