//! Hostile input against both services as processes, Stripe at the emulator: huge values
//! are refused without coming back whole, a path is never reflected, Stripe's own wording
//! never reaches a caller, and revisions asked for from the far future neither wait nor
//! crowd out ordinary checks.

use std::time::Duration;

use caixa_integration_tests::stripe::StripeEmulator;
use caixa_proto::{
    billing::v1::{
        CreateCheckoutSessionRequest, GetSubscriptionStatusRequest,
        billing_service_client::BillingServiceClient,
    },
    entitlement::v1::{
        CheckAccessRequest, Consistency, consistency::Requirement,
        entitlement_service_client::EntitlementServiceClient,
    },
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    process::ServiceProcess,
};
use tonic::Code;

const BILLING: &str = env!("CARGO_BIN_EXE_billing-process");
const ENTITLEMENT: &str = env!("CARGO_BIN_EXE_entitlement-process");

/// Every status message a caller can see stays short.
const LONGEST: usize = 200;

struct Stack {
    billing: BillingServiceClient<tonic::transport::Channel>,
    entitlement: EntitlementServiceClient<tonic::transport::Channel>,
    http: std::net::SocketAddr,
    entitlement_addr: std::net::SocketAddr,
    _processes: (ServiceProcess, ServiceProcess),
    _stripe: StripeEmulator,
}

async fn stack(db: &TestDatabase) -> Stack {
    let stripe = StripeEmulator::start().await;
    let mut env = stripe.billing_env();
    env.extend([
        ("DATABASE_URL", db.url.clone()),
        ("BILLING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("BILLING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
    ]);
    let billing = ServiceProcess::spawn(BILLING, &env);
    let grpc = billing.address("billing service listening", "grpc_addr").await;
    let http = billing.address("billing service listening", "http_addr").await;
    let entitlement = ServiceProcess::spawn(
        ENTITLEMENT,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("BILLING_URL", format!("http://{grpc}")),
        ],
    );
    let entitlement_grpc = entitlement.address("entitlement service listening", "grpc_addr").await;
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving;
    let service = "caixa.entitlement.v1.EntitlementService";
    caixa_test_support::grpc::wait_for_health(entitlement_grpc, service, serving, Duration::from_secs(20))
        .await;
    Stack {
        billing: BillingServiceClient::new(channel(grpc).await),
        entitlement: EntitlementServiceClient::new(channel(entitlement_grpc).await),
        http,
        entitlement_addr: entitlement_grpc,
        _processes: (billing, entitlement),
        _stripe: stripe,
    }
}

fn refused_short<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, what: &str) -> String {
    let status = result.expect_err(what);
    assert_eq!(status.code(), code, "{what}: {status:?}");
    assert!(status.message().len() < LONGEST, "{what}: {} characters", status.message().len());
    status.message().to_owned()
}

#[tokio::test]
async fn huge_values_are_refused_short_and_paths_and_stripe_wording_never_come_back() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let mut stack = stack(&db).await;
    let huge = "a".repeat(64 * 1024);

    // Act and assert: each huge value is named, not repeated.
    let checked =
        stack.entitlement.check_access(CheckAccessRequest { user_id: huge.clone(), ..Default::default() });
    refused_short(checked.await, Code::InvalidArgument, "a 64 KiB user id");
    let checked = stack.entitlement.check_access(CheckAccessRequest {
        user_id: "ana".into(),
        feature: huge.clone(),
        ..Default::default()
    });
    refused_short(checked.await, Code::InvalidArgument, "a 64 KiB feature");
    let checkout = |email: String, price_id: Option<String>| CreateCheckoutSessionRequest {
        user_id: "ana".into(),
        email,
        price_id,
        ..Default::default()
    };
    let created = stack.billing.create_checkout_session(checkout(format!("{huge}@example.com"), None)).await;
    refused_short(created, Code::InvalidArgument, "a 64 KiB email");
    let created =
        stack.billing.create_checkout_session(checkout("ana@example.com".into(), Some(huge.clone())));
    refused_short(created.await, Code::InvalidArgument, "a 64 KiB price id");
    let status =
        stack.billing.get_subscription_status(GetSubscriptionStatusRequest { user_id: huge.clone() });
    refused_short(status.await, Code::InvalidArgument, "a 64 KiB user id to billing");

    // Stripe refuses a price it does not know: the caller hears caixa's words, not Stripe's.
    let unknown = Some("price_NoSuchPriceAnywhere".to_owned());
    let created = stack.billing.create_checkout_session(checkout("ana@example.com".into(), unknown)).await;
    let message = created.expect_err("an unknown price").message().to_owned();
    assert!(message.len() < LONGEST && !message.contains("No such price"), "{message}");

    // The bridge's 404 does not reflect its path.
    let path = "/stripe/webhook/%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let (code, body) = crate::webhooks::deliver(stack.http, path, "{}", None).await;
    assert_eq!(code, 404);
    assert!(!body.contains("script") && body.len() < LONGEST, "{body}");
}

#[tokio::test]
async fn far_future_revisions_are_refused_at_once_and_ordinary_checks_keep_working() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let stack = stack(&db).await;
    let asking = |revision: u64| CheckAccessRequest {
        user_id: "ana".into(),
        consistency: Some(Consistency { requirement: Some(Requirement::AtLeastAsFresh(revision)) }),
        ..Default::default()
    };

    // Act: 100 calls ask for a revision a billion ahead and 100 for one that will not come
    // within the wait cap, each hundred on a connection of its own (within the
    // per-connection limit); meanwhile 200 ordinary checks on a third.
    let far_client = EntitlementServiceClient::new(channel(stack.entitlement_addr).await);
    let near_client = EntitlementServiceClient::new(channel(stack.entitlement_addr).await);
    let mut far = tokio::task::JoinSet::new();
    let mut near = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let mut client = far_client.clone();
        far.spawn(async move { client.check_access(asking(1_000_000_000)).await.map(drop) });
        let mut client = near_client.clone();
        near.spawn(async move { client.check_access(asking(50)).await.map(drop) });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ordinary = Vec::new();
    for _ in 0..200 {
        let mut client = stack.entitlement.clone();
        ordinary.push(
            client.check_access(CheckAccessRequest { user_id: "ana".into(), ..Default::default() }).await,
        );
    }

    // Assert
    for result in far.join_all().await {
        refused_short(result, Code::OutOfRange, "a revision a billion ahead");
    }
    assert!(ordinary.iter().all(Result::is_ok), "{:?}", ordinary.iter().find(|r| r.is_err()));
    for result in near.join_all().await {
        assert_eq!(result.map_err(|s| s.code()), Err(Code::Unavailable), "waited out the cap");
    }
}
