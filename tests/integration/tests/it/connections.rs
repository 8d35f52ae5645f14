//! What a client holds before it says anything, tried from outside against both services
//! as processes with their defaults: idle and half-spoken connections are closed on every
//! port while live peers keep theirs; a flooded bridge still takes Stripe's signed
//! delivery and answers its probe, with a low open-files limit too; streams past the
//! limits are refused and memory stays flat.

use std::{net::SocketAddr, time::Duration};

use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    process::ServiceProcess,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const BILLING: &str = env!("CARGO_BIN_EXE_billing-process");
const ENTITLEMENT: &str = env!("CARGO_BIN_EXE_entitlement-process");
const SECRET: &str = "whsec_connections";
const PATH: &str = "/stripe/webhook/00000000-0000-0000-0000-000000000000";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Billing {
    process: ServiceProcess,
    grpc: SocketAddr,
    http: SocketAddr,
    health: SocketAddr,
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Billing as a process with its defaults, optionally under `prlimit --nofile=N:N`.
async fn billing(db: &TestDatabase, open_files: Option<u32>) -> Billing {
    let health = free_addr();
    let env = [
        ("DATABASE_URL", db.url.clone()),
        ("BILLING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("BILLING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("GRPC_HEALTH_ADDR", health.to_string()),
        ("STRIPE_WEBHOOK_SECRET", SECRET.to_owned()),
        ("INBOX_WORKER", "false".to_owned()),
    ];
    let process = match open_files {
        None => ServiceProcess::spawn(BILLING, &env),
        Some(n) => {
            let limit = format!("--nofile={n}:{n}");
            ServiceProcess::spawn_with_args(&on_path("prlimit"), &[&limit, BILLING], &env)
        }
    };
    let grpc = process.address("billing service listening", "grpc_addr").await;
    let http = process.address("billing service listening", "http_addr").await;
    Billing { process, grpc, http, health }
}

/// Where `program` is on the test's own `PATH` (the service's environment is cleared).
fn on_path(program: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed (util-linux)"))
        .display()
        .to_string()
}

/// Opens a connection that sends `bytes` and then nothing; the task yields how long the
/// server kept it open (reading until it closes, at most `within`).
fn held(
    addr: SocketAddr,
    bytes: &'static [u8],
    within: Duration,
) -> tokio::task::JoinHandle<Option<Duration>> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(bytes).await.ok()?;
        let mut sink = Vec::new();
        tokio::time::timeout(within, stream.read_to_end(&mut sink)).await.ok()?.ok();
        Some(started.elapsed())
    })
}

