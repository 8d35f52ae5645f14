//! `fix-customer-links` on customers made outside checkout: each linking rule, ambiguous
//! emails left alone, and `--dry-run` changing nothing. The real binary.

use caixa_entities::customers;
use caixa_integration_tests::{billing_command, stripe::StripeEmulator};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use sea_orm::EntityTrait;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");

on_both_backends!(each_rule_links_and_ambiguity_is_left_alone);

async fn fix(db: &TestDatabase, stripe: &StripeEmulator, users: &std::path::Path, dry_run: bool) -> Value {
    let mut args = vec!["fix-customer-links", "--json", "--users", users.to_str().unwrap()];
    if dry_run {
        args.push("--dry-run");
    }
    let (code, stdout, stderr) = billing_command(BINARY, db, stripe, &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

async fn customer(stripe: &StripeEmulator, form: &[(&str, &str)]) -> String {
    stripe.post("/v1/customers", form).await["id"].as_str().unwrap().to_owned()
}

async fn each_rule_links_and_ambiguity_is_left_alone(backend: Backend) {
    // Arrange: customers made at Stripe directly, none known to billing.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let by_metadata =
        customer(&stripe, &[("email", "ana@example.com"), ("metadata[user_id]", "u-ana")]).await;
    let by_checkout = customer(&stripe, &[("email", "bia@example.com")]).await;
    let session = stripe
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", &by_checkout),
                ("line_items[0][price]", &price),
                ("client_reference_id", "u-bia"),
                ("success_url", "http://localhost/ok"),
            ],
        )
        .await;
    stripe
        .post(&format!("/_emulator/checkout/sessions/{}/complete", session["id"].as_str().unwrap()), &[])
        .await;
    let by_email = customer(&stripe, &[("email", "Cris@Example.com")]).await;
    let twin_a = customer(&stripe, &[("email", "dani@example.com")]).await;
    let twin_b = customer(&stripe, &[("email", "dani@example.com")]).await;
    let shared = customer(&stripe, &[("email", "eva@example.com")]).await;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        "user_id,email\nu-cris,cris@example.com\nu-dani,dani@example.com\nu-eva,eva@example.com\nu-eva2,EVA@example.com\n",
    )
    .unwrap();
    let conn = db.connect().await;

    // Act: a dry run, then the real one.
    let dry = fix(&db, &stripe, &users, true).await;
    let links_after_dry = customers::Entity::find().all(&conn).await.unwrap().len();
    let done = fix(&db, &stripe, &users, false).await;

    // Assert: the dry run found the same links and changed nothing.
    assert_eq!(dry["links"], done["links"], "{dry} vs {done}");
    assert_eq!(links_after_dry, 0, "a dry run stores nothing");
    let linked = |id: &str| {
        let conn = &conn;
        let id = id.to_owned();
        async move { customers::Entity::find_by_id(id).one(conn).await.unwrap().and_then(|c| c.user_id) }
    };
    assert_eq!(linked(&by_metadata).await.as_deref(), Some("u-ana"), "by metadata");
    assert_eq!(linked(&by_checkout).await.as_deref(), Some("u-bia"), "by checkout");
    assert_eq!(linked(&by_email).await.as_deref(), Some("u-cris"), "by email, case and spaces aside");
    for id in [&twin_a, &twin_b, &shared] {
        assert_eq!(linked(id).await, None, "{id} was ambiguous and must be left alone");
    }
    assert_eq!(done["ambiguous"].as_array().unwrap().len(), 2, "{done}");
    let at_stripe = stripe.get(&format!("/v1/customers/{by_email}")).await;
    assert_eq!(at_stripe["metadata"]["user_id"], "u-cris", "the link is written to Stripe too");
    assert!(stripe.get(&format!("/v1/customers/{twin_a}")).await["metadata"]["user_id"].is_null());
}
