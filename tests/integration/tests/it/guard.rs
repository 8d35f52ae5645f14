//! The client crate's guard on a real axum app and a real tonic service, asking the real
//! entitlement service, which follows billing, which hears from the emulator: a trialing
//! user passes, a user whose payment failed is refused with the reason, and with the
//! entitlement service gone each fail mode does what it says.

use std::{net::SocketAddr, time::Duration};

use axum::{Extension, Router, routing::get};
use caixa_client::{Access, ClientConfig, EntitlementClient, FailMode, RequireFeature, proto::AccessReason};
use caixa_integration_tests::{
    TestEntitlement, spawn_billing_with_stripe, spawn_entitlement_with, stripe::StripeEmulator, wait_until,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    http::get_with,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn user_header(parts: &http::request::Parts) -> Option<String> {
    parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// An axum app: `/reports` needs "reports" and fails closed, `/feed` needs any access
/// and fails open; both echo what the guard attached (failing open, a degraded access).
async fn serve_app(client: &EntitlementClient) -> SocketAddr {
    async fn echo(Extension(access): Extension<Access>) -> String {
        format!("{:?} until {:?}", access.reason, access.access_until)
    }
    let app = Router::new()
        .route(
            "/reports",
            get(echo).layer(RequireFeature::new(client.clone(), "reports").user_from(user_header)),
        )
        .route(
            "/feed",
            get(|Extension(access): Extension<Access>| async move {
                format!("feed, degraded: {}", access.degraded)
            }),
        )
        .route_layer(RequireFeature::new(client.clone(), "").user_from(user_header).fail(FailMode::Open));
    // Guarded as docs/client.md shows: `route_layer`, so the guard never answers for a
    // path or method the router does not serve.
    let documented = Router::new()
        .route("/export", get(echo))
        .route_layer(RequireFeature::new(client.clone(), "reports").user_from(user_header));
    let app = app.nest("/documented", documented);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Health's Check, standing in for a method of your own.
const CHECK: &str = "/grpc.health.v1.Health/Check";

/// A tonic server (gRPC health, standing in for your own service) behind `guard`.
async fn serve_grpc<U>(guard: RequireFeature<U>) -> SocketAddr
where
    U: Fn(&http::request::Parts) -> Option<String> + Clone + Send + Sync + 'static,
{
    let (_, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(guard)
            .add_service(health)
            .add_service(reflection)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

async fn grpc_check(addr: SocketAddr, user: &str) -> Result<(), tonic::Status> {
    let mut client = HealthClient::new(caixa_test_support::grpc::channel(addr).await);
    let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    request.metadata_mut().insert("x-user", user.parse().unwrap());
    client.check(request).await.map(drop)
}

/// Whether reflection lists the server's services to a caller with no user.
async fn lists_services(addr: SocketAddr) -> bool {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let mut client = ServerReflectionClient::new(caixa_test_support::grpc::channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    match client.server_reflection_info(tokio_stream::iter([request])).await {
        Ok(response) => response.into_inner().message().await.is_ok_and(|m| m.is_some()),
        Err(_) => false,
    }
}

#[tokio::test]
async fn the_guard_lets_paying_users_through_and_tells_the_others_why() {
    caixa_test_support::init_test_logging();
    // Arrange: a trialing user, and one whose renewal failed past every retry (unpaid).
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    stripe.post("/_emulator/settings", &[("after_retries", "unpaid"), ("retry_days[]", "1")]).await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let entitlement: TestEntitlement = spawn_entitlement_with(&db, billing.grpc_addr, &[]).await;
    let paid = stripe.subscribe(&price, "u-failed", "0").await;
    let customer = paid["customer"].as_str().unwrap().to_owned();
    stripe.post(&format!("/_emulator/customers/{customer}/card"), &[("declines", "true")]).await;
    stripe.post("/_emulator/clock/advance", &[("days", "31")]).await;
    stripe.post("/_emulator/clock/advance", &[("days", "2")]).await;
    stripe.subscribe(&price, "u-trial", "14").await;
    let url = format!("http://{}", entitlement.grpc_addr);
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default()).unwrap();
    wait_until("both users' states reached the entitlement service", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let failed =
                client.check("u-failed", "").await.is_ok_and(|a| a.reason == AccessReason::PaymentFailed);
            failed && client.check("u-trial", "reports").await.is_ok_and(|a| a.allowed)
        }
    })
    .await;
    let app = serve_app(&client).await;
    let grpc = serve_grpc(
        RequireFeature::new(client.clone(), "reports").user_from(user_header).method(CHECK, "reports"),
    )
    .await;
    let plain = serve_grpc(RequireFeature::new(client.clone(), "reports").user_from(user_header)).await;
    let exports =
        serve_grpc(RequireFeature::new(client.clone(), "").user_from(user_header).method(CHECK, "exports"))
            .await;

    // Act and assert: HTTP.
    let (code, body) = get_with(app, "/reports", &[("x-user", "u-trial")]).await;
    assert_eq!((code, body.contains("Trialing until Some(")), (200, true), "{body}");
    let (code, body) = get_with(app, "/reports", &[("x-user", "u-failed")]).await;
    assert_eq!(code, 403, "{body}");
    let refusal: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(refusal["reason"], "ACCESS_REASON_PAYMENT_FAILED", "{body}");
    assert!(refusal["message"].as_str().unwrap().contains("payment failed"), "{body}");
    assert_eq!(get_with(app, "/reports", &[]).await.0, 401, "no user");
    // The documented guard answers only for what the router serves.
    let (code, body) = get_with(app, "/documented/export", &[("x-user", "u-trial")]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(get_with(app, "/documented/nothing", &[("x-user", "u-failed")]).await.0, 404, "unknown path");
    // A user id the service refuses is no outage: 500, not the fail mode's pass.
    let (code, body) = get_with(app, "/feed", &[("x-user", &"u".repeat(300))]).await;
    assert_eq!(code, 500, "a refused check on a fail-open route: {body}");
    assert!(body.contains("internal"), "{body}");
    // gRPC.
    assert!(grpc_check(grpc, "u-trial").await.is_ok());
    let denied = grpc_check(grpc, "u-failed").await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(denied.message().contains("payment failed"), "{}", denied.message());
    // Health passes unguarded unless named (probes have no user); a named method has its
    // own feature, here one the plan lacks.
    assert!(grpc_check(plain, "u-failed").await.is_ok(), "health is open");
    assert!(lists_services(grpc).await, "reflection is open, even without a user");
    let not_in_plan = grpc_check(exports, "u-trial").await.unwrap_err();
    assert_eq!(not_in_plan.code(), tonic::Code::PermissionDenied);
    assert!(not_in_plan.message().contains("exports"), "{}", not_in_plan.message());

    // The entitlement service goes away: "reports" fails closed, the feed fails open.
    entitlement.running.stop().await.unwrap();
    let (code, body) = get_with(app, "/reports", &[("x-user", "u-trial")]).await;
    assert_eq!(code, 503, "fail closed: {body}");
    assert_eq!(
        get_with(app, "/feed", &[("x-user", "u-failed")]).await,
        (200, "feed, degraded: true".to_owned()),
        "fail open, with an access that says nothing is known"
    );
    assert_eq!(grpc_check(grpc, "u-trial").await.unwrap_err().code(), tonic::Code::Unavailable);
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_guard_for_a_feature_that_is_no_feature_key_is_not_built() {
    let client = EntitlementClient::new(&["http://127.0.0.1:1"], ClientConfig::default()).unwrap();
    let err = RequireFeature::try_new(client.clone(), "Reports!").err().expect("refused");
    assert!(err.to_string().contains("feature"), "{err}");
    assert!(RequireFeature::try_new(client, "reports").is_ok());
}
