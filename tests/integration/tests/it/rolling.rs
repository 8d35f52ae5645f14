//! A rolling restart of two billing and two entitlement processes on one PostgreSQL while
//! a caller checks access continuously and subscribers keep arriving: no failed check at
//! the caller, no event lost, every user equal to Stripe at the end.

use std::time::Duration;

use caixa_integration_tests::rolling::{Programs, run};

#[tokio::test]
async fn a_rolling_restart_fails_no_check_and_loses_no_event() {
    caixa_test_support::init_test_logging();
    // Arrange
    let programs = Programs {
        billing: (env!("CARGO_BIN_EXE_billing-process").into(), Vec::new()),
        entitlement: (env!("CARGO_BIN_EXE_entitlement-process").into(), Vec::new()),
    };

    // Act
    let outcome = run(&programs, 6, Duration::from_millis(400)).await;

    // Assert
    assert!(outcome.checks > 100, "the caller kept checking: {outcome:?}");
    assert_eq!(outcome.failed, 0, "checks failed at the caller during the roll: {outcome:?}");
    assert!(outcome.users > 6, "subscribers arrived during the roll: {outcome:?}");
    assert!(outcome.lost.is_empty(), "events never applied: {:?}", outcome.lost);
    assert!(outcome.mismatches.is_empty(), "users unequal to Stripe: {:#?}", outcome.mismatches);
}
