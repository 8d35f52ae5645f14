//! Plans and limits through the real services: ListPlans from the synced catalogue, kept
//! current by product and price events; limits and seats in the entitlement service's and
//! a caller's replica's answers; checkout with seats and promotion codes.

use std::time::Duration;

use caixa_client::{ClientConfig, EntitlementClient, Limit, LocalReplica, ReplicaConfig};
use caixa_integration_tests::{
    TestBilling, spawn_billing_with_stripe, spawn_entitlement, stripe::StripeEmulator, wait_until,
};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, ListPlansRequest, Plan, SyncCheckoutSessionRequest,
    billing_service_client::BillingServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use tonic::transport::Channel;

on_both_backends!(
    list_plans_answers_the_catalogue_and_follows_its_changes,
    limits_and_seats_reach_both_services_and_the_replica
);

async fn plans(billing: &mut BillingServiceClient<Channel>) -> Vec<Plan> {
    billing.list_plans(ListPlansRequest {}).await.unwrap().into_inner().plans
}

async fn wait_for_plans(billing: &BillingServiceClient<Channel>, what: &str, want: impl Fn(&[Plan]) -> bool) {
    wait_until(what, Duration::from_secs(15), || async { want(&plans(&mut billing.clone()).await) }).await;
}

async fn list_plans_answers_the_catalogue_and_follows_its_changes(backend: Backend) {
    caixa_test_support::init_test_logging();
    // Arrange: a billing that hears the account's events.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let TestBilling { grpc_addr, http_addr, running } = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    stripe.register_billing(&db, http_addr).await;
    let mut billing = BillingServiceClient::new(channel(grpc_addr).await);
    assert!(plans(&mut billing).await.is_empty(), "nothing on sale yet");

    // Act: two products, the dearer one ordered first and limiting projects.
    let team = stripe
        .plan(
            "Team",
            &[
                ("metadata[features]", "app,reports"),
                ("metadata[limits.projects]", "10"),
                ("metadata[order]", "1"),
            ],
            "9900",
        )
        .await;
    let solo = stripe.plan("Solo", &[("metadata[features]", "app"), ("metadata[order]", "2")], "1900").await;
    wait_for_plans(&billing, "both plans on sale", |p| p.len() == 2).await;
    let listed = plans(&mut billing).await;

    // Assert
    assert_eq!([listed[0].price_id.as_str(), listed[1].price_id.as_str()], [team.as_str(), solo.as_str()]);
    let first = &listed[0];
    assert_eq!((first.name.as_str(), first.unit_amount, first.currency.as_str()), ("Team", 9_900, "brl"));
    assert_eq!((first.interval.as_str(), first.interval_count, first.order), ("month", 1, 1));
    assert_eq!(first.trial_days, 14, "the checkout's trial");
    let features: Vec<(&str, Option<Limit>)> = first
        .features
        .iter()
        .map(|f| (f.feature.as_str(), f.limit.as_ref().map(Limit::from_proto)))
        .collect();
    assert_eq!(features, [("app", None), ("projects", Some(Limit::Count(10))), ("reports", None)]);

    // Act: the limit raised, the cheap price withdrawn.
    let product = listed[0].product_id.clone();
    stripe.post(&format!("/v1/products/{product}"), &[("metadata[limits.projects]", "unlimited")]).await;
    stripe.post(&format!("/v1/prices/{solo}"), &[("active", "false")]).await;

    // Assert: both changes reach the answer.
    wait_for_plans(&billing, "the catalogue's changes", |p| {
        p.len() == 1 && p[0].features.iter().any(|f| f.limit.as_ref().is_some_and(|l| l.unlimited))
    })
    .await;
    running.stop().await.unwrap();
}

/// A checkout through billing for `user` at `price`, completed at the emulator (with a
/// promotion code when given) and synced; the revision.
async fn checkout(
    stripe: &StripeEmulator,
    billing: &mut BillingServiceClient<Channel>,
    (user, price, seats): (&str, &str, u32),
    code: Option<&str>,
) -> u64 {
    let request = CreateCheckoutSessionRequest {
        user_id: user.to_owned(),
        email: format!("{user}@example.com"),
        price_id: Some(price.to_owned()),
        quantity: Some(seats),
        allow_promotion_codes: code.is_some(),
        ..Default::default()
    };
    let session = billing.create_checkout_session(request).await.unwrap().into_inner().session_id;
    let form: Vec<(&str, &str)> = code.map(|c| ("promotion_code", c)).into_iter().collect();
    let completed = stripe.post(&format!("/_emulator/checkout/sessions/{session}/complete"), &form).await;
    assert_eq!(completed["status"], "complete", "{completed}");
    let synced = billing.sync_checkout_session(SyncCheckoutSessionRequest { session_id: session }).await;
    synced.unwrap().into_inner().revision
}

