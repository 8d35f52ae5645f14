//! The client crate's in-process replica against the real services: it answers as the
//! entitlement service does for every user of an account (trialing, active, paused,
//! canceled) and every feature, follows new changes, misses none across a restart of the
//! service, and says when it is stale.

use std::time::Duration;

use caixa_client::{ClientConfig, EntitlementClient, LocalReplica, ReplicaConfig, RequireFeature};
use caixa_integration_tests::{inbox_settled, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until};
use caixa_proto::entitlement::v1::{
    BACKLOG_METADATA, WatchEntitlementsRequest, entitlement_service_client::EntitlementServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    process::ServiceProcess,
};
use tower::ServiceExt;

const ENTITLEMENT: &str = env!("CARGO_BIN_EXE_entitlement-process");

const FEATURES: [&str; 4] = ["", "app", "reports", "not-sold"];

/// Every user's answer from the service and from the replica, once the replica holds
/// the service's revision.
async fn assert_agree(client: &EntitlementClient, replica: &LocalReplica, users: &[String]) {
    let head = client.check("nobody", "").await.unwrap().revision;
    wait_until("the replica caught up", Duration::from_secs(15), || async { replica.revision() >= head })
        .await;
    for user in users {
        for feature in FEATURES {
            let service = client.check(user, feature).await.unwrap();
            let local = replica.check(user, feature).expect("a fresh replica answers");
            assert_eq!(
                (local.allowed, local.reason, local.access_until, &local.subscription_id, local.stale),
                (
                    service.allowed,
                    service.reason,
                    service.access_until,
                    &service.subscription_id,
                    service.stale
                ),
                "{user} / {feature:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_replica_agrees_with_the_service_follows_it_across_a_restart_and_says_when_stale() {
    caixa_test_support::init_test_logging();
    // Arrange: an account in every status, delivered to billing and followed by the service.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let mut users = Vec::new();
    for n in 0..24 {
        let user = format!("user-{n}");
        let session = stripe.subscribe(&price, &user, if n % 4 == 0 { "7" } else { "0" }).await;
        let sub = session["subscription"].as_str().unwrap().to_owned();
        match n % 4 {
            2 => drop(stripe.post(&format!("/_emulator/subscriptions/{sub}/pause"), &[]).await),
            3 => drop(stripe.post(&format!("/_emulator/subscriptions/{sub}/cancel"), &[]).await),
            _ => {}
        }
        users.push(user);
    }
    stripe.wait_for_deliveries().await;
    let conn = db.connect().await;
    wait_until("the inbox settled", Duration::from_secs(60), || inbox_settled(&conn)).await;
    // The service as a process, so that stopping it closes its streams as in production.
    let start = |addr: String| {
        ServiceProcess::spawn(
            ENTITLEMENT,
            &[
                ("DATABASE_URL", db.url.clone()),
                ("BILLING_URL", format!("http://{}", billing.grpc_addr)),
                ("ENTITLEMENT_GRPC_ADDR", addr),
                // A replica's stream is open for good: do not wait the default 20 s for it.
                ("SHUTDOWN_GRACE_SECONDS", "1".to_owned()),
            ],
        )
    };
    let mut entitlement = start("127.0.0.1:0".to_owned());
    let addr = entitlement.address("entitlement service listening", "grpc_addr").await;
    let url = format!("http://{addr}");
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default()).unwrap();
    let config = ReplicaConfig { max_staleness: Duration::from_secs(8), ..ReplicaConfig::default() };

    // Act and assert: the snapshot agrees for every user and feature.
    let replica = LocalReplica::start(&[url.as_str()], ClientConfig::default(), config).await.unwrap();
    assert_eq!(replica.users(), 24, "the snapshot holds the account");
    assert_agree(&client, &replica, &users).await;
    // The service says ahead of a snapshot how many users it holds, so a follower makes
    // room for them at once; after the head, nothing precedes the first heartbeat.
    let mut watcher = EntitlementServiceClient::connect(url.clone()).await.unwrap();
    for (after, expected) in [(0, "24"), (replica.revision().get(), "0")] {
        let watched =
            watcher.watch_entitlements(WatchEntitlementsRequest { after_revision: after }).await.unwrap();
        assert_eq!(
            watched.metadata().get(BACKLOG_METADATA).unwrap().to_str().unwrap(),
            expected,
            "after {after}"
        );
    }

    // Ids read as the service reads them; one it refuses is left to it; read your writes.
    let padded = replica.check(" user-0 ", "reports").unwrap();
    assert_eq!(
        padded,
        replica.check("user-0", "reports").unwrap(),
        "surrounding spaces are no part of an id"
    );
    assert_eq!(padded.allowed, client.check(" user-0 ", "reports").await.unwrap().allowed);
    assert!(replica.check(&"u".repeat(300), "").is_none(), "an id the service refuses");
    assert!(replica.check("user-0", "Reports!").is_none(), "a feature the service refuses");
    assert!(replica.check_many(&[("user-0", ""), ("", "")]).is_none(), "a batch with an empty id");
    let applied = replica.check("user-0", "").unwrap().revision;
    assert!(replica.check_at_least("user-0", "", applied).is_some());
    let ahead = caixa_client::Revision::new(applied.get() + 1);
    assert!(replica.check_at_least("user-0", "", ahead).is_none(), "behind the caller's revision");

    // The guard decides from the replica: a trialing user passes, a canceled one is refused.
    let app = axum::Router::new().route("/reports", axum::routing::get(|| async { "reports" })).layer(
        RequireFeature::new(client.clone(), "reports")
            .user_from(|parts| parts.headers.get("x-user")?.to_str().ok().map(str::to_owned))
            .with_replica(replica.clone()),
    );
    let ask = |user: &str| {
        let request =
            http::Request::get("/reports").header("x-user", user).body(axum::body::Body::empty()).unwrap();
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status().as_u16() }
    };
    assert_eq!(ask("user-0").await, 200, "trialing");
    assert_eq!(ask("user-3").await, 403, "canceled");

    // Read your writes: a request carrying a revision is decided by a copy that holds it.
    let reading =
        axum::Router::new().route("/reports", axum::routing::get(|| async { "reports" })).route_layer(
            RequireFeature::new(client.clone(), "reports")
                .user_from(|parts| parts.headers.get("x-user")?.to_str().ok().map(str::to_owned))
                .revision_from(|parts| {
                    let revision = parts.headers.get("x-revision")?.to_str().ok()?.parse().ok()?;
                    Some(caixa_client::Revision::new(revision))
                })
                .with_replica(replica.clone()),
        );
    let ask_at = |revision: u64| {
        let request = http::Request::get("/reports")
            .header("x-user", "user-0")
            .header("x-revision", revision.to_string())
            .body(axum::body::Body::empty())
            .unwrap();
        let app = reading.clone();
        async move { app.oneshot(request).await.unwrap().status().as_u16() }
    };
    let held = replica.revision().get();
    assert_eq!(ask_at(held).await, 200, "a revision the replica holds");
    // One no write has made yet: neither the replica nor the service can answer for it,
    // and the route fails closed.
    assert_eq!(ask_at(held + 1).await, 503, "a revision nobody holds yet");

    // New subscribers arrive through the stream.
    for n in 0..3 {
        let user = format!("new-{n}");
        stripe.subscribe(&price, &user, "7").await;
        users.push(user);
    }
    wait_until("new subscribers in the replica", Duration::from_secs(20), || async {
        replica.check("new-2", "").is_some_and(|a| a.allowed)
    })
    .await;
    assert_agree(&client, &replica, &users).await;

    // The service restarts on the same port; a change made meanwhile is not missed.
    entitlement.terminate();
    entitlement.wait_exit(Duration::from_secs(30)).await;
    stripe.subscribe(&price, "while-down", "7").await;
    users.push("while-down".to_owned());
    let mut restarted = start(addr.to_string());
    wait_until("the change made while the service was down", Duration::from_secs(30), || async {
        replica.check("while-down", "").is_some_and(|a| a.allowed)
    })
    .await;
    assert_agree(&client, &replica, &users).await;

    // Cut off past max_staleness, it stops answering rather than answer from old data.
    restarted.terminate();
    restarted.wait_exit(Duration::from_secs(30)).await;
    // Within its bound (the service heartbeats every 5 s) the replica still answers, so
    // the guard serves from it although the service is gone.
    assert_eq!(ask("user-0").await, 200, "the guard decides from the fresh replica");
    wait_until("the replica says it is stale", Duration::from_secs(15), || async {
        replica.check(&users[0], "").is_none()
    })
    .await;
    assert!(!replica.is_fresh());
    assert_eq!(ask("user-0").await, 503, "a stale replica is not asked; the service is down: fail closed");
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn when_the_service_loses_billing_and_its_log_the_replica_says_stale_and_denies_what_it_denies() {
    caixa_test_support::init_test_logging();
    // Arrange: a trialing user; the service marks answers stale 3 s after it last heard
    // from billing or its log, and then denies "reports"; the replica is configured the
    // same.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("WATCH_HEARTBEAT_SECONDS", "1")]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    stripe.subscribe(&price, "user-s", "7").await;
    let settings = [("STALENESS_BOUND_SECONDS", "3"), ("STALE_DENY_FEATURES", "reports")];
    let entitlement =
        caixa_integration_tests::spawn_entitlement_with(&db, billing.grpc_addr, &settings).await;
    let url = format!("http://{}", entitlement.grpc_addr);
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default()).unwrap();
    wait_until("the subscriber reached the service", Duration::from_secs(20), || async {
        client.check("user-s", "reports").await.is_ok_and(|a| a.allowed)
    })
    .await;
    let config = ReplicaConfig {
        staleness_bound: Duration::from_secs(3),
        stale_deny_features: vec!["reports".to_owned()],
        ..ReplicaConfig::default()
    };
    let replica = LocalReplica::start(&[url.as_str()], ClientConfig::default(), config).await.unwrap();
    let users = ["user-s".to_owned()];
    assert_agree(&client, &replica, &users).await;
    assert!(!replica.check("user-s", "reports").unwrap().stale);

    // Act: billing and the database (the log the service falls back to) go away; the
    // service keeps its heartbeats, saying how old its data is.
    billing.running.stop().await.unwrap();
    db.set_reachable(false).await;
    wait_until("the service says stale", Duration::from_secs(20), || async {
        client.check("user-s", "").await.is_ok_and(|a| a.stale)
    })
    .await;
    wait_until("the replica says stale", Duration::from_secs(20), || async {
        replica.check("user-s", "").is_some_and(|a| a.stale)
    })
    .await;

    // Assert: both deny "reports" as stale and still grant the rest, saying stale.
    for feature in ["reports", ""] {
        let (service, local) =
            (client.check("user-s", feature).await.unwrap(), replica.check("user-s", feature).unwrap());
        assert_eq!(
            (local.allowed, local.reason, local.stale),
            (service.allowed, service.reason, service.stale),
            "{feature:?}"
        );
    }
    let denied = replica.check("user-s", "reports").unwrap();
    assert_eq!((denied.allowed, denied.reason), (false, caixa_client::proto::AccessReason::Stale));
    assert!(replica.check("user-s", "").unwrap().allowed, "a feature the service does not deny");
    db.set_reachable(true).await;
}

#[tokio::test]
async fn the_last_replica_handle_dropped_ends_its_tasks() {
    caixa_test_support::init_test_logging();
    // Arrange: both services as processes, so that this runtime runs only the replica.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let mut billing = ServiceProcess::spawn(
        env!("CARGO_BIN_EXE_billing-process"),
        &[
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("BILLING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ],
    );
    let billing_addr = billing.address("billing service listening", "grpc_addr").await;
    let env = [
        ("DATABASE_URL", db.url.clone()),
        ("BILLING_URL", format!("http://{billing_addr}")),
        ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".to_owned()),
    ];
    let mut service = ServiceProcess::spawn(ENTITLEMENT, &env);
    let addr = service.address("entitlement service listening", "grpc_addr").await;
    let url = format!("http://{addr}");
    let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let before = tasks();
    let replica = LocalReplica::start(&[url.as_str()], ClientConfig::default(), ReplicaConfig::default())
        .await
        .unwrap();
    let copy = replica.clone();
    assert!(tasks() > before, "the replica follows in tasks of its own");

    // Act: every handle dropped.
    drop(replica);
    drop(copy);

    // Assert: its tasks end (the stream closes) rather than follow the service for good.
    wait_until("the replica's tasks ended", Duration::from_secs(5), || async { tasks() <= before }).await;
    service.terminate();
    billing.terminate();
    service.wait_exit(Duration::from_secs(30)).await;
    billing.wait_exit(Duration::from_secs(30)).await;
}
