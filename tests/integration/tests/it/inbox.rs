//! Inbox edge cases: dead letters and replay, unknown event types, secret rotation at the
//! bridge, heartbeats on an idle stream.

use std::time::Duration;

use billing_service::{
    domain::objects::apply::{Fetched, Source, StripeObject, apply},
    store::inbox,
    stripe::objects::Subscription,
};
use caixa_entities::{stripe_events, subscriptions, webhook_endpoints};
use caixa_integration_tests::{inbox_event, spawn_billing, wait_until};
use caixa_proto::billing::v1::{
    WatchRequest, subscription_events_client::SubscriptionEventsClient, watch_response::Event,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde_json::json;

on_both_backends!(a_hopeless_event_goes_dead_and_can_be_replayed, rotation_and_heartbeats);

async fn status_of(db: &DatabaseConnection, id: &str) -> String {
    stripe_events::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .map(|e| e.status.to_string())
        .unwrap_or_default()
}

async fn a_hopeless_event_goes_dead_and_can_be_replayed(backend: Backend) {
    // Arrange: without Stripe, an event older than the stored row can never apply.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let now = Utc::now().timestamp();
    let sub = json!({ "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active", "livemode": false,
                      "metadata": {}, "items": { "data": [] } });
    let stored = Fetched {
        object: StripeObject::Subscription(Subscription::from_json(&sub)),
        as_of: DateTime::from_timestamp(now, 0).unwrap(),
        source: Source::Stripe,
    };
    apply(&conn, &[stored], None).await.unwrap();
    inbox::insert(&conn, inbox_event("evt_old", "customer.subscription.updated", now - 60, sub.clone()))
        .await
        .unwrap();
    inbox::insert(
        &conn,
        inbox_event("evt_odd", "radar.early_fraud_warning.created", now, json!({ "id": "issfr_1" })),
    )
    .await
    .unwrap();

    // Act
    let billing = spawn_billing(
        &db,
        &[("INBOX_POLL_MS", "20"), ("INBOX_RETRY_BASE_MS", "10"), ("INBOX_MAX_ATTEMPTS", "3")],
    )
    .await;
    // Events apply side by side, so neither waits for the other to settle.
    wait_until("the stale event dead, the odd one ignored", Duration::from_secs(10), || async {
        status_of(&conn, "evt_old").await == "dead" && status_of(&conn, "evt_odd").await == "ignored"
    })
    .await;

    // Assert: dead after three attempts with the reason kept; the unknown type ignored.
    let dead = stripe_events::Entity::find_by_id("evt_old").one(&conn).await.unwrap().unwrap();
    assert_eq!(dead.attempts, 3);
    assert!(
        dead.last_error.as_deref().is_some_and(|e| e.contains("older than the stored state")),
        "{:?}",
        dead.last_error
    );
    assert_eq!(status_of(&conn, "evt_odd").await, "ignored");

    // Replay, once the stored row is older than the event: it applies.
    let mut row: subscriptions::ActiveModel =
        subscriptions::Entity::find_by_id("sub_1").one(&conn).await.unwrap().unwrap().into();
    row.as_of = Set(DateTime::from_timestamp(now - 3600, 0).unwrap());
    row.update(&conn).await.unwrap();
    assert!(inbox::replay(&conn, "evt_old").await.unwrap());
    wait_until("the replayed event processed", Duration::from_secs(10), || async {
        status_of(&conn, "evt_old").await == "processed"
    })
    .await;
    billing.running.stop().await.unwrap();
}

async fn rotation_and_heartbeats(backend: Backend) {
    // Arrange: an endpoint whose previous secret is still valid for a while.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let id = uuid::Uuid::new_v4();
    let now = Utc::now();
    webhook_endpoints::ActiveModel {
        id: Set(id),
        stripe_id: Set(Some("we_1".to_owned())),
        livemode: Set(false),
        url: Set("http://example.com".to_owned()),
        api_version: Set(None),
        secret: Set("whsec_new".to_owned()),
        previous_secret: Set(Some("whsec_old".to_owned())),
        previous_secret_expires_at: Set(Some(now + chrono::Duration::hours(1))),
        enabled_events: Set(json!(["*"])),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&conn)
    .await
    .unwrap();
    let billing = spawn_billing(
        &db,
        &[
            ("INBOX_WORKER", "false"),
            ("WATCH_HEARTBEAT_SECONDS", "1"),
            ("WEBHOOK_ENDPOINTS_REFRESH_SECONDS", "1"),
        ],
    )
    .await;
    let body =
        json!({ "id": "evt_r", "type": "customer.created", "livemode": false, "created": now.timestamp(),
                       "data": { "object": { "id": "cus_r" } } })
        .to_string();
    let path = format!("/stripe/webhook/{id}");
    let post = |secret: &'static str| {
        let body = body.clone();
        let path = path.clone();
        async move {
            crate::webhooks::deliver(
                billing.http_addr,
                &path,
                &body,
                Some(stripe_emulator::sign(secret, now.timestamp(), &body)),
            )
            .await
            .0
        }
    };

    // Act + Assert: both secrets verify while the rotation lasts; another does not.
    assert_eq!(post("whsec_old").await, 200);
    assert_eq!(post("whsec_new").await, 200);
    assert_eq!(post("whsec_other").await, 400);
    let mut row: webhook_endpoints::ActiveModel =
        webhook_endpoints::Entity::find_by_id(id).one(&conn).await.unwrap().unwrap().into();
    row.previous_secret_expires_at = Set(Some(now - chrono::Duration::seconds(1)));
    row.update(&conn).await.unwrap();
    // The copy in memory still holds the old expiry until its refresh period is over.
    wait_until("the previous secret expired", Duration::from_secs(5), || async {
        post("whsec_old").await == 400
    })
    .await;
    assert_eq!(post("whsec_new").await, 200, "the current secret still verifies");

    // An idle stream sends heartbeats with the head revision.
    let mut watch = SubscriptionEventsClient::new(channel(billing.grpc_addr).await)
        .watch(WatchRequest { after_revision: 0 })
        .await
        .unwrap()
        .into_inner();
    let message =
        tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
    let Some(Event::Heartbeat(beat)) = message.event else { panic!("expected a heartbeat, got {message:?}") };
    assert_eq!(beat.head_revision, 0);
    drop(watch);
    billing.running.stop().await.unwrap();
}
