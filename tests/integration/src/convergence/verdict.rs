//! Judging the scenario: one reconciliation pass, then every user's access compared with
//! the access policy applied to Stripe's own objects at the same instant.

use std::{collections::HashMap, sync::Arc, time::Duration};

use billing_service::{
    domain::operations::reconcile::{Reconciler, Report},
    revisions::RevisionFeed,
    store::revisions,
};
use caixa_proto::entitlement::v1::{
    CheckAccessRequest, entitlement_service_client::EntitlementServiceClient,
};
use caixa_test_support::grpc::channel;

use super::drive::{Life, World};
use crate::truth::Truth;

/// What the scenario ended with.
#[derive(Debug)]
pub struct Verdict {
    /// Users whose access was compared.
    pub users_checked: usize,
    /// Every user whose answers differ from Stripe's truth, described.
    pub mismatches: Vec<String>,
    /// The most trials any one user had.
    pub max_trials_per_user: usize,
    /// The most trials any one email had.
    pub max_trials_per_email: usize,
    /// The reconciliation pass after the scenario.
    pub first_pass: Report,
    /// The pass after that: nothing should be left to heal.
    pub second_pass: Report,
}

impl Verdict {
    /// Whether every user converged, trials were granted once at most, and nothing was
    /// left to heal.
    pub fn converged(&self) -> bool {
        self.mismatches.is_empty()
            && self.max_trials_per_user <= 1
            && self.max_trials_per_email <= 1
            && self.second_pass.ran
            && self.second_pass.drift() == 0
    }
}

/// Reconciles once, waits for everything to follow, and compares.
pub async fn judge(world: &World, lives: &[Life], settle_within: Duration) -> Verdict {
    let reconciler = Reconciler::new(
        world.conn.clone(),
        world.stripe.billing_api(),
        Arc::default(),
        RevisionFeed::default(),
    );
    let first_pass = reconciler.pass(true).await.expect("first reconciliation pass");
    world.quiet(settle_within).await;
    let mut access = EntitlementServiceClient::new(channel(world.entitlement.grpc_addr).await);
    let head = revisions::head(&world.conn).await.expect("head revision").0;
    for _ in 0..300 {
        let probe = CheckAccessRequest { user_id: "u0".to_owned(), ..Default::default() };
        if access.check_access(probe).await.expect("CheckAccess").into_inner().revision >= head.get() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let truth = Truth::read(&world.stripe).await;
    let emails: HashMap<&str, &str> = lives.iter().map(|l| (l.user.as_str(), l.email.as_str())).collect();
    let mut per_email = HashMap::<String, usize>::new();
    for (user, trials) in &truth.trials_by_user {
        let email = emails.get(user.as_str()).copied().unwrap_or_default().to_lowercase();
        *per_email.entry(email).or_default() += trials;
    }
    let users: Vec<String> = lives.iter().flat_map(|l| l.users.iter().cloned()).collect();
    let mismatches = truth.mismatches(world.entitlement.grpc_addr, world.grpc_addr, &users).await;
    let second_pass = reconciler.pass(true).await.expect("second reconciliation pass");
    Verdict {
        users_checked: users.len(),
        mismatches,
        max_trials_per_user: truth.trials_by_user.values().copied().max().unwrap_or(0),
        max_trials_per_email: per_email.values().copied().max().unwrap_or(0),
        first_pass,
        second_pass,
    }
}
