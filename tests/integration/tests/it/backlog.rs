//! A backlog of events, as Stripe redelivers after an outage: claims take each customer's
//! oldest pending event and the events behind it, in the customer's order at any size;
//! a customer's events are settled with one refetch per object; a failed event holds
//! back only the events behind it.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use billing_service::{
    store::inbox::{self, NewEvent},
    stripe::event::StripeEvent,
};
use caixa_entities::{
    stripe_events::{self, Column, InboxStatus},
    subscriptions,
};
use caixa_integration_tests::{
    inbox_event, spawn_billing, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

on_both_backends!(
    a_claim_takes_each_customers_events_in_order,
    a_backlog_is_settled_with_one_fetch_per_object,
    a_failed_event_holds_back_only_the_events_behind_it
);

/// An event of `kind` about `customer` at `created`, its object `object_id`.
fn event(id: &str, kind: &str, created: i64, customer: Option<&str>, object_id: &str) -> NewEvent {
    let object = json!({ "id": object_id, "object": "subscription", "customer": customer, "status": "active",
                         "livemode": false, "metadata": {}, "items": { "data": [] } });
    inbox_event(id, kind, created, object)
}

fn ids(chain: &[stripe_events::Model]) -> Vec<&str> {
    chain.iter().map(|e| e.id.as_str()).collect()
}

const LEASE: chrono::Duration = chrono::Duration::seconds(60);

async fn a_claim_takes_each_customers_events_in_order(backend: Backend) {
    // Arrange: customer A's three events of one second, stored in the reverse of their
    // order; B's two of different seconds; two events of one product, no customer.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let t = Utc::now().timestamp() - 100;
    let stored = [
        event("evt_a3", "invoice.paid", t, Some("cus_a"), "in_a"),
        event("evt_a2", "customer.subscription.updated", t, Some("cus_a"), "sub_a"),
        event("evt_a1", "customer.updated", t, Some("cus_a"), "cus_a"),
        event("evt_b2", "customer.subscription.updated", t + 2, Some("cus_b"), "sub_b"),
        event("evt_b1", "customer.subscription.updated", t + 1, Some("cus_b"), "sub_b"),
        event("evt_p2", "product.updated", t + 1, None, "prod_1"),
        event("evt_p1", "product.updated", t, None, "prod_1"),
    ];
    inbox::insert_many(&conn, &stored).await.unwrap();

    // Act
    let chains = inbox::chains(inbox::claim(&conn, "w1", (10, 100), LEASE).await.unwrap());

    // Assert: one chain per customer (and per object without one), each in apply order:
    // within a second the customer, then its subscription, then the rest.
    let chains: Vec<Vec<&str>> = chains.iter().map(|c| ids(c)).collect();
    assert_eq!(
        chains,
        [vec!["evt_a1", "evt_a2", "evt_a3",], vec!["evt_p1", "evt_p2"], vec!["evt_b1", "evt_b2"]]
    );
    assert!(inbox::claim(&conn, "w2", (10, 100), LEASE).await.unwrap().is_empty(), "every event is held");

    // A's next event waits behind A's claimed chain, then comes alone.
    inbox::insert(&conn, event("evt_a4", "customer.subscription.updated", t + 5, Some("cus_a"), "sub_a"))
        .await
        .unwrap();
    assert!(inbox::claim(&conn, "w2", (10, 100), LEASE).await.unwrap().is_empty(), "A's chain is in flight");
    inbox::finish(&conn, &["evt_a1", "evt_a2", "evt_a3"], "w1", InboxStatus::Processed).await.unwrap();
    let next = inbox::claim(&conn, "w2", (10, 100), LEASE).await.unwrap();
    assert_eq!(ids(&next), ["evt_a4"]);

    // A claim capped below a chain takes its head and a prefix, never a later event alone.
    inbox::finish(&conn, &["evt_a4"], "w2", InboxStatus::Processed).await.unwrap();
    inbox::release(&conn, &["evt_b1", "evt_b2", "evt_p1", "evt_p2"], "w1").await.unwrap();
    let capped = inbox::claim(&conn, "w3", (1, 1), LEASE).await.unwrap();
    assert_eq!(ids(&capped), ["evt_p1"], "the oldest head alone");
    let released = stripe_events::Entity::find_by_id("evt_b1").one(&conn).await.unwrap().unwrap();
    assert_eq!((released.status, released.attempts), (InboxStatus::Received, 0), "given back uncounted");
}

/// The apply order of the test's events: Stripe's second, the rank within it, the id.
fn order_key(e: &NewEvent) -> (i64, i32, String) {
    (e.created.timestamp(), inbox::rank(&e.event_type), e.id.clone())
}

/// An event as a claim returned it: the claim's place in time, the event's place in
/// the claim, its customer, its id.
type Claimed = (u64, usize, String, String);

#[tokio::test]
async fn a_backlog_of_100000_events_is_claimed_in_each_customers_order() {
    caixa_test_support::init_test_logging();
    // Arrange: 20,000 customers × 5 events, two of each customer's in one second (the
    // later-stored one first in order), all stored in a scrambled order.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let conn = db.connect().await;
    let base = Utc::now().timestamp() - 10_000;
    let kinds =
        ["customer.updated", "invoice.paid", "customer.subscription.updated", "invoice.paid", "invoice.paid"];
    let seconds = [0, 1, 1, 2, 3];
    let mut events: Vec<NewEvent> = (0..20_000)
        .flat_map(|c| {
            (0..5).map(move |k| {
                let (id, customer, sub) = (format!("evt_{c}_{k}"), format!("cus_{c}"), format!("sub_{c}"));
                event(&id, kinds[k], base + (c % 97) as i64 + seconds[k], Some(customer.as_str()), &sub)
            })
        })
        .collect();
    events.sort_by_key(|e| {
        (e.id.len() * 7919 + e.id.bytes().map(usize::from).sum::<usize>() * 104_729) % 100_003
    });
    for chunk in events.chunks(2_000) {
        inbox::insert_many(&conn, chunk).await.unwrap();
    }
    let mut expected: HashMap<String, Vec<(i64, i32, String)>> = HashMap::new();
    for e in &events {
        expected.entry(e.customer_id.clone().unwrap()).or_default().push(order_key(e));
    }

    // Act: two workers claim (chains capped below their length) and finish side by side.
    let seq = Arc::new(AtomicU64::new(0));
    let seen: Arc<Mutex<Vec<Claimed>>> = Arc::default();
    let claimer = |worker: &'static str| {
        let (conn, seq, seen) = (conn.clone(), seq.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let claimed = inbox::claim(&conn, worker, (32, 96), LEASE).await.unwrap();
                if claimed.is_empty() {
                    break;
                }
                let at = seq.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().extend(
                    claimed
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (at, i, e.customer_id.clone().unwrap(), e.id.clone())),
                );
                let ids: Vec<&str> = claimed.iter().map(|e| e.id.as_str()).collect();
                inbox::finish(&conn, &ids, worker, InboxStatus::Processed).await.unwrap();
            }
        })
    };
    let (first, second) = (claimer("w1"), claimer("w2"));
    first.await.unwrap();
    second.await.unwrap();

    // Assert: every event claimed once, each customer's in its order.
    let mut seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), 100_000, "every event claimed");
    assert_eq!(seen.iter().map(|s| &s.3).collect::<HashSet<_>>().len(), 100_000, "each once");
    seen.sort();
    let by_id: HashMap<&str, (i64, i32, String)> =
        events.iter().map(|e| (e.id.as_str(), order_key(e))).collect();
    let mut claimed: HashMap<&str, Vec<(i64, i32, String)>> = HashMap::new();
    for (_, _, customer, id) in &seen {
        claimed.entry(customer.as_str()).or_default().push(by_id[id.as_str()].clone());
    }
    for (customer, mut order) in expected {
        order.sort();
        assert_eq!(claimed[customer.as_str()], order, "{customer}'s events in order");
    }
    let pending =
        stripe_events::Entity::find().filter(Column::Status.is_in(InboxStatus::PENDING)).count(&conn);
    assert_eq!(pending.await.unwrap(), 0);
}