async fn limits_and_seats_reach_both_services_and_the_replica(backend: Backend) {
    caixa_test_support::init_test_logging();
    // Arrange: three plans (ten projects, unlimited projects, no number at all), and a
    // promotion code.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing_app = spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_TRIAL_DAYS", "0")]).await;
    stripe.register_billing(&db, billing_app.http_addr).await;
    let ten = stripe
        .plan("Team", &[("metadata[features]", "app"), ("metadata[limits.projects]", "10")], "900")
        .await;
    let any = stripe.plan("Agency", &[("metadata[limits.projects]", "unlimited")], "5000").await;
    let bare = stripe.plan("Solo", &[("metadata[features]", "app")], "100").await;
    let coupon = stripe.post("/v1/coupons", &[("percent_off", "50")]).await;
    let coupon = coupon["id"].as_str().unwrap();
    stripe.post("/v1/promotion_codes", &[("promotion[coupon]", coupon), ("code", "HALF")]).await;
    let mut billing = BillingServiceClient::new(channel(billing_app.grpc_addr).await);
    wait_for_plans(&billing, "three plans", |p| p.len() == 3).await;
    let entitlement = spawn_entitlement(&db, billing_app.grpc_addr).await;
    let url = format!("http://{}", entitlement.grpc_addr);
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default()).unwrap();

    // Act: ana buys three seats of Team with a code, bruno one of Solo.
    let revision = checkout(&stripe, &mut billing, ("ana", &ten, 3), Some("HALF")).await;
    let ana = client.at_least_as_fresh(revision).check("ana", "projects").await.unwrap();
    let revision = checkout(&stripe, &mut billing, ("bruno", &bare, 1), None).await;
    let bruno = client.at_least_as_fresh(revision).check("bruno", "app").await.unwrap();

    // Assert
    assert!(ana.allowed, "{ana:?}");
    assert_eq!((ana.limit, ana.seats), (Some(Limit::Count(10)), 3));
    let paid = stripe.get("/v1/checkout/sessions?status=complete").await;
    let discounts: Vec<i64> = paid["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total_details"]["amount_discount"].as_i64().unwrap())
        .collect();
    assert!(discounts.contains(&1_350), "half of 3 × 9.00 off ana's checkout: {discounts:?}");
    assert_eq!((bruno.allowed, bruno.limit, bruno.seats), (true, None, 1), "no number set");

    // Act: ana adds Agency (unlimited projects) beside Team, then grows Team to 5 seats.
    let revision = checkout(&stripe, &mut billing, ("ana", &any, 1), None).await;
    let both = client.at_least_as_fresh(revision).check("ana", "projects").await.unwrap();
    let subs = stripe.get(&format!("/v1/subscriptions?price={ten}")).await;
    let team_sub = subs["data"][0]["id"].as_str().unwrap().to_owned();
    stripe.post(&format!("/v1/subscriptions/{team_sub}"), &[("items[0][quantity]", "5")]).await;

    // Assert: the largest limit applies; the quantity change arrives by webhook.
    assert_eq!(both.limit, Some(Limit::Unlimited), "the larger of 10 and unlimited");
    wait_until("five seats on Team", Duration::from_secs(15), || async {
        let entitlements = client.entitlements("ana").await.unwrap();
        entitlements.subscriptions.iter().any(|s| s.subscription_id == team_sub && s.quantity == 5)
    })
    .await;
    let entitlements = client.entitlements("ana").await.unwrap();
    assert_eq!(entitlements.limits, [("projects".to_owned(), Limit::Unlimited)]);
    let replica = LocalReplica::start(&[url.as_str()], ClientConfig::default(), ReplicaConfig::default())
        .await
        .unwrap();
    let service =
        [client.check("ana", "projects").await.unwrap(), client.check("bruno", "app").await.unwrap()];
    let replicated = [replica.check("ana", "projects").unwrap(), replica.check("bruno", "app").unwrap()];
    for (service, replicated) in service.iter().zip(&replicated) {
        assert_eq!((replicated.limit, replicated.seats), (service.limit, service.seats), "{replicated:?}");
    }
    drop(replica);
    entitlement.running.stop().await.unwrap();
    billing_app.running.stop().await.unwrap();
}

#[tokio::test]
async fn plans_are_open_to_anyone_only_where_the_policy_says_and_seats_are_checked() {
    caixa_test_support::init_test_logging();
    // Arrange: token callers; one billing opens ListPlans to anyone, the other does not.
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("web {}\n", caixa_runtime::auth::hash_hex("t-web"))).unwrap();
    let tokens = tokens.display().to_string();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let stripe = StripeEmulator::start().await;
    let policy = "web = caixa.billing.v1.BillingService/*";
    let open = format!("{policy}; * = caixa.billing.v1.BillingService/ListPlans");
    let opened = [("CALLER_TOKENS_FILE", tokens.as_str()), ("CALLER_POLICY", open.as_str())];
    let opened = spawn_billing_with_stripe(&db, &stripe, &opened).await;
    let closed = [("CALLER_TOKENS_FILE", tokens.as_str()), ("CALLER_POLICY", policy)];
    let closed = spawn_billing_with_stripe(&db, &stripe, &closed).await;

    // Act
    let code = |addr| async move {
        let mut client = BillingServiceClient::new(channel(addr).await);
        client.list_plans(ListPlansRequest {}).await.map_or_else(|s| s.code(), |_| tonic::Code::Ok)
    };
    let anonymous = (code(opened.grpc_addr).await, code(closed.grpc_addr).await);
    let mut web = BillingServiceClient::new(channel(opened.grpc_addr).await);
    let mut refused = Vec::new();
    for seats in [0, 10_001] {
        let mut request = tonic::Request::new(CreateCheckoutSessionRequest {
            user_id: "ana".to_owned(),
            email: "ana@example.com".to_owned(),
            price_id: Some("price_x".to_owned()),
            quantity: Some(seats),
            ..Default::default()
        });
        request.metadata_mut().insert("authorization", "Bearer t-web".parse().unwrap());
        refused.push(web.create_checkout_session(request).await.unwrap_err());
    }

    // Assert
    assert_eq!(anonymous, (tonic::Code::Ok, tonic::Code::Unauthenticated));
    for status in refused {
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("quantity"), "{}", status.message());
    }
    opened.running.stop().await.unwrap();
    closed.running.stop().await.unwrap();
}
