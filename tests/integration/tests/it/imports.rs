//! The takeover's files on the way in: a bad one (a missing column, a user named twice, a
//! customer Stripe does not know, a line that is not UTF-8) is refused naming what is
//! wrong and where, and changes nothing; a dry run changes nothing; a trial marked by hand
//! holds the user and the email. The real binary.

use caixa_entities::{customers, trial_usage};
use caixa_integration_tests::{billing_command, stripe::StripeEmulator};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");

on_both_backends!(
    bad_files_are_refused_whole_and_change_nothing,
    a_trial_marked_by_hand_holds_user_and_email
);

async fn ledger_rows(conn: &DatabaseConnection) -> u64 {
    trial_usage::Entity::find().count(conn).await.unwrap()
}

async fn bad_files_are_refused_whole_and_change_nothing(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let conn = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let known = stripe.post("/v1/customers", &[("email", "ana@example.com")]).await;
    let known = known["id"].as_str().unwrap().to_owned();
    let file = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "trial-import".into(),
                "--csv".into(),
                file("no-email.csv", b"user_id,used_at\n7,2024-01-01\n".to_vec()),
            ],
            "no column \"email\"",
        ),
        (
            vec![
                "trial-import".into(),
                "--csv".into(),
                file("twice.csv", b"user_id,email,used_at\n7,a@x.com,\n8,b@x.com,\n7,c@x.com,\n".to_vec()),
            ],
            "line 4: user 7 is listed again (first on line 2)",
        ),
        (
            vec![
                "trial-import".into(),
                "--csv".into(),
                file("latin1.csv", b"user_id,email,used_at\n7,a@x.com,\n8,jos\xe9@x.com,\n".to_vec()),
            ],
            "line 3: not UTF-8",
        ),
        (
            vec![
                "trial-import".into(),
                "--csv".into(),
                file("when.csv", b"user_id,email,used_at\n7,a@x.com,last tuesday\n".to_vec()),
            ],
            "line 2: used_at \"last tuesday\"",
        ),
        (
            vec![
                "fix-customer-links".into(),
                "--links".into(),
                file("links.csv", format!("customer_id,user_id\n{known},7\ncus_nope,8\n").into_bytes()),
            ],
            "line 3: Stripe has no customer cus_nope",
        ),
        (
            vec![
                "compare-access".into(),
                "--users".into(),
                file("answers.csv", b"user_id,has_active_subscription\n7,maybe\n".to_vec()),
            ],
            "line 2: has_active_subscription \"maybe\"",
        ),
    ];

    for (args, expected) in cases {
        // Act
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = billing_command(BINARY, &db, &stripe, &args).await;

        // Assert: usage error naming the fault; nothing stored, nothing linked at Stripe.
        assert_eq!(code, Some(2), "{args:?}: {stdout} / {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr:?} should say {expected:?}");
        assert_eq!(ledger_rows(&conn).await, 0, "{args:?} changed the ledger");
        assert_eq!(customers::Entity::find().count(&conn).await.unwrap(), 0, "{args:?} stored a customer");
        let at_stripe = stripe.get(&format!("/v1/customers/{known}")).await;
        assert!(at_stripe["metadata"]["user_id"].is_null(), "{args:?} linked at Stripe: {at_stripe}");
    }
}

async fn a_trial_marked_by_hand_holds_user_and_email(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let conn = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("trials.csv");
    std::fs::write(&csv, "user_id,email,used_at\n41,Bia@Example.com,2025-03-01T10:00:00Z\n").unwrap();
    let csv = csv.to_str().unwrap();

    // Act: a dry run, the import, then a trial marked by hand.
    let dry = billing_command(BINARY, &db, &stripe, &["trial-import", "--csv", csv, "--dry-run"]).await;
    let after_dry = ledger_rows(&conn).await;
    let done = billing_command(BINARY, &db, &stripe, &["trial-import", "--csv", csv]).await;
    let marked = ["trial-status", "--mark-used", "42", "--email", "cris@example.com"];
    let by_hand = billing_command(BINARY, &db, &stripe, &marked).await;

    // Assert
    assert_eq!((dry.0, after_dry), (Some(0), 0), "a dry run stores nothing: {}", dry.1);
    assert!(dry.1.contains("1 would add"), "{}", dry.1);
    assert_eq!(done.0, Some(0), "{}", done.2);
    assert_eq!(by_hand.0, Some(0), "{}", by_hand.2);
    let eligible = |user: &'static str, email: &'static str| {
        let conn = &conn;
        async move {
            billing_service::domain::accounts::trials::eligible(conn, user, Some(email), false).await.unwrap()
        }
    };
    assert!(!eligible("41", "other@example.com").await, "imported user");
    assert!(!eligible("newcomer", "bia@example.com").await, "imported email, normalised");
    assert!(!eligible("42", "other@example.com").await, "user marked by hand");
    assert!(!eligible("newcomer", "cris@example.com").await, "email marked by hand");
    assert!(eligible("newcomer", "dani@example.com").await, "anyone else still has a trial");
}
