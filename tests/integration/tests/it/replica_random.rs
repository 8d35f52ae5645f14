//! The replica against thousands of users and a randomized sequence of changes: an
//! account taken over by `sync-stripe` while the replica is already following, then
//! pauses, resumes, cancellations, seat changes and new subscribers (to a plan with a
//! limit) delivered as webhooks, in an order
//! drawn from a seed (`REPLICA_SEED` replays one). Afterwards the replica answers exactly
//! as the service does for every user and feature, one check at a time and many at once.

use std::{collections::HashMap, time::Duration};

use caixa_client::{Access, ClientConfig, EntitlementClient, LocalReplica, ReplicaConfig};
use caixa_integration_tests::{
    billing_command, inbox_settled, spawn_billing_with_stripe, spawn_entitlement, stripe::StripeEmulator,
    truth::list_all, wait_until,
};
use caixa_test_support::database::{Backend, TestDatabase};

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");
const USERS: usize = 2_000;
const CHANGES: usize = 300;
const FEATURES: [&str; 4] = ["", "app", "reports", "not-sold"];

fn seed() -> u64 {
    std::env::var("REPLICA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0)
}

/// One random change at Stripe; returns the user it touched. Stripe may refuse a change
/// that does not apply to the subscription's state (resuming an active one): that is
/// part of the sequence too.
async fn change(
    stripe: &StripeEmulator,
    rng: &mut fastrand::Rng,
    price: &str,
    subscriptions: &mut Vec<(String, String)>,
    n: usize,
) -> String {
    let (user, sub) = subscriptions[rng.usize(..subscriptions.len())].clone();
    let emulator = |action: &str| format!("/_emulator/subscriptions/{sub}/{action}");
    let update = format!("/v1/subscriptions/{sub}");
    match rng.u8(0..7) {
        0 => drop(stripe.send("POST", &emulator("pause"), &[]).await),
        1 => drop(stripe.send("POST", &emulator("resume"), &[]).await),
        2 => drop(stripe.send("POST", &emulator("cancel"), &[]).await),
        3 => drop(stripe.send("POST", &update, &[("cancel_at_period_end", "true")]).await),
        4 => drop(stripe.send("POST", &update, &[("cancel_at_period_end", "false")]).await),
        5 => {
            let seats = rng.u8(1..6).to_string();
            drop(stripe.send("POST", &update, &[("items[0][quantity]", seats.as_str())]).await);
        }
        _ => {
            let user = format!("new-{n}");
            let trial = if rng.bool() { "7" } else { "0" };
            let session = stripe.subscribe(price, &user, trial).await;
            let sub = session["subscription"].as_str().unwrap_or_default().to_owned();
            subscriptions.push((user.clone(), sub));
            return user;
        }
    }
    user
}

/// Every user's answers from the service, in batches.
async fn service_answers(client: &EntitlementClient, users: &[String]) -> Vec<Access> {
    let checks: Vec<(&str, &str)> =
        users.iter().flat_map(|u| FEATURES.iter().map(move |f| (u.as_str(), *f))).collect();
    let mut answers = Vec::with_capacity(checks.len());
    for batch in checks.chunks(1_000) {
        answers.extend(client.check_batch(batch).await.unwrap());
    }
    answers
}

#[tokio::test]
async fn the_replica_agrees_with_the_service_for_thousands_of_users_after_random_changes() {
    caixa_test_support::init_test_logging();
    let seed = seed();
    eprintln!("REPLICA_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Arrange: an account billing has never heard of, the services, and a replica that
    // starts empty and follows everything that happens next.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let mut users = stripe.seed_account(USERS).await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;
    let url = format!("http://{}", entitlement.grpc_addr);
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default()).unwrap();
    let replica = LocalReplica::start(&[url.as_str()], ClientConfig::default(), ReplicaConfig::default())
        .await
        .unwrap();
    assert_eq!(replica.users(), 0, "nothing is known before the takeover");

    // Act: the takeover, then webhooks for a random sequence of changes.
    let (code, stdout, stderr) = billing_command(BINARY, &db, &stripe, &["sync-stripe", "--json"]).await;
    assert_eq!(code, Some(0), "sync-stripe: {stdout} {stderr}");
    stripe.register_billing(&db, billing.http_addr).await;
    let limited = [("metadata[features]", "app,reports"), ("metadata[limits.reports]", "25")];
    let price = stripe.plan("Caixa Team", &limited, "9900").await;
    let owners: HashMap<String, String> = list_all(&stripe, "/v1/customers")
        .await
        .into_iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["metadata"]["user_id"].as_str()?.to_owned())))
        .collect();
    let mut subscriptions: Vec<(String, String)> = list_all(&stripe, "/v1/subscriptions?status=all")
        .await
        .into_iter()
        .filter_map(|s| Some((owners.get(s["customer"].as_str()?)?.clone(), s["id"].as_str()?.to_owned())))
        .collect();
    subscriptions.sort();
    assert_eq!(subscriptions.len(), USERS, "one subscription per seeded user");
    let mut touched = std::collections::BTreeSet::new();
    for n in 0..CHANGES {
        touched.insert(change(&stripe, &mut rng, &price, &mut subscriptions, n).await);
    }
    users.extend(touched.iter().filter(|u| u.starts_with("new-")).cloned());
    stripe.wait_for_deliveries().await;
    let conn = db.connect().await;
    wait_until("the inbox settled", Duration::from_secs(120), || inbox_settled(&conn)).await;

    // Assert: the replica holds the service's head and answers as it does, everywhere.
    let head = client.check("nobody", "").await.unwrap().revision;
    wait_until("the replica caught up", Duration::from_secs(30), || async { replica.revision() >= head })
        .await;
    let service = service_answers(&client, &users).await;
    let pairs: Vec<(&str, &str)> =
        users.iter().flat_map(|u| FEATURES.iter().map(move |f| (u.as_str(), *f))).collect();
    let many = replica.check_many(&pairs).expect("a fresh replica answers many");
    let mut differ = Vec::new();
    let key = |a: &Access| {
        (a.allowed, a.reason, a.status, a.access_until, a.subscription_id.clone(), a.stale, a.limit, a.seats)
    };
    for (((user, feature), service), many) in pairs.iter().zip(&service).zip(&many) {
        let local = replica.check(user, feature).expect("a fresh replica answers");
        // Read your writes: holding the service's head, it answers for that revision too,
        // from data at least as new as the service's.
        let at_head = replica.check_at_least(user, feature, head);
        let behind = local.revision < service.revision || at_head.as_ref() != Some(&local);
        if key(&local) != key(service) || key(many) != key(service) || behind {
            differ.push(format!(
                "{user}/{feature:?}: replica {:?} at {}, many {:?}, service {:?} at {}",
                key(&local),
                local.revision.get(),
                key(many),
                key(service),
                service.revision.get()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "seed {seed}: {} answers differ: {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
    assert_eq!(replica.users(), users.len(), "every user with a subscription is held");
    let allowed = service.iter().filter(|a| a.allowed).count();
    assert!(allowed > 0 && allowed < service.len(), "the account mixes granted and refused answers");
    assert!(touched.len() > CHANGES / 2, "the changes spread over many users");
    assert!(service.iter().any(|a| a.seats > 1), "some subscription changed its seats");
    let limited = service.iter().filter(|a| a.limit == Some(caixa_client::Limit::Count(25))).count();
    assert!(limited > 0, "some new subscriber's plan limits reports");
    billing.running.stop().await.unwrap();
    entitlement.running.stop().await.unwrap();
}
