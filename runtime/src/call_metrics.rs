//! Per-method call metrics, taken by the admission layer every call passes through:
//! `caixa_grpc_requests_total{method, code}` and
//! `caixa_grpc_request_duration_seconds{method}` (time until the response headers: the
//! whole call for unary methods, the time to open the stream for streaming ones).

use std::{
    collections::HashMap,
    sync::{OnceLock, RwLock},
    time::Instant,
};

/// Distinct method names kept as labels; calls to further paths count as `other`, so a
/// client inventing paths cannot grow the metrics without bound.
const MAX_METHODS: usize = 128;

/// gRPC status codes by number, as label values.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// One call being timed.
pub struct CallTimer {
    uri: http::Uri,
    started: Instant,
}

impl CallTimer {
    /// Starts timing a call to `uri` (a cheap, reference-counted clone).
    pub fn start(uri: &http::Uri) -> Self {
        Self { uri: uri.clone(), started: Instant::now() }
    }

    /// Records the call as answered with `response`'s status: tonic puts an error's
    /// status in the headers (a trailers-only response); a call whose headers carry none
    /// is on its way to OK. Returns the status code's number.
    pub fn finish<B>(self, response: &http::Response<B>) -> usize {
        let number = response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        let code = CODES.get(number).copied().unwrap_or("UNKNOWN");
        let method = if code == "UNIMPLEMENTED" { "unknown" } else { method_name(self.uri.path()) };
        metrics::counter!("caixa_grpc_requests_total", "method" => method, "code" => code).increment(1);
        metrics::histogram!("caixa_grpc_request_duration_seconds", "method" => method)
            .record(self.started.elapsed().as_secs_f64());
        number
    }
}

fn method_name(path: &str) -> &'static str {
    static NAMES: OnceLock<RwLock<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(RwLock::default);
    if let Some(name) = names.read().ok().and_then(|n| n.get(path).copied()) {
        return name;
    }
    let Ok(mut names) = names.write() else { return "other" };
    if let Some(name) = names.get(path) {
        return name;
    }
    if names.len() >= MAX_METHODS {
        return "other";
    }
    // Leaked on purpose: at most MAX_METHODS names, each kept for the process's life as a
    // label value.
    let name: &'static str = Box::leak(path.trim_start_matches('/').to_owned().into_boxed_str());
    names.insert(path.into(), name);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_interned_and_bounded() {
        let first = method_name("/pkg.S/A");
        assert_eq!(first, "pkg.S/A");
        assert!(std::ptr::eq(first, method_name("/pkg.S/A")), "one copy per name");
        for n in 0..MAX_METHODS * 2 {
            method_name(&format!("/pkg.S/M{n}"));
        }
        assert_eq!(method_name("/pkg.S/Another"), "other");
        assert_eq!(method_name("/pkg.S/A"), "pkg.S/A", "known names stay");
    }
}
