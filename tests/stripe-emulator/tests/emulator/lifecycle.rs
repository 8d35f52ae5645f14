//! A subscription's life, end to end, seen through signed webhooks: checkout → trial →
//! active → failed payment → past_due → canceled, with retries stopping at the first 2xx.

use std::time::{SystemTime, UNIX_EPOCH};

use stripe_webhook::{EventObject, Webhook};

use crate::client::{Api, Receiver, register};

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Verifies each delivery the way a Stripe library does and returns the event types in
/// the order the events were created.
fn verified_types(received: &[crate::client::Received], secret: &str) -> Vec<String> {
    let mut events: Vec<(i64, usize, String)> = received
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let event = Webhook::construct_event_with_timestamp(&r.body, &r.signature, secret, now())
                .unwrap_or_else(|e| panic!("delivery rejected by async-stripe: {e:?}: {}", r.body));
            if event.type_.as_str().starts_with("customer.subscription.") {
                assert!(
                    matches!(
                        event.data.object,
                        EventObject::CustomerSubscriptionCreated(_)
                            | EventObject::CustomerSubscriptionUpdated(_)
                            | EventObject::CustomerSubscriptionDeleted(_)
                            | EventObject::CustomerSubscriptionTrialWillEnd(_)
                    ),
                    "typed object for {}",
                    event.type_.as_str()
                );
            }
            (event.created, i, event.type_.as_str().to_owned())
        })
        .collect();
    events.sort();
    events.into_iter().map(|(_, _, t)| t).collect()
}

#[tokio::test]
async fn trial_to_cancellation_emits_stripes_event_sequence() {
    // Arrange
    let api = Api::start().await;
    let receiver = Receiver::start(vec![]).await;
    let price = api.monthly_price("4990").await;
    let secret = register(
        &api,
        &receiver,
        &[
            "customer.created",
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "customer.subscription.trial_will_end",
            "checkout.session.completed",
            "invoice.paid",
            "invoice.payment_failed",
        ],
    )
    .await;
    let session = api.checkout(&price, "14").await;

    // Act: complete, reach trial end (paid), then fail the next renewal and every retry.
    api.post(&format!("/_emulator/checkout/sessions/{}/complete", session["id"].as_str().unwrap()), &[])
        .await;
    api.post("/_emulator/clock/advance", &[("days", "15")]).await;
    let (_, subs) = api.get("/v1/subscriptions").await;
    let customer = subs["data"][0]["customer"].as_str().unwrap().to_owned();
    assert_eq!(subs["data"][0]["status"], "active");
    api.post(&format!("/_emulator/customers/{customer}/card"), &[("declines", "true")]).await;
    api.post("/_emulator/clock/advance", &[("days", "31")]).await;
    let (_, sub) = api.get(&format!("/v1/subscriptions/{}", subs["data"][0]["id"].as_str().unwrap())).await;
    assert_eq!(sub["status"], "past_due");
    api.post("/_emulator/clock/advance", &[("days", "10")]).await;

    // Assert
    let expected = [
        "customer.created",
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "customer.subscription.updated",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "invoice.payment_failed",
        "invoice.payment_failed",
        "invoice.payment_failed",
        "customer.subscription.deleted",
    ];
    let received = receiver.wait_for(expected.len()).await;
    assert_eq!(verified_types(&received, &secret), expected);
    let (_, sub) = api.get(&format!("/v1/subscriptions/{}", subs["data"][0]["id"].as_str().unwrap())).await;
    assert_eq!(sub["status"], "canceled");
    let updated: serde_json::Value = received
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap())
        .find(|e| e["type"] == "customer.subscription.updated")
        .unwrap();
    assert_eq!(updated["data"]["previous_attributes"]["status"], "trialing", "{updated}");
}

#[tokio::test]
async fn retries_back_off_and_stop_at_the_first_2xx() {
    // Arrange: the endpoint fails twice, then accepts.
    let api = Api::start().await;
    let receiver = Receiver::start(vec![500, 503]).await;
    register(&api, &receiver, &["customer.created"]).await;

    // Act
    let (_, customer) = api.post("/v1/customers", &[("email", "c@example.com")]).await;
    receiver.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Assert: three attempts of the same event, the third answered 200, no fourth.
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.body == received[0].body), "every retry carries the same event");
    let (_, log) = api.get("/_emulator/deliveries").await;
    let statuses: Vec<_> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["attempt"].as_u64(), a["status"].as_u64()))
        .collect();
    assert_eq!(statuses, [(Some(1), Some(500)), (Some(2), Some(503)), (Some(3), Some(200))]);
    let event: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(event["data"]["object"]["id"], customer["id"]);
}

#[tokio::test]
async fn dropped_deliveries_stay_in_the_events_list() {
    let api = Api::start().await;
    let receiver = Receiver::start(vec![]).await;
    register(&api, &receiver, &["customer.created"]).await;
    api.post("/_emulator/chaos", &[("drop_next", "1"), ("duplicates", "1")]).await;

    api.post("/v1/customers", &[("email", "dropped@example.com")]).await;
    api.post("/v1/customers", &[("email", "doubled@example.com")]).await;

    let received = receiver.wait_for(2).await;
    assert!(received.iter().all(|r| r.body.contains("doubled@example.com")), "only the second, twice");
    let (_, events) = api.get("/v1/events?type=customer.created").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2, "the dropped event is still listed");
}

#[tokio::test]
async fn the_seeded_plan_grants_the_features_the_client_examples_guard() {
    // Arrange: the plan `cargo stack` sells.
    let api = Api::start().await;
    let price = api.emulator.seed_plan("Caixa Pro", 4990, "brl").unwrap();

    // Act
    let (_, price) = api.get(&format!("/v1/prices/{price}")).await;
    let (_, product) = api.get(&format!("/v1/products/{}", price["product"].as_str().unwrap())).await;

    // Assert: `app` for the app itself, `reports` for the examples' guarded route.
    let features: Vec<&str> = product["metadata"]["features"].as_str().unwrap().split(',').collect();
    assert_eq!(features, ["app", "reports"]);
}
