//! The HTTP bridge: what it accepts, what it refuses and why, and that a 200 means the
//! event is stored exactly once.

use caixa_entities::stripe_events;
use caixa_integration_tests::spawn_billing;
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

const SECRET: &str = "whsec_bridge_test";
const ENDPOINT: &str = "00000000-0000-0000-0000-000000000000";

fn event(id: &str, livemode: bool) -> String {
    json!({
        "id": id, "object": "event", "type": "customer.created", "livemode": livemode,
        "created": chrono::Utc::now().timestamp(), "api_version": "2026-09-30.endive",
        "data": { "object": { "id": "cus_1", "object": "customer", "livemode": livemode } },
    })
    .to_string()
}

pub async fn deliver(
    addr: std::net::SocketAddr,
    path: &str,
    body: &str,
    signature: Option<String>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let header = signature.map(|s| format!("Stripe-Signature: {s}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

fn signed(body: &str, secret: &str, at: i64) -> Option<String> {
    Some(stripe_emulator::sign(secret, at, body))
}

on_both_backends!(bridge_stores_valid_events_once_and_refuses_the_rest);

async fn bridge_stores_valid_events_once_and_refuses_the_rest(backend: Backend) {
    // Arrange: the seed's single-secret setup, and a small body limit.
    let db = TestDatabase::migrated(backend).await;
    let billing = spawn_billing(
        &db,
        &[("STRIPE_WEBHOOK_SECRET", SECRET), ("WEBHOOK_MAX_BODY_BYTES", "2048"), ("INBOX_WORKER", "false")],
    )
    .await;
    let (addr, path) = (billing.http_addr, format!("/stripe/webhook/{ENDPOINT}"));
    let now = chrono::Utc::now().timestamp();
    let body = event("evt_bridge_1", false);

    // Act + Assert
    let unknown = format!("/stripe/webhook/{}", uuid::Uuid::new_v4());
    assert_eq!(deliver(addr, &unknown, &body, signed(&body, SECRET, now)).await.0, 404);
    let (status, reason) = deliver(addr, &path, &body, signed(&body, "whsec_wrong", now)).await;
    assert_eq!((status, reason.as_str()), (400, "signature verification failed: signature does not match"));
    let (status, reason) = deliver(addr, &path, &body, None).await;
    assert_eq!(
        (status, reason.as_str()),
        (400, "signature verification failed: missing Stripe-Signature header")
    );
    let (status, reason) = deliver(addr, &path, &body, signed(&body, SECRET, now - 301)).await;
    assert_eq!(
        (status, reason.as_str()),
        (400, "signature verification failed: timestamp outside the tolerance")
    );
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(4096));
    assert_eq!(deliver(addr, &path, &big, signed(&big, SECRET, now)).await.0, 413);
    let live = event("evt_live_1", true);
    assert_eq!(
        deliver(addr, &path, &live, signed(&live, SECRET, now)).await,
        (200, "ignored: event of the other mode".to_owned())
    );

    for _ in 0..10 {
        assert_eq!(deliver(addr, &path, &body, signed(&body, SECRET, now)).await.0, 200);
    }

    let conn = db.connect().await;
    assert_eq!(
        stripe_events::Entity::find().count(&conn).await.unwrap(),
        1,
        "ten deliveries, one row; nothing of the other mode"
    );
    let stored = stripe_events::Entity::find_by_id("evt_bridge_1").one(&conn).await.unwrap().unwrap();
    assert_eq!(
        (stored.payload.as_str(), stored.status.as_str(), stored.customer_id.as_deref()),
        (body.as_str(), "received", Some("cus_1"))
    );
    billing.running.stop().await.unwrap();
}

on_both_backends!(deliveries_that_arrive_together_are_committed_together);

/// Group commit: many deliveries at once, each of them twice, are all acknowledged, each
/// acknowledged one is stored exactly once, and fewer commits than deliveries hold them.
async fn deliveries_that_arrive_together_are_committed_together(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let settings =
        [("STRIPE_WEBHOOK_SECRET", SECRET), ("INBOX_WORKER", "false"), ("WEBHOOK_MAX_CONCURRENT", "256")];
    let billing = spawn_billing(&db, &settings).await;
    let (addr, path) = (billing.http_addr, format!("/stripe/webhook/{ENDPOINT}"));
    let now = chrono::Utc::now().timestamp();
    let bodies: Vec<String> = (0..64).map(|n| event(&format!("evt_group_{n}"), false)).collect();

    // Act: every event twice, all at once.
    let mut deliveries = tokio::task::JoinSet::new();
    for body in bodies.iter().chain(&bodies) {
        let (path, body) = (path.clone(), body.clone());
        deliveries.spawn(async move { deliver(addr, &path, &body, signed(&body, SECRET, now)).await });
    }
    let answers = deliveries.join_all().await;

    // Assert
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let stored = answers.iter().filter(|(_, body)| body == "stored").count();
    let duplicates = answers.iter().filter(|(_, body)| body == "duplicate").count();
    assert_eq!((stored, duplicates), (64, 64), "each event stored once, its twin told it is a duplicate");
    let conn = db.connect().await;
    assert_eq!(stripe_events::Entity::find().count(&conn).await.unwrap(), 64);
    let metrics = caixa_integration_tests::metrics::Metrics::parse(
        &caixa_integration_tests::http_get(addr, "/metrics").await.1,
    );
    let commits = metrics.value("caixa_webhook_commits_total", &[]).expect("commits are counted");
    assert!((1.0..128.0).contains(&commits), "128 deliveries arriving together took {commits} commits");
    billing.running.stop().await.unwrap();
}