/// A connection that started a delivery of 1,000 bytes and sent one.
pub(crate) async fn started_body(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// A signed delivery; the bridge's status and body.
async fn signed_delivery(addr: SocketAddr, id: &str) -> (u16, String) {
    let body = serde_json::json!({
        "id": id, "object": "event", "type": "customer.created", "livemode": false,
        "created": chrono::Utc::now().timestamp(), "api_version": "2026-09-30.endive",
        "data": { "object": { "id": "cus_1", "object": "customer", "livemode": false } },
    })
    .to_string();
    let signature = stripe_emulator::sign(SECRET, chrono::Utc::now().timestamp(), &body);
    crate::webhooks::deliver(addr, PATH, &body, Some(signature)).await
}

/// The sum of the series `name` whose labels include every one of `labels`.
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn warnings(process: &ServiceProcess) -> usize {
    process.output().await.lines().filter(|line| line.contains("\"level\":\"WARN\"")).count()
}

#[tokio::test]
async fn idle_and_half_spoken_connections_are_closed_on_every_port_and_live_peers_kept() {
    caixa_test_support::init_test_logging();
    // Arrange: both services with their defaults (a 10 s idle deadline), entitlement
    // following billing over one Watch stream, and a caller's channel to billing.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = billing(&db, None).await;
    let entitlement_health = free_addr();
    let entitlement = ServiceProcess::spawn(
        ENTITLEMENT,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("ENTITLEMENT_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("GRPC_HEALTH_ADDR", entitlement_health.to_string()),
            ("BILLING_URL", format!("http://{}", billing.grpc)),
        ],
    );
    let entitlement_grpc = entitlement.address("entitlement service listening", "grpc_addr").await;
    let entitlement_http = entitlement.address("entitlement service listening", "http_addr").await;
    let mut caller = HealthClient::new(channel(billing.grpc).await);
    caller.check(HealthCheckRequest::default()).await.unwrap();
    let ports =
        [billing.grpc, billing.http, billing.health, entitlement_grpc, entitlement_http, entitlement_health];

    // Act: on each port, a connection that sends nothing, one that sends `P`, one that
    // sends the HTTP/2 preface, one that starts a request head.
    let mut open = Vec::new();
    for port in ports {
        for bytes in [&b""[..], b"P", H2_PREFACE, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"] {
            open.push((port, bytes, held(port, bytes, Duration::from_secs(30))));
        }
    }
    let mut kept = Vec::new();
    for (port, bytes, task) in open {
        kept.push((port, String::from_utf8_lossy(bytes).into_owned(), task.await.unwrap()));
    }

    // Assert: each was closed within 15 s; the caller's channel, idle all along but
    // answering the server's pings, still works, and the two live connections on
    // billing's gRPC port (the caller's and entitlement's Watch) are all that stay open
    // there. (Which of the idle deadline and HTTP/2's own keepalive closes a silent peer
    // first is a race, so the test counts what is left, not how it went.)
    for (port, sent, held_for) in &kept {
        let held_for = held_for.unwrap_or_else(|| panic!("{port} {sent:?}: could not connect"));
        assert!(held_for <= Duration::from_secs(15), "{port} after {sent:?} held {held_for:?}");
    }
    caller.check(HealthCheckRequest::default()).await.unwrap();
    let (_, metrics) = caixa_integration_tests::http_get(billing.http, "/metrics").await;
    let open = counter(&metrics, "caixa_connections_open", &["listener=\"grpc\""]);
    assert_eq!(open, 2.0, "{metrics}");
    let idle = counter(&metrics, "caixa_connections_closed_total", &["listener=\"grpc\"", "why=\"idle\""]);
    assert!(idle >= 1.0, "the idle deadline closed none: {metrics}");
    let (code, _) = caixa_integration_tests::http_get(entitlement_http, "/readyz").await;
    assert_eq!(code, 200, "entitlement still follows billing");
}

#[tokio::test]
async fn a_flooded_bridge_still_takes_a_signed_delivery_and_answers_its_probe() {
    caixa_test_support::init_test_logging();
    // Arrange: 500 idle connections and 64 bodies sent slowly.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = billing(&db, None).await;
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(billing.http).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..64 {
        slow.push(started_body(billing.http).await);
    }

    // Act
    let delivered = signed_delivery(billing.http, "evt_flooded").await;
    let (probe, _) = caixa_integration_tests::http_get(billing.http, "/healthz").await;

    // Assert
    assert_eq!(delivered, (200, "stored".to_owned()));
    assert_eq!(probe, 200);
    assert!(warnings(&billing.process).await < 5, "{}", billing.process.output().await);
    drop((idle, slow));
}

#[tokio::test]
async fn with_256_open_files_floods_on_every_port_leave_probes_and_deliveries_working() {
    caixa_test_support::init_test_logging();
    // Arrange: billing limited to 256 open files, as when 363 idle connections took it
    // down; 400 idle connections on each API port.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = billing(&db, Some(256)).await;
    let mut idle = Vec::new();
    for _ in 0..400 {
        for port in [billing.http, billing.grpc] {
            if let Ok(stream) = TcpStream::connect(port).await {
                idle.push(stream);
            }
        }
    }

    // Act
    let delivered = signed_delivery(billing.http, "evt_few_files").await;
    let (probe, _) = caixa_integration_tests::http_get(billing.http, "/healthz").await;
    let mut health = HealthClient::new(channel(billing.health).await);
    let checked = health.check(HealthCheckRequest::default()).await;

    // Assert: served, and the refusals logged a handful of lines, not one per connection.
    assert_eq!(delivered, (200, "stored".to_owned()));
    assert_eq!(probe, 200);
    assert!(checked.is_ok(), "{checked:?}");
    let warned = warnings(&billing.process).await;
    assert!(warned <= 10, "{warned} warnings: {}", billing.process.output().await);
    drop(idle);
}

/// The process's resident memory, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test]
async fn streams_past_the_limits_are_refused_and_memory_stays_flat() {
    caixa_test_support::init_test_logging();
    // Arrange: billing with its defaults (256 calls or streams in flight), warmed up.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = billing(&db, None).await;
    let mut channels = Vec::new();
    for _ in 0..20 {
        channels.push(channel(billing.grpc).await);
    }
    HealthClient::new(channels[0].clone()).check(HealthCheckRequest::default()).await.unwrap();
    let before = rss(billing.process.pid().unwrap());

    // Act: 2,000 health Watch streams over 20 connections.
    let mut opened = Vec::new();
    let mut refused = 0;
    for i in 0..2_000 {
        let mut client = HealthClient::new(channels[i % channels.len()].clone());
        match client.watch(HealthCheckRequest::default()).await {
            Ok(stream) => opened.push(stream.into_inner()),
            Err(status) if status.code() == Code::ResourceExhausted => refused += 1,
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    let during = rss(billing.process.pid().unwrap());

    // Assert
    assert!(opened.len() <= 256, "{} streams open", opened.len());
    assert_eq!(opened.len() + refused, 2_000);
    let grown = during.saturating_sub(before);
    assert!(grown < 10 * 1024 * 1024, "RSS grew {grown} bytes");
    drop(opened);
    let mut client = HealthClient::new(channels[0].clone());
    caixa_integration_tests::wait_until(
        "closed streams give their places back",
        Duration::from_secs(10),
        || {
            let mut client = client.clone();
            async move { client.watch(HealthCheckRequest::default()).await.is_ok() }
        },
    )
    .await;
    client.check(HealthCheckRequest::default()).await.unwrap();
}
