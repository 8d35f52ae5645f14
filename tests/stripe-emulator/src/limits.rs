//! Stripe from afar: the time a request takes (its round trip, and the handshakes of a
//! new connection), and Stripe's API rate limits: so many read and so many write
//! operations a second in each mode (100 each in live mode, 25 each in test mode, by
//! Stripe's documentation), kept as token buckets that hold one second's worth. Both are
//! off unless asked for.

use std::time::Instant;

/// API latency: `fixed_ms` plus `jitter_ms × u³` for `u` uniform in [0, 1), so the
/// median adds an eighth of the jitter and the 99th percentile nearly all of it (fixed
/// 100 and jitter 300 give p50 ≈ 140 ms, p99 ≈ 390 ms, about what Stripe answers in).
/// A request on a new connection also pays its handshakes: TCP's and TLS's round trips,
/// two more `fixed_ms`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    /// Every request waits this long.
    pub fixed_ms: u64,
    /// And up to this much more.
    pub jitter_ms: u64,
}

impl Latency {
    /// One request's delay; `new_connection` adds the handshakes' two round trips.
    pub fn sample(self, new_connection: bool) -> std::time::Duration {
        let u = fastrand::f64();
        let extra = (self.jitter_ms as f64 * u * u * u) as u64;
        let handshakes = if new_connection { 2 * self.fixed_ms } else { 0 };
        std::time::Duration::from_millis(self.fixed_ms + extra + handshakes)
    }
}

/// One limit: `per_second` operations, bursts of up to one second's worth.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        Self { per_second, tokens: per_second, at: Instant::now() }
    }

    /// Takes one operation's token; false when none is left.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// The limits of both modes, for reads and writes.
#[derive(Clone, Debug, Default)]
pub struct RateLimits {
    /// Indexed by `[livemode][write]`; `None`: unlimited.
    buckets: [[Option<Bucket>; 2]; 2],
}

impl RateLimits {
    /// `read` and `write` operations a second in `livemode` (0: unlimited).
    pub fn set(&mut self, livemode: bool, read: u32, write: u32) {
        let bucket = |rate: u32| (rate > 0).then(|| Bucket::new(rate));
        self.buckets[usize::from(livemode)] = [bucket(read), bucket(write)];
    }

    /// Whether one more operation may run now (taking its token if so).
    pub fn allow(&mut self, livemode: bool, write: bool) -> bool {
        self.buckets[usize::from(livemode)][usize::from(write)]
            .as_mut()
            .is_none_or(|b| b.take(Instant::now()))
    }

    /// The limits set, for the control route's answer.
    pub fn describe(&self) -> serde_json::Value {
        let rate = |mode: usize, kind: usize| self.buckets[mode][kind].map_or(0.0, |b| b.per_second);
        serde_json::json!({
            "test": { "read": rate(0, 0), "write": rate(0, 1) },
            "live": { "read": rate(1, 0), "write": rate(1, 1) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_holds_a_second_and_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket { per_second: 25.0, tokens: 25.0, at: start };
        let taken = (0..40).filter(|_| bucket.take(start)).count();
        assert_eq!(taken, 25, "a second's burst");
        assert!(!bucket.take(start + Duration::from_millis(20)), "half a token is not one");
        assert!(bucket.take(start + Duration::from_millis(40)), "one token after 1/25 s");
        let later = start + Duration::from_secs(10);
        assert_eq!((0..40).filter(|_| bucket.take(later)).count(), 25, "never more than a second's worth");
    }

    #[test]
    fn modes_and_kinds_are_limited_apart_and_unlimited_unless_set() {
        let mut limits = RateLimits::default();
        assert!((0..1000).all(|_| limits.allow(false, true)));
        limits.set(false, 2, 1);
        assert_eq!((0..5).filter(|_| limits.allow(false, false)).count(), 2);
        assert_eq!((0..5).filter(|_| limits.allow(false, true)).count(), 1);
        assert!((0..100).all(|_| limits.allow(true, true)), "live mode is not limited");
    }

    #[test]
    fn a_new_connection_pays_two_more_round_trips() {
        let latency = Latency { fixed_ms: 140, jitter_ms: 0 };
        assert_eq!(latency.sample(false), Duration::from_millis(140));
        assert_eq!(latency.sample(true), Duration::from_millis(420));
        let jittery = Latency { fixed_ms: 100, jitter_ms: 300 };
        let sampled = jittery.sample(false);
        assert!(sampled >= Duration::from_millis(100) && sampled < Duration::from_millis(400), "{sampled:?}");
        assert_eq!(Latency::default().sample(true), Duration::ZERO, "off unless asked for");
    }
}
