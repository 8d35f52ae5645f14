//! An offline, stateful stand-in for Stripe's API and webhooks.
//!
//! It serves the parts of `/v1` the billing service calls (customers, products, prices,
//! features, Checkout Sessions, Customer Portal sessions, subscriptions, webhook
//! endpoints, events), form-encoded like Stripe, with objects shaped from Stripe's own
//! fixtures (`fixtures/fixtures3.json`, MIT). Control routes under `/_emulator` complete
//! checkouts, move a test clock, fail payments, cancel, pause and resume, and inject
//! webhook chaos. Events are delivered to registered endpoints signed exactly as Stripe
//! signs them, with retries.
//!
//! Tests start it in-process with [`Emulator::start`]; the local stack runs the
//! `stripe-emulator` binary (or embeds it) when no Stripe key is configured.

mod api;
mod changes;
mod control;
mod delivery;
mod entitlements;
mod error;
mod form;
mod lifecycle;
mod limits;
mod render;
mod signature;
mod world;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

pub use signature::sign;
use tokio::{net::TcpListener, task::JoinHandle};

/// The API version stamped on events and webhook endpoints unless one is asked for.
pub const DEFAULT_API_VERSION: &str = "2026-09-30.endive";

/// How the emulator behaves; the defaults suit tests and local development.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Delay before each webhook retry; the number of entries is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// How long one webhook delivery may take before it counts as failed.
    pub delivery_timeout: Duration,
    /// Base URL of hosted pages (checkout, portal); defaults to the emulator's own address.
    pub public_url: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            // Stripe retries for up to three days; the emulator compresses the schedule.
            retry_schedule: [50, 100, 200, 400, 800, 1600, 3200]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            delivery_timeout: Duration::from_secs(5),
            public_url: None,
        }
    }
}

/// Shared state behind every route.
#[derive(Clone)]
pub(crate) struct AppState {
    pub world: Arc<Mutex<world::World>>,
    pub deliveries: delivery::Deliverer,
}

/// A running emulator.
pub struct Emulator {
    addr: SocketAddr,
    state: AppState,
    task: JoinHandle<()>,
}

impl Emulator {
    /// Starts an emulator on `addr` (port 0 picks a free port).
    pub async fn start(addr: SocketAddr, config: EmulatorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let deliveries = delivery::Deliverer::new(config.retry_schedule.clone(), config.delivery_timeout);
        let world = Arc::new(Mutex::new(world::World::new(public_url, deliveries.clone())));
        let state = AppState { world, deliveries };
        let router = api::router(state.clone());
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(err) = axum::serve(listener, service).await {
                tracing::error!(error = %err, "stripe emulator stopped");
            }
        });
        Ok(Self { addr, state, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates a test-mode product (granting the features `app` and `reports`, the one the
    /// client examples guard) with a monthly price and
    /// returns the price id: a plan to sell when the account starts empty.
    pub fn seed_plan(&self, name: &str, amount: i64, currency: &str) -> Result<String, String> {
        let mut world = self.state.world.lock().map_err(|_| "emulator state poisoned".to_owned())?;
        api::seed_plan(&mut world, name, amount, currency).map_err(|err| err.message)
    }

    /// Its base URL, for `STRIPE_API_BASE`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
