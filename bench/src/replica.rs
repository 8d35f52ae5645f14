//! The client crate's in-process replica: cold start and memory of loading every user
//! from the service, checks per second on one core with latency per check, and the
//! guard's overhead over an unguarded axum handler when it decides from the replica;
//! and every check timed while as many users again stream in, their arrival growing its
//! index past a doubling.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use caixa_client::{ClientConfig, EntitlementClient, LocalReplica, ReplicaConfig, RequireFeature};
use caixa_test_support::database::TestDatabase;
use hdrhistogram::Histogram;
use tower::ServiceExt;

use crate::server::status_kib;

fn own_rss_kib() -> u64 {
    status_kib("/proc/self/status", "VmRSS:")
}

/// The replica step's rows, and the replica for [`stall`].
pub async fn run(
    addr: SocketAddr,
    http: SocketAddr,
    users: usize,
    step: Duration,
) -> (Vec<(String, String)>, LocalReplica) {
    let url = format!("http://{addr}");
    let mut rows = Vec::new();
    let before = own_rss_kib();
    let started = Instant::now();
    let config = ReplicaConfig { load_timeout: Duration::from_secs(600), ..ReplicaConfig::default() };
    let replica =
        LocalReplica::start(&[url.as_str()], ClientConfig::default(), config).await.expect("replica loads");
    let cold = started.elapsed();
    let grown = own_rss_kib().saturating_sub(before);
    assert_eq!(replica.users(), users, "the replica holds every user");
    rows.push((
        format!("replica cold start, {users} users (WatchEntitlements snapshot)"),
        format!(
            "{:.2} s, +{} MiB RSS ({} bytes a user)",
            cold.as_secs_f64(),
            grown / 1024,
            grown * 1024 / users.max(1) as u64
        ),
    ));

    // One core: a blocking loop on one thread over every user once, in a scattered
    // order, so that the working set is the whole table rather than what fits in cache
    // (the stride, 7,919, is prime: it visits every user unless their number is a
    // multiple of it). "reports" (every third has it); throughput untimed, then each
    // call timed (the two clock reads included).
    let local = replica.clone();
    let (rate, many_rate, histogram, timer) = tokio::task::spawn_blocking(move || {
        let names: Vec<String> = (0..users).map(|n| format!("user-{}", (n * 7_919 + 13) % users)).collect();
        let (mut checks, mut allowed, started) = (0u64, 0u64, Instant::now());
        while started.elapsed() < step {
            for name in &names {
                allowed += u64::from(local.check(name, "reports").is_some_and(|a| a.allowed));
            }
            checks += names.len() as u64;
        }
        assert!(allowed > 0, "some checks allowed");
        let rate = checks as f64 / started.elapsed().as_secs_f64();
        // The same checks, 256 to a `check_many` call.
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "reports")).collect();
        let (mut many_checks, started) = (0u64, Instant::now());
        while started.elapsed() < step {
            for group in pairs.chunks(256) {
                let answers = local.check_many(group).expect("fresh");
                many_checks += std::hint::black_box(answers).len() as u64;
            }
        }
        let many_rate = many_checks as f64 / started.elapsed().as_secs_f64();
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        let mut timer = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for name in names.iter().cycle().take(2_000_000) {
            let at = Instant::now();
            let access = local.check(name, "reports");
            histogram.saturating_record(at.elapsed().as_nanos().max(1) as u64);
            std::hint::black_box(access);
            let at = Instant::now();
            timer.saturating_record(at.elapsed().as_nanos().max(1) as u64);
        }
        (rate, many_rate, histogram, timer)
    })
    .await
    .unwrap();
    rows.push((
        "replica check, one thread".to_owned(),
        format!(
            "{:.1} M checks/s; each timed: p50 {} ns, p99 {} ns (the timer alone: p50 {} ns, p99 {} ns)",
            rate / 1e6,
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
            timer.value_at_quantile(0.5),
            timer.value_at_quantile(0.99)
        ),
    ));

    // The guard's cost: the same handler with and without it, in-process (no sockets).
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default()).unwrap();
    let handler = || axum::Router::new().route("/r", axum::routing::get(|| async { "ok" }));
    let plain = handler();
    let guarded = handler().layer(
        RequireFeature::new(client, "app")
            .user_from(|parts| parts.headers.get("x-user")?.to_str().ok().map(str::to_owned))
            .with_replica(replica.clone()),
    );
    let per_request = |app: axum::Router| async move {
        let rounds = 200_000u32;
        let started = Instant::now();
        for n in 0..rounds {
            let request = http::Request::get("/r")
                .header("x-user", format!("user-{}", n as usize % users))
                .body(axum::body::Body::empty())
                .unwrap();
            assert!(app.clone().oneshot(request).await.unwrap().status().is_success());
        }
        started.elapsed() / rounds
    };
    let bare = per_request(plain).await;
    let rpcs_before = check_access_calls(http).await;
    let with_guard = per_request(guarded).await;
    let rpcs = check_access_calls(http).await - rpcs_before;
    rows.push((
        "replica check_many, one thread, 256 checks a call".to_owned(),
        format!("{:.1} M checks/s", many_rate / 1e6),
    ));
    rows.push((
        "guard overhead with the replica (axum, in-process)".to_owned(),
        format!(
            "{:.2} µs a request ({:.2} µs unguarded, {:.2} µs guarded; {rpcs:.0} CheckAccess RPCs in 200,000 requests)",
            with_guard.saturating_sub(bare).as_secs_f64() * 1e6,
            bare.as_secs_f64() * 1e6,
            with_guard.as_secs_f64() * 1e6
        ),
    ));
    (rows, replica)
}

