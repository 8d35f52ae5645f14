//! The API surface available at this stage: GetConfig answers from settings, and RPCs not
//! served yet say so with UNIMPLEMENTED naming the RPC.

use caixa_integration_tests::{spawn_billing, spawn_entitlement};
use caixa_proto::{
    billing::v1::{GetConfigRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{CheckAccessRequest, entitlement_service_client::EntitlementServiceClient},
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};
use tonic::Code;

#[tokio::test]
async fn get_config_reports_the_active_mode() {
    caixa_test_support::init_test_logging();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    for (live, key_vars, expected_key) in [
        (
            "false",
            [("STRIPE_TEST_SECRET_KEY", "sk_test_abc"), ("STRIPE_TEST_PUBLIC_KEY", "pk_test_abc")],
            "pk_test_abc",
        ),
        (
            "true",
            [("STRIPE_LIVE_SECRET_KEY", "sk_live_xyz"), ("STRIPE_LIVE_PUBLIC_KEY", "pk_live_xyz")],
            "pk_live_xyz",
        ),
    ] {
        // Arrange: both modes' public keys are set; only the active one may be reported.
        let mut extra = vec![
            ("STRIPE_LIVE_MODE", live),
            ("STRIPE_DEFAULT_PRICE_ID", "price_default"),
            ("STRIPE_TRIAL_DAYS", "7"),
            ("STRIPE_TEST_PUBLIC_KEY", "pk_test_abc"),
            ("STRIPE_LIVE_PUBLIC_KEY", "pk_live_xyz"),
        ];
        extra.extend(key_vars);
        let billing = spawn_billing(&db, &extra).await;
        let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);

        // Act
        let config = client.get_config(GetConfigRequest {}).await.expect("GetConfig").into_inner();

        // Assert
        assert_eq!(config.publishable_key, expected_key);
        assert_eq!(config.live_mode, live == "true");
        assert_eq!(config.default_price_id, "price_default");
        assert_eq!(config.trial_days, 7);
        billing.running.stop().await.expect("drain");
    }
}

#[tokio::test]
async fn rpcs_not_served_yet_answer_unimplemented_by_name() {
    caixa_test_support::init_test_logging();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;

    let status = EntitlementServiceClient::new(channel(entitlement.grpc_addr).await)
        .check_access(CheckAccessRequest::default())
        .await
        .expect_err("not served yet");
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("CheckAccess"), "{}", status.message());

    entitlement.running.stop().await.expect("drain");
    billing.running.stop().await.expect("drain");
}
