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