/// Waits until no event is pending.
async fn drained(conn: &DatabaseConnection) {
    wait_until("the inbox drained", Duration::from_secs(60), || async {
        stripe_events::Entity::find()
            .filter(Column::Status.is_in(InboxStatus::PENDING))
            .count(conn)
            .await
            .unwrap()
            == 0
    })
    .await;
}

async fn a_backlog_is_settled_with_one_fetch_per_object(backend: Backend) {
    // Arrange: an account's whole event history stored at once, as Stripe redelivers it.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let stripe = StripeEmulator::start().await;
    stripe.seed_account(10).await;
    let history = stripe.events_oldest_first().await;
    let mut named = HashSet::new();
    let mut backlog = Vec::new();
    for raw in &history {
        let object = &raw["data"]["object"];
        let refetched = if object["object"] == "invoice" { &object["subscription"] } else { &object["id"] };
        named.insert(refetched.as_str().unwrap_or_default().to_owned());
        let payload = raw.to_string();
        backlog.push(NewEvent::from_event(&StripeEvent::parse(payload.as_bytes()).unwrap(), payload, None));
    }
    inbox::insert_many(&conn, &backlog).await.unwrap();
    let before = stripe.get("/_emulator/stats").await["requests"].as_u64().unwrap();

    // Act
    let settings = [("INBOX_POLL_MS", "20"), ("INBOX_CONCURRENCY", "4")];
    let billing = spawn_billing_with_stripe(&db, &stripe, &settings).await;
    drained(&conn).await;

    // Assert: fewer Stripe calls than events, none beyond one per object named, but for
    // the product: a product costs two calls (its features are a list), and chains that
    // run beside its own event's lack it and look it up once more between them.
    let requests = stripe.get("/_emulator/stats").await["requests"].as_u64().unwrap() - before;
    let bound = named.len() as u64 + 3;
    assert!(requests <= bound, "{requests} Stripe calls for {} objects named", named.len());
    assert!(requests < history.len() as u64, "{requests} Stripe calls for {} events", history.len());
    for truth in stripe.get("/v1/subscriptions?status=all&limit=100").await["data"].as_array().unwrap() {
        let row = subscriptions::Entity::find_by_id(truth["id"].as_str().unwrap()).one(&conn).await.unwrap();
        assert_eq!(row.map(|r| r.status.to_string()), truth["status"].as_str().map(str::to_owned));
    }
    billing.running.stop().await.unwrap();
}

