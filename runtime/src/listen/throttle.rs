//! A log line that a flood cannot multiply: written at most once per interval, saying
//! how many were skipped since the last one.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

const INTERVAL: Duration = Duration::from_secs(10);

pub(super) struct Throttle {
    last: Mutex<Option<Instant>>,
    skipped: AtomicU64,
}

impl Throttle {
    pub(super) fn new() -> Self {
        Self { last: Mutex::new(None), skipped: AtomicU64::new(0) }
    }

    /// Calls `log` with the number of lines skipped since the last, unless one was
    /// written within the interval.
    pub(super) fn warn(&self, log: impl FnOnce(u64)) {
        let Ok(mut last) = self.last.try_lock() else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if last.is_some_and(|at| at.elapsed() < INTERVAL) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        log(self.skipped.swap(0, Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        let throttle = Throttle::new();
        let mut logged = Vec::new();
        for _ in 0..1_000 {
            throttle.warn(|skipped| logged.push(skipped));
        }
        assert_eq!(logged, vec![0]);
        assert_eq!(throttle.skipped.load(Ordering::Relaxed), 999);
    }
}
