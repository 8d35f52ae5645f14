//! Driving the scenario: the world (database, emulator, billing as a process, the
//! entitlement service) and each user's seeded life in it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use caixa_proto::billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::wait_for_health,
    process::ServiceProcess,
};
use sea_orm::DatabaseConnection;
use tokio::sync::Mutex;
use tonic_health::pb::health_check_response::ServingStatus;

use super::Scenario;
use crate::{TestEntitlement, inbox_settled, spawn_entitlement, stripe::StripeEmulator};

/// The health service name billing reports under.
const BILLING_HEALTH: &str = "caixa.billing.v1.BillingService";

/// What happens to a user after checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Nothing,
    CancelNow,
    CancelAtPeriodEnd,
    Pause,
    PauseThenResume,
    Relink,
    DeleteThenCheckOutAgain,
}

/// How a user's checkout ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Complete,
    Expire,
    LeaveOpen,
}

/// One user's life as the scenario lived it.
#[derive(Clone, Debug)]
pub struct Life {
    /// The user who checked out.
    pub user: String,
    /// The email they gave.
    pub email: String,
    /// Every user id whose access the scenario touched (a re-link adds one).
    pub users: Vec<String>,
    retry: bool,
    ending: Ending,
    declines: bool,
    action: Action,
    customer: Option<String>,
    subscription: Option<String>,
}

impl Life {
    /// User `i`'s life, from the seed alone.
    fn plan(seed: u64, i: usize) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let user = format!("u{i}");
        // One user in twenty signs up with the previous user's email.
        let email = if i > 0 && rng.u8(0..20) == 0 {
            format!("u{}@example.com", i - 1)
        } else {
            format!("{user}@example.com")
        };
        let ending = match rng.u8(0..100) {
            0..85 => Ending::Complete,
            85..90 => Ending::Expire,
            _ => Ending::LeaveOpen,
        };
        let action = match rng.u8(0..100) {
            0..55 => Action::Nothing,
            55..65 => Action::CancelNow,
            65..75 => Action::CancelAtPeriodEnd,
            75..80 => Action::Pause,
            80..85 => Action::PauseThenResume,
            85..92 => Action::Relink,
            _ => Action::DeleteThenCheckOutAgain,
        };
        Self {
            users: vec![user.clone()],
            user,
            email,
            retry: rng.u8(0..5) == 0,
            ending,
            declines: rng.u8(0..100) < 15,
            action,
            customer: None,
            subscription: None,
        }
    }
}

/// Everything the scenario runs against.
pub struct World {
    /// The database billing and the entitlement service share, kept for the run.
    _db: TestDatabase,
    /// A connection to it.
    pub conn: DatabaseConnection,
    /// Stripe.
    pub stripe: StripeEmulator,
    /// Billing's gRPC address (the same across restarts).
    pub grpc_addr: SocketAddr,
    /// The entitlement service.
    pub entitlement: TestEntitlement,
    billing: Mutex<ServiceProcess>,
    program: PathBuf,
    env: Vec<(&'static str, String)>,
}

/// A client of billing, or `None` while it is not listening (being restarted).
async fn billing_client(addr: SocketAddr) -> Option<BillingServiceClient<tonic::transport::Channel>> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).ok()?;
    endpoint.connect().await.ok().map(BillingServiceClient::new)
}

