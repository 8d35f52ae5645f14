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
        let code = if number < CODES.len() { number } else { UNKNOWN };
        let method = if code == UNIMPLEMENTED { unknown() } else { method(self.uri.path()) };
        method.counter(code).increment(1);
        method.duration.record(self.started.elapsed().as_secs_f64());
        number
    }
}

const UNKNOWN: usize = 2;
const UNIMPLEMENTED: usize = 12;

/// One method's handles. Looking a metric up by name and labels hashes both and searches
/// the registry: some 2,000 instructions, 3.5 % of a unary call's (the benchmark's
/// `instructions` step). A method's handles are looked up once and kept.
struct Method {
    name: &'static str,
    duration: metrics::Histogram,
    codes: [OnceLock<metrics::Counter>; CODES.len()],
}

impl Method {
    /// Leaked on purpose: at most MAX_METHODS + 2, each kept for the process's life.
    fn leak(name: &'static str) -> &'static Self {
        // Installed first, so that no handle kept here is a no-op.
        crate::metrics::prometheus();
        let duration = metrics::histogram!("caixa_grpc_request_duration_seconds", "method" => name);
        Box::leak(Box::new(Self { name, duration, codes: std::array::from_fn(|_| OnceLock::new()) }))
    }

    fn counter(&self, code: usize) -> &metrics::Counter {
        self.codes[code].get_or_init(
            || metrics::counter!("caixa_grpc_requests_total", "method" => self.name, "code" => CODES[code]),
        )
    }
}

/// Calls to paths no service serves.
fn unknown() -> &'static Method {
    static UNKNOWN_METHOD: OnceLock<&'static Method> = OnceLock::new();
    UNKNOWN_METHOD.get_or_init(|| Method::leak("unknown"))
}

/// The method served at `path`, or `other` once MAX_METHODS are known.
fn method(path: &str) -> &'static Method {
    static METHODS: OnceLock<RwLock<HashMap<Box<str>, &'static Method>>> = OnceLock::new();
    static OTHER: OnceLock<&'static Method> = OnceLock::new();
    let other = || *OTHER.get_or_init(|| Method::leak("other"));
    let methods = METHODS.get_or_init(RwLock::default);
    if let Some(method) = methods.read().ok().and_then(|m| m.get(path).copied()) {
        return method;
    }
    let Ok(mut methods) = methods.write() else { return other() };
    if let Some(method) = methods.get(path) {
        return method;
    }
    if methods.len() >= MAX_METHODS {
        return other();
    }
    let name: &'static str = Box::leak(path.trim_start_matches('/').to_owned().into_boxed_str());
    let method = Method::leak(name);
    methods.insert(path.into(), method);
    method
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_interned_and_bounded() {
        let first = method("/pkg.S/A");
        assert_eq!(first.name, "pkg.S/A");
        assert!(std::ptr::eq(first, method("/pkg.S/A")), "one copy per method");
        for n in 0..MAX_METHODS * 2 {
            method(&format!("/pkg.S/M{n}"));
        }
        assert_eq!(method("/pkg.S/Another").name, "other");
        assert_eq!(method("/pkg.S/A").name, "pkg.S/A", "known methods stay");
    }
}
