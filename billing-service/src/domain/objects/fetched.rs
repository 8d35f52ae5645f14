//! An object on its way to the apply path, with the time of its data and where the data
//! came from: together they decide which stored rows it may replace.

use chrono::{DateTime, Utc};

use crate::domain::objects::lifecycle;
use crate::stripe::objects::StripeObject;

/// An object to write, with the time of the data in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// The object.
    pub object: StripeObject,
    /// Time of its data: ours when Stripe's answer arrived, Stripe's for a payload.
    pub as_of: DateTime<Utc>,
    /// Where the data came from, which decides what it may replace.
    pub source: Source,
}

/// Where an object's data came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Stripe's answer, or an event that says all there is (a deleted customer).
    Stripe,
    /// An event's payload because Stripe could not be asked (why): the apply fails when
    /// it is older than the stored row, so that the event is retried.
    Fallback(String),
    /// An event's payload applied ahead of Stripe's answer: it replaces only a row it
    /// provably leads, else the apply fails and the event takes the usual path.
    Early,
}

impl Fetched {
    /// An object Stripe gave just now.
    pub fn now(object: StripeObject) -> Self {
        Self { object, as_of: Utc::now(), source: Source::Stripe }
    }

    /// Whether this data may replace a row holding data as of `stored`.
    pub(super) fn replaces(&self, stored: Option<DateTime<Utc>>) -> bool {
        match self.source {
            Source::Early => stored.is_none_or(|stored| lifecycle::payload_leads(stored, self.as_of)),
            _ => lifecycle::may_replace(stored, self.as_of),
        }
    }
}

/// Products fetched in the last few seconds. Chains settled side by side often lack the
/// same product (a new plan's first subscribers): it is asked of Stripe once, not once
/// per chain, and kept with the time of Stripe's answer so that it never overwrites a
/// newer row.
#[derive(Clone, Default)]
pub struct RecentProducts(std::sync::Arc<tokio::sync::Mutex<Vec<(std::time::Instant, Fetched)>>>);

/// How long a fetched product stands in for asking again.
const FRESH: std::time::Duration = std::time::Duration::from_secs(10);

impl RecentProducts {
    /// Product `id`, fetched within [`FRESH`] or now. Misses wait for one another, so
    /// concurrent chains that lack one product make one request.
    pub async fn get(
        &self,
        stripe: &crate::stripe::StripeApi,
        id: &str,
    ) -> Result<Fetched, crate::stripe::StripeCallError> {
        let mut recent = self.0.lock().await;
        recent.retain(|(at, _)| at.elapsed() < FRESH);
        let known = recent.iter().find(|(_, f)| matches!(&f.object, StripeObject::Product(p) if p.id == id));
        if let Some((_, fetched)) = known {
            return Ok(fetched.clone());
        }
        let fetched = Fetched::now(StripeObject::Product(stripe.product(id).await?));
        recent.push((std::time::Instant::now(), fetched.clone()));
        Ok(fetched)
    }
}
