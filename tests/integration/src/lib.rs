//! Spawns the real services in-process, on port 0, against a test database; tests talk
//! to them over real sockets with the typed clients of the proto crate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should panic loudly

pub mod certs;
pub mod convergence;
pub mod djstripe;
pub mod metrics;
pub mod otlp;
pub mod rolling;
pub mod stripe;
pub mod truth;

use std::{future::Future, net::SocketAddr, time::Duration};

use caixa_runtime::config::Env;
use caixa_test_support::database::TestDatabase;
use tokio::{sync::oneshot, task::JoinHandle};

/// A service running in a background task until stopped.
pub struct Running<E> {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), E>>,
}

impl<E: std::fmt::Debug> Running<E> {
    fn start<F>(run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        Self { stop: Some(stop), task: tokio::spawn(run(stopped)) }
    }

    /// Starts the drain and waits for the service to return.
    pub async fn stop(mut self) -> Result<(), E> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("service task")
    }
}

/// The billing service under test.
pub struct TestBilling {
    /// Its gRPC address.
    pub grpc_addr: SocketAddr,
    /// Its HTTP bridge address.
    pub http_addr: SocketAddr,
    /// Its task.
    pub running: Running<billing_service::startup::StartupError>,
}

/// The entitlement service under test.
pub struct TestEntitlement {
    /// Its gRPC address.
    pub grpc_addr: SocketAddr,
    /// Its task.
    pub running: Running<entitlement_service::startup::StartupError>,
}

fn env_for(db: &TestDatabase, extra: &[(&str, &str)]) -> Env {
    let mut env = Env::from_pairs([
        ("DATABASE_URL", db.url.as_str()),
        ("BILLING_GRPC_ADDR", "127.0.0.1:0"),
        ("BILLING_HTTP_ADDR", "127.0.0.1:0"),
        ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0"),
        ("SHUTDOWN_GRACE_SECONDS", "5"),
    ]);
    for (name, value) in extra {
        env = env.set(name, *value);
    }
    env
}

/// The billing binary's subcommands.
pub const BILLING_COMMANDS: [&str; 12] = [
    "sync-stripe",
    "fix-customer-links",
    "trial-status",
    "trial-import",
    "compare-access",
    "register-stripe-webhook",
    "webhooks",
    "events",
    "inbox",
    "replay-event",
    "subscriptions",
    "reconcile",
];

/// Polls `check` until it returns true, for at most `within`.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether every stored Stripe event has been applied (or ignored), and there is one.
pub async fn inbox_settled(db: &sea_orm::DatabaseConnection) -> bool {
    use caixa_entities::stripe_events::{self, InboxStatus};
    use sea_orm::EntityTrait;
    let events = stripe_events::Entity::find().all(db).await.unwrap();
    !events.is_empty()
        && events.iter().all(|e| matches!(e.status, InboxStatus::Processed | InboxStatus::Ignored))
}

/// Starts billing against the emulator, with a fast inbox (short polls and retries).
pub async fn spawn_billing_with_stripe(
    db: &TestDatabase,
    stripe: &stripe::StripeEmulator,
    extra: &[(&str, &str)],
) -> TestBilling {
    let mut settings: Vec<(&str, String)> = stripe.billing_env();
    settings.extend([("INBOX_POLL_MS", "50".to_owned()), ("INBOX_RETRY_BASE_MS", "50".to_owned())]);
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_billing(db, &pairs).await
}

/// Starts the billing service on `db` with extra settings.
pub async fn spawn_billing(db: &TestDatabase, extra: &[(&str, &str)]) -> TestBilling {
    use billing_service::{config::Settings, startup::Application};
    let settings = Settings::from_env(&env_for(db, extra)).expect("billing settings");
    let app = Application::build(settings).await.expect("billing builds");
    let (grpc_addr, http_addr) = (app.grpc_addr(), app.http_addr());
    let running = Running::start(|stopped| async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
    });
    TestBilling { grpc_addr, http_addr, running }
}

/// Starts the entitlement service on `db`, following billing at `billing`.
pub async fn spawn_entitlement(db: &TestDatabase, billing: SocketAddr) -> TestEntitlement {
    spawn_entitlement_with(db, billing, &[]).await
}

/// Starts the entitlement service with extra settings.
pub async fn spawn_entitlement_with(
    db: &TestDatabase,
    billing: SocketAddr,
    extra: &[(&str, &str)],
) -> TestEntitlement {
    use entitlement_service::{config::Settings, startup::Application};
    let billing_url = format!("http://{billing}");
    let mut settings = vec![("BILLING_URL", billing_url.as_str())];
    settings.extend_from_slice(extra);
    let settings = Settings::from_env(&env_for(db, &settings)).expect("entitlement settings");
    let app = Application::build(settings).await.expect("entitlement builds");
    let grpc_addr = app.grpc_addr();
    let running = Running::start(|stopped| async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
    });
    TestEntitlement { grpc_addr, running }
}

/// A plain HTTP/1.1 GET; returns the status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read response");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Runs the billing binary at `program` with `args` against `db` and the emulator (and
/// nothing else in its environment); returns its exit code, stdout and stderr.
pub async fn billing_command(
    program: &str,
    db: &TestDatabase,
    stripe: &stripe::StripeEmulator,
    args: &[&str],
) -> (Option<i32>, String, String) {
    billing_command_with(program, db, stripe, args, &[]).await
}

/// [`billing_command`] with `extra` settings in its environment.
pub async fn billing_command_with(
    program: impl AsRef<std::ffi::OsStr>,
    db: &TestDatabase,
    stripe: &stripe::StripeEmulator,
    args: &[&str],
    extra: &[(&str, String)],
) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(stripe.billing_env())
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("command ends")
        .expect("command runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// An inbox event as the bridge stores it: `kind` about `object` (whose `id` and
/// `customer` become the event's object and ordering key) at Unix time `created`.
pub fn inbox_event(
    id: &str,
    kind: &str,
    created: i64,
    object: serde_json::Value,
) -> billing_service::store::inbox::NewEvent {
    billing_service::store::inbox::NewEvent {
        id: id.to_owned(),
        event_type: kind.to_owned(),
        livemode: false,
        api_version: None,
        created: chrono::DateTime::from_timestamp(created, 0).expect("a time in range"),
        object_id: object["id"].as_str().map(str::to_owned),
        customer_id: object["customer"].as_str().map(str::to_owned),
        endpoint_id: None,
        payload: serde_json::json!({ "id": id, "type": kind, "created": created, "livemode": false, "data": { "object": object } })
            .to_string(),
        trace_context: None,
    }
}
