//! The entitlement binary as a process: bad settings stop it with the variable named, and
//! SIGTERM drains in-flight calls and exits 0.
#![allow(missing_docs)]

use caixa_test_support::process::{assert_bad_config_is_named, assert_sigterm_drains_in_flight_call};

const BINARY: &str = env!("CARGO_BIN_EXE_entitlement-service");

#[tokio::test]
async fn bad_settings_exit_non_zero_naming_the_variable() {
    assert_bad_config_is_named(
        BINARY,
        &[
            (&[("ENTITLEMENT_GRPC_ADDR", "50052")], "ENTITLEMENT_GRPC_ADDR"),
            (&[("BILLING_URL", "billing:50051")], "BILLING_URL"),
            (&[("BILLING_URL", "not a url")], "BILLING_URL"),
            (&[("DATABASE_URL", "file.db")], "DATABASE_URL"),
            (&[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        ],
    )
    .await;
}

#[tokio::test]
async fn sigterm_finishes_the_in_flight_call_and_exits_zero() {
    assert_sigterm_drains_in_flight_call(
        BINARY,
        &[("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".into())],
        "entitlement service listening",
        "caixa.entitlement.v1.EntitlementService",
    )
    .await;
}
