//! The acceptance test of access staying equal to Stripe's: a seeded scenario of many
//! users' lives under delivery chaos, 429 bursts and two SIGKILLs of billing, then one
//! reconciliation pass. `CONVERGENCE_SEED` replays a failure; `CONVERGENCE_USERS` sizes
//! it (500 by default; the benchmark runs 5,000).

use std::path::PathBuf;

use caixa_integration_tests::convergence::{Scenario, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_users_access_converges_to_stripes_truth() {
    // Arrange
    let users = std::env::var("CONVERGENCE_USERS").ok().and_then(|u| u.parse().ok()).unwrap_or(500);
    let seed = Scenario::seed_from_env();
    eprintln!("convergence: {users} users, seed {seed} (replay with CONVERGENCE_SEED={seed})");
    let scenario = Scenario::new(users, seed, PathBuf::from(env!("CARGO_BIN_EXE_billing-process")));

    // Act
    let outcome = run(&scenario).await;

    // Assert
    let verdict = &outcome.verdict;
    eprintln!(
        "convergence: {} users compared; first pass healed {}; converged {:.1} s after the scenario; {:.1} s in all",
        verdict.users_checked,
        verdict.first_pass.drift(),
        outcome.time_to_converge.as_secs_f64(),
        outcome.total.as_secs_f64()
    );
    assert!(verdict.users_checked >= users, "every user compared");
    assert!(verdict.first_pass.ran, "the reconciliation pass ran");
    assert!(verdict.converged(), "seed {seed} did not converge: {verdict:#?}");
}
