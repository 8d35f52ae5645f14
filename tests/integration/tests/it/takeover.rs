//! Taking over an account dj-stripe made, as docs/migrating-from-dj-stripe.md runs it:
//! sync, the app's trial history, dj-stripe's links, the shadow comparison. Every user's
//! CheckAccess must equal the old app's answer, nobody who used a trial gets another, and
//! without dj-stripe's link key the comparison finds paying users locked out.

use std::{collections::BTreeMap, time::Duration};

use caixa_integration_tests::{
    djstripe::{LegacyAccount, Takeover, TakeoverFiles},
    spawn_billing_with_stripe, spawn_entitlement,
    stripe::StripeEmulator,
    wait_until,
};
use caixa_proto::{
    billing::v1::{GetSubscriptionStatusRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{CheckAccessRequest, entitlement_service_client::EntitlementServiceClient},
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");

/// Customers in the account: a few hundred.
const CUSTOMERS: usize = 240;

on_both_backends!(a_djstripe_account_is_taken_over_with_nobody_locked_out);

struct Arranged {
    db: TestDatabase,
    stripe: StripeEmulator,
    account: LegacyAccount,
    answers: BTreeMap<String, bool>,
    files: TakeoverFiles,
    _dir: tempfile::TempDir,
}

async fn arrange(backend: Backend) -> Arranged {
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let account = LegacyAccount::build(&stripe, CUSTOMERS).await;
    let answers = account.answers(&stripe).await;
    let dir = tempfile::tempdir().unwrap();
    let files = TakeoverFiles::write(dir.path(), &account, &answers);
    Arranged { db, stripe, account, answers, files, _dir: dir }
}

fn disagreeing(report: &Value) -> Vec<String> {
    let items = report["disagreements"].as_array().unwrap();
    items.iter().map(|d| d["user_id"].as_str().unwrap().to_owned()).collect()
}

async fn a_djstripe_account_is_taken_over_with_nobody_locked_out(backend: Backend) {
    // Arrange
    let Arranged { db, stripe, account, answers, files, _dir } = arrange(backend).await;
    let takeover = Takeover { program: BINARY.into(), db: &db, stripe: &stripe, env: Vec::new() };
    assert!(answers.values().filter(|a| **a).count() > CUSTOMERS / 4, "the account has paying users");

    // Act
    let steps = takeover.all(&files).await;

    // Assert: the comparison agrees on every user, and billing copied dj-stripe's links.
    assert_eq!(steps.compare.0, Some(0), "compare-access: {}", steps.compare.1);
    assert_eq!(steps.compare.1["users"].as_u64(), Some(account.users.len() as u64), "{}", steps.compare.1);
    assert!(steps.links["links"].as_array().unwrap().len() >= account.unnamed.len() / 2, "{}", steps.links);
    let (customer, user) = account.links.iter().find(|(c, _)| !account.unnamed.contains(c)).unwrap();
    let at_stripe = stripe.get(&format!("/v1/customers/{customer}")).await;
    assert!(at_stripe["deleted"] == true || at_stripe["metadata"]["user_id"] == user.as_str(), "{at_stripe}");

    // Assert: CheckAccess equals the old app's answer for every user.
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;
    let access = EntitlementServiceClient::new(channel(entitlement.grpc_addr).await);
    let mut status = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let mismatches = || {
        let mut access = access.clone();
        let answers = &answers;
        async move {
            let mut wrong = Vec::new();
            for (user, expected) in answers {
                let check = CheckAccessRequest { user_id: user.clone(), ..Default::default() };
                let answer = access.check_access(check).await.unwrap().into_inner();
                if answer.allowed != *expected {
                    wrong.push(format!("{user}: {} ({:?})", answer.allowed, answer.reason()));
                }
            }
            wrong
        }
    };
    wait_until("every user's access equals the old app's", Duration::from_secs(30), || async {
        mismatches().await.is_empty()
    })
    .await;

    // Assert: nobody who used a trial may have another, by user or by email.
    let conn = db.connect().await;
    for user in &account.users {
        let request = GetSubscriptionStatusRequest { user_id: user.clone() };
        let eligible = status.get_subscription_status(request).await.unwrap().into_inner().trial_eligible;
        let used = account.trials.contains(user);
        assert_eq!(eligible, !used, "user {user}: trial used {used}, eligible {eligible}");
        let email = &account.emails[user];
        let by_email =
            billing_service::domain::accounts::trials::eligible(&conn, "newcomer", Some(email), false).await;
        assert_eq!(by_email.unwrap(), !used, "email {email} of {user}: trial used {used}");
    }

    // Assert: a planted disagreement is found and named; a second run changes nothing.
    let planted = answers.keys().nth(answers.len() / 2).unwrap().clone();
    let mut wrong = answers.clone();
    wrong.insert(planted.clone(), !answers[&planted]);
    files.write_answers(&wrong);
    let (code, report) = takeover.json(&["compare-access", "--users", files.answers.to_str().unwrap()]).await;
    assert_eq!((code, disagreeing(&report)), (Some(1), vec![planted]), "{report}");
    let (code, again) = takeover.json(&["sync-stripe"]).await;
    assert_eq!((code, again["revisions"].as_u64()), (Some(0), Some(0)), "a second sync: {again}");
    let (_, trials) = takeover.json(&["trial-import", "--csv", files.trials.to_str().unwrap()]).await;
    assert_eq!(trials["added"].as_u64(), Some(0), "a second import: {trials}");

    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn without_the_djstripe_link_key_paying_users_are_locked_out() {
    caixa_test_support::init_test_logging();
    // Arrange: the same account, billing told to read `user_id` only.
    let Arranged { db, stripe, account, files, _dir, .. } = arrange(Backend::Postgres).await;
    let env = vec![("STRIPE_CUSTOMER_USER_KEYS", "user_id".to_owned())];
    let takeover = Takeover { program: BINARY.into(), db: &db, stripe: &stripe, env };

    // Act
    let steps = takeover.all(&files).await;

    // Assert: the comparison fails, naming users whose only link was djstripe_subscriber.
    let (code, report) = &steps.compare;
    assert_eq!(*code, Some(1), "{report}");
    let locked_out: Vec<&Value> = report["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["old"] == true && d["caixa"] == false)
        .collect();
    assert!(locked_out.len() > CUSTOMERS / 8, "paying users locked out: {report}");
    let named: Vec<&str> = locked_out.iter().map(|d| d["user_id"].as_str().unwrap()).collect();
    let keyed = |user: &str| account.links.iter().any(|(c, u)| u == user && !account.unnamed.contains(c));
    assert!(named.iter().all(|u| keyed(u)), "only users linked by metadata are locked out: {named:?}");
}
