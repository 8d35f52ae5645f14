//! h2load (nghttp2) driving gRPC calls: the request body is one length-prefixed gRPC
//! message in a file, sent on every call. h2load sees HTTP statuses only (a gRPC refusal
//! is HTTP 200 with a status in the trailers), so callers that need to tell served from
//! refused read the service's own metrics.

use std::{net::SocketAddr, path::Path};

use hdrhistogram::Histogram;
use prost::Message;

/// `message` framed as gRPC sends it: uncompressed flag, big-endian length, bytes.
pub fn frame(message: &impl Message) -> Vec<u8> {
    let message = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend((message.len() as u32).to_be_bytes());
    frame.extend(message);
    frame
}

/// Runs h2load against `http://addr/method` with `body` as every request's data and
/// `args` (connections, streams, duration, …); returns what it printed.
pub async fn run(addr: SocketAddr, method: &str, body: &Path, args: &[String]) -> String {
    let output = tokio::process::Command::new("h2load")
        .args(args)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers", "-d"])
        .arg(body)
        .arg(format!("http://{addr}/{method}"))
        .output()
        .await
        .expect("h2load runs (scripts/bench-tools.sh installs it)");
    assert!(output.status.success(), "h2load failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The number after `label` on the line that starts with `line`.
pub fn figure(text: &str, line: &str, label: &str) -> f64 {
    let found = text.lines().find(|l| l.trim_start().starts_with(line)).unwrap_or_default();
    let words: Vec<&str> = found.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    words
        .windows(2)
        .find(|w| w[1].starts_with(label))
        .and_then(|w| w[0].trim_end_matches('s').parse().ok())
        .unwrap_or(0.0)
}

/// Every request's latency from an h2load `--log-file` (microseconds, third column).
pub fn latencies(log: &Path) -> Histogram<u64> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        if let Some(micros) = line.split('\t').nth(2).and_then(|m| m.parse::<u64>().ok()) {
            latency.saturating_record(micros.max(1));
        }
    }
    latency
}

/// One closed-loop load shape: `connections` × `streams` for `seconds`; returns calls
/// per second and every call's latency.
pub async fn closed_loop(
    addr: SocketAddr,
    method: &str,
    body: &[u8],
    (connections, streams): (usize, usize),
    seconds: u64,
) -> (f64, Histogram<u64>) {
    let data = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(data.path(), body).unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let args = [
        format!("-c{connections}"),
        format!("-m{streams}"),
        // One h2load thread: the generator must cost less CPU than the server it loads.
        "-t1".to_owned(),
        format!("-D{seconds}"),
        format!("--log-file={}", log.path().display()),
    ];
    let out = run(addr, method, data.path(), &args).await;
    let done = figure(&out, "requests:", "succeeded");
    (done / seconds as f64, latencies(log.path()))
}
