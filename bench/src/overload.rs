//! Overload, offered by an outside load generator: h2load (nghttp2) sends
//! CheckAccessBatch calls of 100 checks with gRPC framing at a fixed rate per connection,
//! whatever the service answers, so load above capacity piles up in the service until it
//! sheds. Batches, because a unary call costs h2load about what it costs the service:
//! one core of h2load cannot offer twice what one core of service answers, while it can
//! offer batches at any multiple of the service's batch capacity. h2load sees HTTP statuses
//! only (a gRPC refusal is HTTP 200 with a status in the trailers), so the number served
//! is read from the service's own per-method metrics before and after.

use std::{net::SocketAddr, path::Path, time::Duration};

use caixa_proto::entitlement::v1::{CheckAccessBatchRequest, CheckAccessRequest};
use hdrhistogram::Histogram;

use crate::h2load::{self, figure};

/// How many times the measured capacity is offered: 2, or `BENCH_OVERLOAD_FACTOR`.
pub fn factor() -> f64 {
    std::env::var("BENCH_OVERLOAD_FACTOR").ok().and_then(|f| f.parse().ok()).unwrap_or(2.0)
}

/// Checks per call.
pub const BATCH: usize = 100;

/// The gRPC message h2load sends: one CheckAccessBatch of [`BATCH`] users, length-prefixed.
fn frame(users: usize) -> Vec<u8> {
    let checks = (0..BATCH)
        .map(|n| CheckAccessRequest {
            user_id: format!("user-{}", (n * 7919) % users),
            feature: "app".into(),
            consistency: None,
        })
        .collect();
    h2load::frame(&CheckAccessBatchRequest { checks })
}

const METHOD: &str = "caixa.entitlement.v1.EntitlementService/CheckAccessBatch";

async fn h2load(addr: SocketAddr, data: &Path, args: &[String]) -> String {
    h2load::run(addr, METHOD, data, args).await
}

/// Batch calls the service has answered OK so far (its per-method metrics): refusals by
/// either limit, the server-wide one or tonic's per-connection one, are the rest.
async fn served_so_far(metrics: SocketAddr) -> f64 {
    let (_, body) = caixa_integration_tests::http_get(metrics, "/metrics").await;
    let series = r#"caixa_grpc_requests_total{method="caixa.entitlement.v1.EntitlementService/CheckAccessBatch",code="OK"}"#;
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Closed-loop capacity (8 connections × 256 streams, the overload shape) for `step`, in calls per second.
pub async fn capacity(addr: SocketAddr, users: usize, step: Duration) -> f64 {
    let data = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(data.path(), frame(users)).unwrap();
    let out =
        h2load(addr, data.path(), &["-c8".into(), "-m256".into(), format!("-D{}", step.as_secs())]).await;
    figure(&out, "finished in", "req/s")
}

/// Offers `rate` calls per second for `step` (8 connections, up to 1,024 streams each).
pub async fn run(addr: SocketAddr, metrics: SocketAddr, users: usize, rate: f64, step: Duration) -> String {
    let data = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(data.path(), frame(users)).unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let served_before = served_so_far(metrics).await;
    let mut args = vec![
        "-c8".to_owned(),
        "-m1024".to_owned(),
        format!("-D{}", step.as_secs()),
        format!("--log-file={}", log.path().display()),
    ];
    // BENCH_OVERLOAD_CLOSED=1 saturates without pacing (each connection keeps its
    // streams full), to tell h2load's pacing apart from the service's own queueing.
    if std::env::var_os("BENCH_OVERLOAD_CLOSED").is_none() {
        args.push(format!("--rps={:.0}", rate / 8.0));
    }
    let (out, probe) = tokio::join!(h2load(addr, data.path(), &args), probe(addr, users, step));
    let served = served_so_far(metrics).await - served_before;
    let done = figure(&out, "requests:", "done");
    let shed = (done - served).max(0.0);
    let latency = h2load::latencies(log.path());
    let seconds = step.as_secs_f64();
    format!(
        "offered {:.0}/s; answered {:.0}/s, of which served {:.0}/s and shed {:.0}/s; all answers p50 {} µs, p99 {} µs, max {} µs; {probe}",
        figure(&out, "requests:", "total") / seconds,
        done / seconds,
        served / seconds,
        shed / seconds,
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max()
    )
}

/// A caller's view during the overload: 4 callers each looping one unary CheckAccess
/// (1 s deadline) through the same service; returns how their calls fared.
async fn probe(addr: SocketAddr, users: usize, step: Duration) -> String {
    use caixa_proto::entitlement::v1::entitlement_service_client::EntitlementServiceClient;
    let client = EntitlementServiceClient::new(caixa_test_support::grpc::channel(addr).await);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..4 {
        let mut client = client.clone();
        tasks.spawn(async move {
            let histogram = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
            let (mut served, mut shed, mut other) = (histogram(), histogram(), 0u64);
            let mut i = n;
            while started.elapsed() < step {
                let check = CheckAccessRequest {
                    user_id: format!("user-{}", i % users),
                    feature: "app".into(),
                    consistency: None,
                };
                let mut request = tonic::Request::new(check);
                request.set_timeout(Duration::from_secs(1));
                let at = std::time::Instant::now();
                let result = client.check_access(request).await;
                let micros = at.elapsed().as_micros().max(1) as u64;
                match result {
                    Ok(_) => served.record(micros).unwrap(),
                    Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                        shed.record(micros).unwrap();
                        // A well-behaved caller backs off before retrying.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(_) => other += 1,
                }
                i += 4;
            }
            (served, shed, other)
        });
    }
    let histogram = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    let (mut served, mut shed, mut other) = (histogram(), histogram(), 0);
    for (s, r, o) in tasks.join_all().await {
        served.add(s).unwrap();
        shed.add(r).unwrap();
        other += o;
    }
    format!(
        "a 4-caller unary probe alongside: {} admitted (p50 {} µs, p99 {} µs), {} shed (p99 {} µs to refuse), {} failed",
        served.len(),
        served.value_at_quantile(0.5),
        served.value_at_quantile(0.99),
        shed.len(),
        shed.value_at_quantile(0.99),
        other
    )
}
