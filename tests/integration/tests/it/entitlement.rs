//! The entitlement service: answers from memory that follow billing, read-your-writes
//! with a revision, staleness when cut off, validation. Overload, limits and metrics are
//! in `entitlement_limits.rs`.

use caixa_proto::billing::v1::SubscriptionStatus;
use std::time::Duration;

use billing_service::store::revisions;
use caixa_entities::state::{SubscriptionState, UserState};
use caixa_integration_tests::{
    spawn_billing, spawn_billing_with_stripe, spawn_entitlement_with, stripe::StripeEmulator,
};
use caixa_proto::{
    billing::v1::{
        AccessReason, CreateCheckoutSessionRequest, SyncCheckoutSessionRequest,
        billing_service_client::BillingServiceClient,
    },
    entitlement::v1::{
        CheckAccessBatchRequest, CheckAccessRequest, Consistency, GetEntitlementsRequest,
        WatchEntitlementsRequest, WatchEntitlementsResponse, consistency::Requirement,
        entitlement_service_client::EntitlementServiceClient,
        watch_entitlements_response::Event as WatchEvent,
    },
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::{channel, wait_for_health},
    on_both_backends,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;

on_both_backends!(
    paying_flips_access_and_the_sync_revision_is_fresh,
    cut_off_it_answers_from_memory_and_says_stale,
    a_trial_without_a_webhook_still_ends
);

pub(crate) fn check(user: &str, feature: &str) -> CheckAccessRequest {
    CheckAccessRequest { user_id: user.to_owned(), feature: feature.to_owned(), consistency: None }
}

pub(crate) fn fresh(user: &str, revision: u64) -> CheckAccessRequest {
    CheckAccessRequest {
        consistency: Some(Consistency { requirement: Some(Requirement::AtLeastAsFresh(revision)) }),
        ..check(user, "")
    }
}

fn active(id: &str, features: &[&str], trial_end: Option<i64>) -> UserState {
    let now = chrono::Utc::now().timestamp();
    UserState {
        subscriptions: vec![SubscriptionState {
            id: id.to_owned(),
            customer_id: "cus_x".to_owned(),
            status: if trial_end.is_some() {
                SubscriptionStatus::Trialing
            } else {
                SubscriptionStatus::Active
            },
            trial_end,
            current_period_start: Some(now - 86_400),
            current_period_end: Some(now + 86_400 * 20),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            ..Default::default()
        }],
    }
}

pub(crate) async fn client(addr: std::net::SocketAddr) -> EntitlementServiceClient<Channel> {
    wait_for_health(
        addr,
        "caixa.entitlement.v1.EntitlementService",
        ServingStatus::Serving,
        Duration::from_secs(10),
    )
    .await;
    EntitlementServiceClient::new(channel(addr).await)
}

async fn paying_flips_access_and_the_sync_revision_is_fresh(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_DEFAULT_PRICE_ID", &price)]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let entitlement = spawn_entitlement_with(&db, billing.grpc_addr, &[]).await;
    let mut access = client(entitlement.grpc_addr).await;
    let mut billing_api = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let before = access.check_access(check("user-p", "")).await.unwrap().into_inner();
    assert_eq!((before.allowed, before.reason()), (false, AccessReason::NoSubscription));

    // Act: pay, then read your own write with the sync's revision.
    let session = billing_api
        .create_checkout_session(CreateCheckoutSessionRequest {
            user_id: "user-p".into(),
            email: "p@example.com".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", session.session_id), &[]).await;
    let synced = billing_api
        .sync_checkout_session(SyncCheckoutSessionRequest { session_id: session.session_id })
        .await
        .unwrap()
        .into_inner();
    let after = access.check_access(fresh("user-p", synced.revision)).await.unwrap().into_inner();

    // Assert
    assert!(after.allowed, "{after:?}");
    assert_eq!(after.reason(), AccessReason::Trialing);
    assert!(after.revision >= synced.revision);
    assert!(access.check_access(check("user-p", "reports")).await.unwrap().into_inner().allowed);
    let other = access.check_access(check("user-p", "export")).await.unwrap().into_inner();
    assert_eq!((other.allowed, other.reason()), (false, AccessReason::FeatureNotInPlan));
    let ents = access
        .get_entitlements(GetEntitlementsRequest { user_id: "user-p".into(), consistency: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ents.features, ["app", "reports"]);
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

async fn cut_off_it_answers_from_memory_and_says_stale(backend: Backend) {
    // Arrange: a user with access, known to the entitlement service.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false"), ("WATCH_HEARTBEAT_SECONDS", "1")]).await;
    let entitlement = spawn_entitlement_with(
        &db,
        billing.grpc_addr,
        &[("STALENESS_BOUND_SECONDS", "1"), ("STALE_DENY_FEATURES", "reports")],
    )
    .await;
    let mut access = client(entitlement.grpc_addr).await;
    let revision =
        revisions::record(&conn, "user-m", false, &active("sub_m", &["app", "reports"], None)).await.unwrap();
    let answer = access.check_access(fresh("user-m", revision.get())).await.unwrap().into_inner();
    assert!(answer.allowed && !answer.stale);

    // Act: billing goes away.
    billing.running.stop().await.unwrap();
    if backend == Backend::Sqlite {
        // The log is still in the shared database: changes keep arriving from it.
        let revision =
            revisions::record(&conn, "user-m", false, &active("sub_m", &["app"], None)).await.unwrap();
        let answer = access.check_access(fresh("user-m", revision.get())).await.unwrap().into_inner();
        assert!(!answer.stale, "current through the database");
        let reports = access.check_access(check("user-m", "reports")).await.unwrap().into_inner();
        assert_eq!(
            reports.reason(),
            AccessReason::FeatureNotInPlan,
            "the change made while billing was down arrived"
        );
        entitlement.running.stop().await.unwrap();
        return;
    }
    // On PostgreSQL the database goes away too: only memory is left.
    db.set_reachable(false).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Assert: answers keep coming from memory, marked stale; a deny-when-stale feature is denied.
    let app = access.check_access(check("user-m", "app")).await.unwrap().into_inner();
    assert!(app.allowed, "last known answer served");
    assert!(app.stale, "staleness reported");
    let reports = access.check_access(check("user-m", "reports")).await.unwrap().into_inner();
    assert_eq!((reports.allowed, reports.reason()), (false, AccessReason::Stale));
    db.set_reachable(true).await;
    entitlement.running.stop().await.unwrap();
}

async fn a_trial_without_a_webhook_still_ends(backend: Backend) {
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let now = chrono::Utc::now().timestamp();
    // Past the trial-end grace (an hour by default): over.
    revisions::record(&conn, "user-t", false, &active("sub_t", &["app"], Some(now - 7_200))).await.unwrap();
    revisions::record(&conn, "user-u", false, &active("sub_u", &["app"], Some(now + 3600))).await.unwrap();
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let entitlement = spawn_entitlement_with(&db, billing.grpc_addr, &[]).await;
    let mut access = client(entitlement.grpc_addr).await;

    let ended = access.check_access(check("user-t", "")).await.unwrap().into_inner();
    let running = access.check_access(check("user-u", "")).await.unwrap().into_inner();

    assert_eq!(
        (ended.allowed, ended.reason()),
        (false, AccessReason::Canceled),
        "status still says trialing; time says over"
    );
    assert_eq!((running.allowed, running.reason()), (true, AccessReason::Trialing));
    assert_eq!(running.access_until.map(|t| t.seconds), Some(now + 3600));
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_named_and_waits_are_bounded() {
    caixa_test_support::init_test_logging();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let entitlement =
        spawn_entitlement_with(&db, billing.grpc_addr, &[("FRESHNESS_WAIT_CAP_MS", "200")]).await;
    let mut access = client(entitlement.grpc_addr).await;

    for (request, field) in [
        (check("", ""), "user_id"),
        (check(&"x".repeat(256), ""), "user_id"),
        (check("u", "Bad Feature"), "feature"),
    ] {
        let status = access.check_access(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{field}: {}", status.message());
    }
    let too_many = CheckAccessBatchRequest { checks: vec![check("u", ""); 10_001] };
    let status = access.check_access_batch(too_many).await.unwrap_err();
    assert!(status.message().starts_with("checks"), "{}", status.message());
    let batch = access
        .check_access_batch(CheckAccessBatchRequest { checks: vec![check("a", ""), check("b", "x")] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), 2);

    let status = access.check_access(fresh("u", 999)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("999") && status.message().contains("at revision 0"),
        "{}",
        status.message()
    );
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_billing_restart_while_1000_changes_flow_skips_nothing() {
    caixa_test_support::init_test_logging();
    // Arrange: billing on a fixed port so it can come back where the follower looks.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let conn = db.connect().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let billing_settings = [("INBOX_WORKER", "false"), ("BILLING_GRPC_ADDR", addr.as_str())];
    let mut billing = Some(spawn_billing(&db, &billing_settings).await);
    let entitlement = spawn_entitlement_with(&db, addr.parse().unwrap(), &[]).await;
    let mut access = client(entitlement.grpc_addr).await;
    let mut watch =
        access.watch_entitlements(WatchEntitlementsRequest { after_revision: 0 }).await.unwrap().into_inner();
    let seen = tokio::spawn(async move {
        let mut revisions = Vec::new();
        while revisions.len() < 1000 {
            match watch.message().await {
                Ok(Some(WatchEntitlementsResponse { event: Some(WatchEvent::Change(change)) })) => {
                    revisions.push(change.revision)
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        revisions
    });

    // Act: 1,000 changes for 100 users; billing restarts after the 300th.
    for i in 0..1000usize {
        let mut state = active(&format!("sub_{}", i % 100), &["app"], None);
        state.subscriptions[0].current_period_end = Some(2_000_000_000 + i as i64);
        revisions::record(&conn, &format!("user-{}", i % 100), false, &state).await.unwrap();
        if i == 300 {
            billing.take().unwrap().running.stop().await.unwrap();
        }
        if i == 600 {
            billing = Some(spawn_billing(&db, &billing_settings).await);
        }
    }

    // Assert: every revision seen once, in order, and memory equals the database.
    let revisions = tokio::time::timeout(Duration::from_secs(30), seen).await.unwrap().unwrap();
    assert_eq!(revisions, (1..=1000).collect::<Vec<u64>>());
    for user in 0..100 {
        let ents = access
            .get_entitlements(GetEntitlementsRequest { user_id: format!("user-{user}"), consistency: None })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ents.subscriptions[0].current_period_end.as_ref().map(|t| t.seconds),
            Some(2_000_000_000 + 900 + user as i64)
        );
    }
    entitlement.running.stop().await.unwrap();
    billing.unwrap().running.stop().await.unwrap();
}
