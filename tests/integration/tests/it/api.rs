//! GetConfig answers from settings, for the active mode only.

use caixa_integration_tests::spawn_billing;
use caixa_proto::billing::v1::{GetConfigRequest, billing_service_client::BillingServiceClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};

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
            ("ALLOW_UNAUTHENTICATED", "true"),
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
