//! The convergence scenario: many users live through checkout, trials, conversion,
//! failed payments, cancellation, pause, re-linking and customer deletion against the
//! Stripe emulator, while deliveries are duplicated, shuffled and dropped, the emulator
//! answers 429 in bursts and billing is killed with SIGKILL twice. After one
//! reconciliation pass, every user's access must equal the policy applied to Stripe's
//! own objects. Each user's choices come from the seed, so a failing seed replays the
//! same lives.

mod drive;
mod verdict;

use std::{path::PathBuf, time::Duration};

pub use drive::Life;
pub use verdict::Verdict;

/// What to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// How many users.
    pub users: usize,
    /// The seed every user's choices derive from.
    pub seed: u64,
    /// The billing service binary to run (and kill).
    pub billing_program: PathBuf,
    /// Extra environment for it (a role switch, say).
    pub billing_env: Vec<(&'static str, String)>,
    /// Users driven at once.
    pub concurrency: usize,
    /// How long the deliveries and the inbox may take to settle once the scenario ends.
    pub settle_within: Duration,
}

impl Scenario {
    /// `users` users from `seed`, billing run from `billing_program`.
    pub fn new(users: usize, seed: u64, billing_program: PathBuf) -> Self {
        // A backlog drains at some tens of events a second on this machine; leave room.
        let settle_within = Duration::from_secs(180).max(Duration::from_millis(120 * users as u64));
        Self { users, seed, billing_program, billing_env: Vec::new(), concurrency: 8, settle_within }
    }

    /// The seed from `CONVERGENCE_SEED` when set (to replay a failure), else a new one.
    pub fn seed_from_env() -> u64 {
        std::env::var("CONVERGENCE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0)
    }
}

/// What a run found, and how long convergence took.
#[derive(Debug)]
pub struct Outcome {
    /// The verdict after one reconciliation pass.
    pub verdict: Verdict,
    /// From the end of the scenario (the last action at Stripe) to every user matching
    /// Stripe: deliveries settling, the inbox draining, one reconciliation pass, the
    /// entitlement service following.
    pub time_to_converge: Duration,
    /// The whole run.
    pub total: Duration,
}

/// Runs the scenario on a fresh PostgreSQL database.
pub async fn run(scenario: &Scenario) -> Outcome {
    let started = std::time::Instant::now();
    let world = drive::World::start(scenario).await;
    let lives = world.live(scenario).await;
    let settled = std::time::Instant::now();
    world.quiet(scenario.settle_within).await;
    let verdict = verdict::judge(&world, &lives, scenario.settle_within).await;
    let time_to_converge = settled.elapsed();
    world.stop().await;
    Outcome { verdict, time_to_converge, total: started.elapsed() }
}
