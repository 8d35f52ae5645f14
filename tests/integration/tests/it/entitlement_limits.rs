//! The entitlement service under load and watch: per-connection and server-wide
//! shedding, deadlines, and the metrics and probes it serves.

use std::time::Duration;

use caixa_integration_tests::{http_get, metrics::Metrics, spawn_billing, spawn_entitlement_with};
use caixa_test_support::database::{Backend, TestDatabase};
use tonic::Code;

use crate::entitlement::{check, client, fresh};

#[tokio::test]
async fn overload_is_refused_not_queued() {
    caixa_test_support::init_test_logging();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let entitlement = spawn_entitlement_with(
        &db,
        billing.grpc_addr,
        &[("MAX_CONCURRENT_REQUESTS", "1"), ("FRESHNESS_WAIT_CAP_MS", "4000")],
    )
    .await;
    let access = client(entitlement.grpc_addr).await;

    // One call holds the only slot of the connection (it waits for a revision) ...
    let mut waiting = access.clone();
    let held = tokio::spawn(async move { waiting.check_access(fresh("u", 5)).await });
    // ... so another one on the same connection is shed at once rather than queued.
    let mut shed = None;
    for _ in 0..60 {
        match access.clone().check_access(check("u", "")).await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                shed = Some(status);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    assert!(shed.is_some(), "a call beyond the limit was not shed");
    assert_eq!(held.await.unwrap().unwrap_err().code(), Code::Unavailable);
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn the_server_wide_limit_sheds_other_connections_and_deadlines_end_waits() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let settings = [("MAX_IN_FLIGHT", "1"), ("FRESHNESS_WAIT_CAP_MS", "4000")];
    let entitlement = spawn_entitlement_with(&db, billing.grpc_addr, &settings).await;
    let access = client(entitlement.grpc_addr).await;

    // Act: a caller whose deadline is 300 ms waits for a revision that never comes.
    let mut request = tonic::Request::new(fresh("u", 5));
    request.set_timeout(Duration::from_millis(300));
    let started = tokio::time::Instant::now();
    let expired = access.clone().check_access(request).await.unwrap_err();
    let waited = started.elapsed();

    // Assert: the wait ended at the caller's deadline, not at the 4 s cap.
    assert_eq!(expired.code(), Code::Cancelled, "{expired:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");

    // Act: one call holds the server's only slot; another arrives on its own connection.
    let mut waiting = access.clone();
    let held = tokio::spawn(async move { waiting.check_access(fresh("u", 5)).await });
    let mut shed = None;
    for _ in 0..60 {
        let mut other = client(entitlement.grpc_addr).await;
        match other.check_access(check("u", "")).await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                shed = Some(status);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    // Assert: refused at once, and served again once the slot is free.
    assert!(shed.is_some(), "a call beyond the server-wide limit was not shed");
    assert_eq!(held.await.unwrap().unwrap_err().code(), Code::Unavailable);
    assert!(client(entitlement.grpc_addr).await.check_access(check("u", "")).await.is_ok());
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_and_probes_answer() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let http_addr = http.to_string();
    let entitlement =
        spawn_entitlement_with(&db, billing.grpc_addr, &[("ENTITLEMENT_HTTP_ADDR", http_addr.as_str())])
            .await;
    let mut access = client(entitlement.grpc_addr).await;

    // Act: two good calls and one bad one.
    access.check_access(check("u", "")).await.unwrap();
    access.check_access(check("u", "reports")).await.unwrap();
    let bad = access.check_access(check("", "")).await.unwrap_err();
    let (ready, _) = http_get(http, "/readyz").await;
    let (_, metrics) = http_get(http, "/metrics").await;

    // Assert
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(ready, 200);
    let method = "caixa.entitlement.v1.EntitlementService/CheckAccess";
    let parsed = Metrics::parse(&metrics);
    let calls = |code| parsed.value("caixa_grpc_requests_total", &[("method", method), ("code", code)]);
    assert_eq!(calls("OK"), Some(2.0), "{metrics}");
    assert_eq!(calls("INVALID_ARGUMENT"), Some(1.0), "{metrics}");
    assert_eq!(
        parsed.value("caixa_grpc_request_duration_seconds", &[("method", method)]),
        Some(3.0),
        "{metrics}"
    );
    assert!(metrics.contains(r#"caixa_grpc_request_duration_seconds_bucket{method="caixa.entitlement.v1.EntitlementService/CheckAccess",le="0.0001"}"#));
    // Answers by reason: the user has no subscription.
    let reason = [("reason", "ACCESS_REASON_NO_SUBSCRIPTION")];
    assert_eq!(parsed.value("caixa_check_answers_total", &reason), Some(2.0), "{metrics}");
    // The follower's own series: what it holds.
    assert_eq!(parsed.value("caixa_entitlement_users", &[]), Some(0.0), "{metrics}");
    assert!(parsed.has("caixa_entitlement_revision"), "{metrics}");
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}
