//! The billing binary as a process: bad settings stop it with the variable named, and
//! SIGTERM drains in-flight calls and exits 0.
#![allow(missing_docs)]

use caixa_test_support::process::{assert_bad_config_is_named, assert_sigterm_drains_in_flight_call};

const BINARY: &str = env!("CARGO_BIN_EXE_billing-service");

#[tokio::test]
async fn bad_settings_exit_non_zero_naming_the_variable() {
    assert_bad_config_is_named(
        BINARY,
        &[
            (&[("BILLING_GRPC_ADDR", "not-an-address")], "BILLING_GRPC_ADDR"),
            (&[("BILLING_HTTP_ADDR", "localhost")], "BILLING_HTTP_ADDR"),
            (&[("DATABASE_URL", "mysql://db/caixa")], "DATABASE_URL"),
            (&[("STRIPE_LIVE_MODE", "maybe")], "STRIPE_LIVE_MODE"),
            (&[("STRIPE_TEST_SECRET_KEY", "sk_live_123")], "STRIPE_TEST_SECRET_KEY"),
            (
                &[
                    ("STRIPE_LIVE_MODE", "true"),
                    ("ALLOW_UNAUTHENTICATED", "true"),
                    ("STRIPE_LIVE_SECRET_KEY", "sk_test_123"),
                ],
                "STRIPE_LIVE_SECRET_KEY",
            ),
            (&[("STRIPE_TEST_PUBLIC_KEY", "sk_test_123")], "STRIPE_TEST_PUBLIC_KEY"),
            (&[("DJSTRIPE_WEBHOOK_SECRET", "secret")], "STRIPE_WEBHOOK_SECRET"),
            (&[("STRIPE_TRIAL_DAYS", "-1")], "STRIPE_TRIAL_DAYS"),
            (&[("STRIPE_READS_PER_SECOND", "-5")], "STRIPE_READS_PER_SECOND"),
            (&[("STRIPE_DEFAULT_PRICE_ID", "prod_123")], "STRIPE_DEFAULT_PRICE_ID"),
            (&[("FRONTEND_URL", "ftp://example.com")], "FRONTEND_URL"),
            (&[("SHUTDOWN_GRACE_SECONDS", "soon")], "SHUTDOWN_GRACE_SECONDS"),
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_settings_never_echo_a_secret() {
    let (_, stderr) = caixa_test_support::process::run_to_exit(
        BINARY,
        &[
            ("STRIPE_LIVE_MODE", "true"),
            ("ALLOW_UNAUTHENTICATED", "true"),
            ("STRIPE_LIVE_SECRET_KEY", "sk_test_do_not_print_me"),
        ],
    )
    .await;
    assert!(stderr.contains("STRIPE_LIVE_SECRET_KEY"), "{stderr}");
    assert!(!stderr.contains("do_not_print_me"), "secret leaked: {stderr}");
}

#[tokio::test]
async fn sigterm_finishes_the_in_flight_call_and_exits_zero() {
    assert_sigterm_drains_in_flight_call(
        BINARY,
        &[("BILLING_GRPC_ADDR", "127.0.0.1:0".into()), ("BILLING_HTTP_ADDR", "127.0.0.1:0".into())],
        "billing service listening",
        "caixa.billing.v1.BillingService",
    )
    .await;
}