/// Checks timed one by one while as many users again stream in, beside a floor thread
/// timed the same way over a spin as long as a check's median, which touches no table.
/// Both pause [`PACE`] between timings, as a server's request threads wait on their
/// sockets between checks: a thread that spins never sleeps, so the scheduler takes its
/// core away mid-window for milliseconds whatever the window holds, and a check that
/// waited on the writer could not be told from one that was merely preempted. What the
/// checks wait beyond the floor is the replica's.
pub async fn stall(db: &TestDatabase, replica: &LocalReplica, users: usize) -> (String, String) {
    let names: Vec<String> = (0..users).map(|n| format!("user-{}", (n * 7_919 + 13) % users)).collect();
    let window = median_check(replica, &names);
    let stop = Arc::new(AtomicBool::new(false));
    let (local, stopped) = (replica.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        let mut waits = histogram();
        for name in names.iter().cycle() {
            if stopped.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(PACE);
            let at = Instant::now();
            std::hint::black_box(local.check(name, "reports"));
            waits.saturating_record(at.elapsed().as_nanos().max(1) as u64);
        }
        waits
    });
    let floor_stopped = stop.clone();
    let floor = std::thread::spawn(move || {
        let mut waits = histogram();
        while !floor_stopped.load(Ordering::Relaxed) {
            std::thread::sleep(PACE);
            let at = Instant::now();
            while at.elapsed() < window {
                std::hint::spin_loop();
            }
            waits.saturating_record(at.elapsed().as_nanos().max(1) as u64);
        }
        waits
    });
    let started = Instant::now();
    let first = crate::seed::head(db).await.expect("the log's head") + 1;
    crate::seed::changes(db, users..2 * users, first).await.expect("the new users are committed");
    let committed = started.elapsed();
    let head = caixa_client::Revision::new(first + users as u64 - 1);
    while replica.revision() < head && started.elapsed() < Duration::from_secs(900) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let waits = reader.join().expect("the reader thread");
    let floor = floor.join().expect("the floor thread");
    assert_eq!(replica.users(), 2 * users, "every new user reached the replica");
    let over_1ms = |h: &Histogram<u64>| h.count_between(1_000_000, h.max());
    (
        format!("replica: every check while {users} new users stream in (index grows past a doubling)"),
        format!(
            "a check every {} µs: longest {:.2} ms, {} over 1 ms, p99.99 {} µs, p50 {} ns ({} checks); \
             the floor (a {} ns spin, no table): longest {:.2} ms, {} over 1 ms, p99.99 {} µs ({} spins); \
             users committed in {:.1} s, all held after {:.1} s",
            PACE.as_micros(),
            waits.max() as f64 / 1e6,
            over_1ms(&waits),
            waits.value_at_quantile(0.9999) / 1000,
            waits.value_at_quantile(0.5),
            waits.len(),
            window.as_nanos(),
            floor.max() as f64 / 1e6,
            over_1ms(&floor),
            floor.value_at_quantile(0.9999) / 1000,
            floor.len(),
            committed.as_secs_f64(),
            arrived.as_secs_f64()
        ),
    )
}

/// The pause between timed checks.
const PACE: Duration = Duration::from_micros(20);

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

/// A check's median on the idle replica, timed as [`stall`] times it (after a pause,
/// its lines no longer in cache).
fn median_check(replica: &LocalReplica, names: &[String]) -> Duration {
    let mut times = histogram();
    for name in names.iter().take(20_000) {
        std::thread::sleep(PACE);
        let at = Instant::now();
        std::hint::black_box(replica.check(name, "reports"));
        times.saturating_record(at.elapsed().as_nanos().max(1) as u64);
    }
    Duration::from_nanos(times.value_at_quantile(0.5))
}

/// CheckAccess calls the service has answered OK, from its metrics.
async fn check_access_calls(http: SocketAddr) -> f64 {
    let text = caixa_integration_tests::http_get(http, "/metrics").await.1;
    let series = r#"caixa_grpc_requests_total{method="caixa.entitlement.v1.EntitlementService/CheckAccess",code="OK"}"#;
    text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}