async fn a_failed_event_holds_back_only_the_events_behind_it(backend: Backend) {
    // Arrange: without Stripe each event applies from its payload; the middle one of a
    // customer's three is unreadable.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let t = Utc::now().timestamp() - 100;
    let mut broken = event("evt_2", "customer.subscription.updated", t + 1, Some("cus_1"), "sub_1");
    broken.payload = "{ not json".to_owned();
    let chain = [
        event("evt_1", "customer.subscription.updated", t, Some("cus_1"), "sub_1"),
        broken,
        event("evt_3", "customer.subscription.updated", t + 2, Some("cus_1"), "sub_1"),
    ];
    inbox::insert_many(&conn, &chain).await.unwrap();

    // Act
    let settings = [("INBOX_POLL_MS", "20"), ("INBOX_RETRY_BASE_MS", "10"), ("INBOX_MAX_ATTEMPTS", "3")];
    let billing = spawn_billing(&db, &settings).await;
    drained(&conn).await;

    // Assert: the first applied, the unreadable one dead after its attempts, the last
    // applied after it, its attempt counted once however often it was given back.
    let conn = &conn;
    let row = |id: &'static str| async move {
        stripe_events::Entity::find_by_id(id).one(conn).await.unwrap().unwrap()
    };
    let (first, dead, last) = (row("evt_1").await, row("evt_2").await, row("evt_3").await);
    assert_eq!((first.status, first.attempts), (InboxStatus::Processed, 1));
    assert_eq!((dead.status, dead.attempts), (InboxStatus::Dead, 3));
    assert!(dead.last_error.is_some_and(|e| e.contains("unreadable")));
    assert_eq!((last.status, last.attempts), (InboxStatus::Processed, 1));
    assert!(
        last.processed_at.unwrap() >= dead.updated_at,
        "the last applied only once the broken one was dead"
    );
    billing.running.stop().await.unwrap();
}
