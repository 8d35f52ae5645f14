//! The webhook bridge under hostile clients: a request head trickled a byte at a time,
//! bodies that never finish, an oversized head. Each is cut off or refused by the server
//! itself, and a slow body never holds a delivery slot: Stripe's signed delivery goes
//! through while unsigned ones trickle.

use std::time::Duration;

use caixa_integration_tests::spawn_billing;

use crate::connections::started_body;
use caixa_test_support::database::{Backend, TestDatabase};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const SECRET: &str = "whsec_bridge_limits";

const LIMITS: &[(&str, &str)] = &[
    ("HTTP_HEADER_TIMEOUT_SECONDS", "1"),
    ("WEBHOOK_REQUEST_TIMEOUT_SECONDS", "2"),
    ("WEBHOOK_MAX_CONCURRENT", "1"),
    ("STRIPE_WEBHOOK_SECRET", SECRET),
    ("INBOX_WORKER", "false"),
];

const PATH: &str = "/stripe/webhook/00000000-0000-0000-0000-000000000000";

/// What the server sends before closing, read until it closes (at most 10 s).
async fn answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

/// Sends `bytes` one at a time, `every` apart, until done or the server closes.
fn trickle(mut writer: tokio::net::tcp::OwnedWriteHalf, bytes: &'static [u8], every: Duration) {
    tokio::spawn(async move {
        for byte in bytes {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[tokio::test]
async fn slow_or_oversized_requests_are_cut_off_and_excess_deliveries_refused() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, LIMITS).await;
    let addr = billing.http_addr;

    // Act and assert: a head trickled one byte every 200 ms is cut off.
    let (mut reader, writer) = TcpStream::connect(addr).await.unwrap().into_split();
    trickle(writer, b"POST /stripe/webhook/x HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", Duration::from_millis(200));
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "a trickled head kept its connection");
    assert!(!String::from_utf8_lossy(&received).contains("200 OK"));

    // Bodies that never finish hold no delivery slot: with one slot, a signed delivery is
    // stored while they trickle, and each slow one ends with 408.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(started_body(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = serde_json::json!({
        "id": "evt_limits", "object": "event", "type": "customer.created", "livemode": false,
        "created": chrono::Utc::now().timestamp(), "api_version": "2026-09-30.endive",
        "data": { "object": { "id": "cus_1", "object": "customer", "livemode": false } },
    })
    .to_string();
    let signature = stripe_emulator::sign(SECRET, chrono::Utc::now().timestamp(), &body);
    let (code, stored) = crate::webhooks::deliver(addr, PATH, &body, Some(signature)).await;
    assert_eq!((code, stored.as_str()), (200, "stored"), "a signed delivery while slow bodies are open");
    for mut stream in slow {
        let timed_out = answer(&mut stream).await;
        assert!(timed_out.starts_with("HTTP/1.1 408"), "{timed_out}");
    }

    // A head larger than the limit gets 431.
    let mut big = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    big.write_all(head.as_bytes()).await.unwrap();
    let oversized = answer(&mut big).await;
    assert!(oversized.starts_with("HTTP/1.1 431"), "{oversized}");

    // The bridge still serves.
    let (code, _) = caixa_integration_tests::http_get(addr, "/healthz").await;
    assert_eq!(code, 200);
    billing.running.stop().await.unwrap();
}
