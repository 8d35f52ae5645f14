//! Health: SERVING only when the database answers and the schema is at head.

use std::time::Duration;

use caixa_integration_tests::{http_get, spawn_billing, spawn_entitlement, spawn_entitlement_with};
use caixa_migrations::{Migrator, MigratorTrait};
use caixa_proto::entitlement::v1::{
    WatchEntitlementsRequest, entitlement_service_client::EntitlementServiceClient,
    watch_entitlements_response::Event,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::{channel, health_status, wait_for_health},
    on_both_backends,
};
use tonic_health::pb::health_check_response::ServingStatus;

const BILLING: &str = "caixa.billing.v1.BillingService";
const EVENTS: &str = "caixa.billing.v1.SubscriptionEvents";
const ENTITLEMENT: &str = "caixa.entitlement.v1.EntitlementService";

on_both_backends!(both_services_serve_on_a_migrated_database, serving_waits_for_the_schema);

async fn both_services_serve_on_a_migrated_database(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let billing = spawn_billing(&db, &[]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;

    // Act + Assert: every service name and the server as a whole report SERVING.
    for service in ["", BILLING, EVENTS] {
        wait_for_health(billing.grpc_addr, service, ServingStatus::Serving, Duration::from_secs(10)).await;
    }
    for service in ["", ENTITLEMENT] {
        wait_for_health(entitlement.grpc_addr, service, ServingStatus::Serving, Duration::from_secs(10))
            .await;
    }
    assert_eq!(http_get(billing.http_addr, "/readyz").await, (200, "ready".to_owned()));
    assert_eq!(http_get(billing.http_addr, "/healthz").await.0, 200);

    entitlement.running.stop().await.expect("entitlement drains cleanly");
    billing.running.stop().await.expect("billing drains cleanly");
}

async fn serving_waits_for_the_schema(backend: Backend) {
    // Arrange: a database without the schema.
    let db = TestDatabase::empty(backend).await;
    let billing = spawn_billing(&db, &[]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;

    // Assert: up, but not serving, and readiness says why.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(health_status(billing.grpc_addr, "").await, ServingStatus::NotServing);
    assert_eq!(health_status(billing.grpc_addr, BILLING).await, ServingStatus::NotServing);
    assert_eq!(health_status(entitlement.grpc_addr, ENTITLEMENT).await, ServingStatus::NotServing);
    let (status, body) = http_get(billing.http_addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.starts_with("not ready"), "readyz body: {body}");

    // Act: the migration job runs.
    Migrator::up(&db.connect().await, None).await.expect("migrate");

    // Assert: both notice on their own and start serving.
    wait_for_health(billing.grpc_addr, BILLING, ServingStatus::Serving, Duration::from_secs(10)).await;
    wait_for_health(entitlement.grpc_addr, ENTITLEMENT, ServingStatus::Serving, Duration::from_secs(10))
        .await;
    assert_eq!(http_get(billing.http_addr, "/readyz").await.0, 200);

    entitlement.running.stop().await.expect("entitlement drains cleanly");
    billing.running.stop().await.expect("billing drains cleanly");
}

#[tokio::test]
async fn a_drain_ends_open_watches_instead_of_waiting_out_its_grace() {
    // Arrange: a watcher holding its stream open, and a grace far longer than a drain
    // that ends the stream needs.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[]).await;
    let entitlement =
        spawn_entitlement_with(&db, billing.grpc_addr, &[("SHUTDOWN_GRACE_SECONDS", "120")]).await;
    wait_for_health(entitlement.grpc_addr, ENTITLEMENT, ServingStatus::Serving, Duration::from_secs(10))
        .await;
    let mut client = EntitlementServiceClient::new(channel(entitlement.grpc_addr).await);
    let request = WatchEntitlementsRequest { after_revision: 0 };
    let mut watch = client.watch_entitlements(request).await.expect("watch opens").into_inner();
    let first = watch.message().await.expect("a message").expect("the stream is open");
    assert!(matches!(first.event, Some(Event::Heartbeat(_))), "an empty snapshot is whole at once");

    // Act
    let stopped = tokio::time::timeout(Duration::from_secs(60), entitlement.running.stop()).await;

    // Assert: the drain finished well inside its grace, and the watcher was told why
    // its stream ended, so that it watches again elsewhere.
    stopped.expect("the drain did not wait out its grace").expect("entitlement drains cleanly");
    let ended = watch.message().await.expect_err("the stream ends with a status");
    assert_eq!(ended.code(), tonic::Code::Unavailable);
    assert!(ended.message().contains("shutting down"), "{}", ended.message());
    billing.running.stop().await.expect("billing drains cleanly");
}