/// Waits until billing listens and reports SERVING.
async fn wait_for_billing(addr: SocketAddr) {
    for _ in 0..300 {
        if billing_client(addr).await.is_some() {
            wait_for_health(addr, BILLING_HEALTH, ServingStatus::Serving, Duration::from_secs(30)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("billing never listened on {addr}");
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

impl World {
    /// Starts everything, billing as a process on fixed ports so a restart keeps them.
    pub async fn start(scenario: &Scenario) -> Self {
        let db = TestDatabase::migrated(Backend::Postgres).await;
        let stripe = StripeEmulator::start().await;
        let price = stripe.monthly_price().await;
        let (grpc_addr, http_addr) = (free_port(), free_port());
        let mut env = stripe.billing_env();
        env.extend([
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_GRPC_ADDR", grpc_addr.to_string()),
            ("BILLING_HTTP_ADDR", http_addr.to_string()),
            ("STRIPE_DEFAULT_PRICE_ID", price),
            ("STRIPE_TRIAL_DAYS", "7".to_owned()),
            ("INBOX_POLL_MS", "50".to_owned()),
            ("INBOX_RETRY_BASE_MS", "100".to_owned()),
            ("INBOX_MAX_ATTEMPTS", "30".to_owned()),
            // A killed worker's claims come back quickly.
            ("INBOX_LEASE_SECONDS", "2".to_owned()),
            // The scenario runs its one pass itself, at the end.
            ("RECONCILE_INTERVAL_SECONDS", "0".to_owned()),
        ]);
        env.extend(scenario.billing_env.iter().cloned());
        let billing = ServiceProcess::spawn(scenario.billing_program.to_str().expect("utf-8 path"), &env);
        wait_for_billing(grpc_addr).await;
        stripe.register_billing(&db, http_addr).await;
        let entitlement = spawn_entitlement(&db, grpc_addr).await;
        let conn = db.connect().await;
        let program = scenario.billing_program.clone();
        Self { _db: db, conn, stripe, grpc_addr, entitlement, billing: Mutex::new(billing), program, env }
    }

    /// SIGKILLs billing mid-run and starts it again on the same ports.
    async fn kill_and_restart_billing(&self) {
        let mut billing = self.billing.lock().await;
        billing.kill();
        billing.wait_exit(Duration::from_secs(10)).await;
        *billing = ServiceProcess::spawn(self.program.to_str().expect("utf-8 path"), &self.env);
        wait_for_billing(self.grpc_addr).await;
    }

    /// Lives every user's life; returns what each became.
    pub async fn live(&self, scenario: &Scenario) -> Vec<Life> {
        let chaos = [("duplicates", "1"), ("shuffle_ms", "300"), ("delay_ms", "20"), ("drop_percent", "10")];
        self.stripe.post("/_emulator/chaos", &chaos).await;
        let mut lives: Vec<Life> = (0..scenario.users).map(|i| Life::plan(scenario.seed, i)).collect();
        let thirds = scenario.users.div_ceil(3).max(1);
        let mut done = Vec::with_capacity(lives.len());
        for (n, chunk) in lives.chunks(thirds).enumerate() {
            if n > 0 {
                self.kill_and_restart_billing().await;
            }
            self.stripe.post("/_emulator/rate_limit", &[("count", "3")]).await;
            done.extend(
                self.each(chunk.to_vec(), scenario.concurrency, |w, life| Box::pin(w.check_out(life))).await,
            );
        }
        lives = done;
        for life in lives.iter().filter(|l| l.declines) {
            if let Some(customer) = &life.customer {
                self.stripe
                    .post(&format!("/_emulator/customers/{customer}/card"), &[("declines", "true")])
                    .await;
            }
        }
        // Trials end and convert (or fail to), then every user's own turn.
        self.stripe.post("/_emulator/clock/advance", &[("days", "8")]).await;
        self.stripe.post("/_emulator/rate_limit", &[("count", "3")]).await;
        lives = self.each(lives, scenario.concurrency, |w, life| Box::pin(w.act(life))).await;
        // Payment retries run their course.
        self.stripe.post("/_emulator/clock/advance", &[("days", "4")]).await;
        self.stripe.post("/_emulator/chaos", &[]).await;
        lives
    }

    /// Runs `f` on every life, `concurrency` at a time, keeping their order.
    async fn each(
        &self,
        lives: Vec<Life>,
        concurrency: usize,
        f: impl for<'a> Fn(&'a Self, Life) -> std::pin::Pin<Box<dyn Future<Output = Life> + Send + 'a>>,
    ) -> Vec<Life> {
        use futures_util::StreamExt;
        futures_util::stream::iter(lives)
            .map(|life| f(self, life))
            .buffered(concurrency.max(1))
            .collect()
            .await
    }

    /// A call to Stripe's API as its dashboard would make it, retried while Stripe
    /// answers 429 (the scenario's own rate-limit bursts).
    async fn stripe_api(&self, method: &str, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        for _ in 0..50 {
            let (status, body) = self.stripe.send(method, path, form).await;
            if status != 429 {
                assert_eq!(status, 200, "{method} {path}: {body}");
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{method} {path} rate-limited for too long");
    }

    /// A checkout through billing, retried while billing restarts or Stripe says 429.
    async fn checkout(&self, user: &str, email: &str) -> String {
        for _ in 0..120 {
            let request = CreateCheckoutSessionRequest {
                user_id: user.to_owned(),
                email: email.to_owned(),
                ..Default::default()
            };
            if let Some(mut client) = billing_client(self.grpc_addr).await
                && let Ok(response) = client.create_checkout_session(request).await
            {
                return response.into_inner().session_id;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("checkout for {user} kept failing");
    }

    async fn check_out(&self, mut life: Life) -> Life {
        let mut session = self.checkout(&life.user, &life.email).await;
        if life.retry {
            session = self.checkout(&life.user, &life.email).await;
        }
        life.customer =
            self.stripe_api("GET", &format!("/v1/checkout/sessions/{session}"), &[]).await["customer"]
                .as_str()
                .map(str::to_owned);
        match life.ending {
            Ending::Complete => life.subscription = self.complete(&session).await,
            Ending::Expire => {
                self.stripe
                    .send("POST", &format!("/_emulator/checkout/sessions/{session}/expire"), &[])
                    .await;
            }
            Ending::LeaveOpen => {}
        }
        life
    }

    async fn complete(&self, session: &str) -> Option<String> {
        let (status, done) =
            self.stripe.send("POST", &format!("/_emulator/checkout/sessions/{session}/complete"), &[]).await;
        (status == 200).then(|| done["subscription"].as_str().map(str::to_owned)).flatten()
    }

    async fn act(&self, mut life: Life) -> Life {
        let Some(sub) = life.subscription.clone() else { return life };
        let control = |what: &str| format!("/_emulator/subscriptions/{sub}/{what}");
        match life.action {
            Action::Nothing => {}
            Action::CancelNow => drop(self.stripe.send("POST", &control("cancel"), &[]).await),
            Action::CancelAtPeriodEnd => {
                drop(self.stripe.send("POST", &control("cancel"), &[("at_period_end", "true")]).await);
            }
            Action::Pause => drop(self.stripe.send("POST", &control("pause"), &[]).await),
            Action::PauseThenResume => {
                self.stripe.send("POST", &control("pause"), &[]).await;
                self.stripe.send("POST", &control("resume"), &[]).await;
            }
            Action::Relink => {
                let other = format!("r{}", &life.user[1..]);
                let customer = life.customer.clone().unwrap_or_default();
                let path = format!("/v1/customers/{customer}");
                self.stripe_api("POST", &path, &[("metadata[user_id]", &other)]).await;
                life.users.push(other);
            }
            Action::DeleteThenCheckOutAgain => {
                let customer = life.customer.clone().unwrap_or_default();
                self.stripe_api("DELETE", &format!("/v1/customers/{customer}"), &[]).await;
                let session = self.checkout(&life.user, &life.email).await;
                life.subscription = self.complete(&session).await;
            }
        }
        life
    }

    /// Waits until every delivery that will come has been applied: the inbox settled and
    /// nothing new stored for three seconds.
    pub async fn quiet(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let (mut last, mut since) = (0u64, tokio::time::Instant::now());
        loop {
            let stored = stored_events(&self.conn).await;
            if stored != last {
                (last, since) = (stored, tokio::time::Instant::now());
            } else if since.elapsed() >= Duration::from_secs(3) && inbox_settled(&self.conn).await {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the inbox never settled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the entitlement service and billing.
    pub async fn stop(self) {
        self.entitlement.running.stop().await.ok();
        let mut billing = self.billing.lock().await;
        billing.terminate();
        billing.wait_exit(Duration::from_secs(20)).await;
    }
}

async fn stored_events(conn: &DatabaseConnection) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    caixa_entities::stripe_events::Entity::find().count(conn).await.expect("count events")
}
