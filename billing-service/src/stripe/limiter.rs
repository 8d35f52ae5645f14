//! One budget for all of a process's Stripe calls, under Stripe's rate limits (read and
//! write operations a second, per mode), so that reconciliation, refetches and a sync
//! running together never earn 429s, and a user's click is served first: calls made
//! under [`user_facing`] take a token whenever one is there, background calls leave a
//! fifth of the budget to them and wait while any of them waits.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Who is waiting for a Stripe call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A user's request (checkout, portal, a success page's sync).
    UserFacing,
    /// Refetches, reconciliation, sync, repairs.
    Background,
}

/// Runs `work` with its Stripe calls served before background ones.
pub async fn user_facing<F: Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::UserFacing, work).await
}

fn current() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Background)
}

/// Of each bucket, the share background calls may not take.
const RESERVE: f64 = 0.2;

#[derive(Debug)]
struct Bucket {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_second: f64) -> Self {
        Self { per_second, tokens: per_second, at: Instant::now() }
    }

    /// Takes a token if more than `floor` would be left; else how long until there is.
    fn take_above(&mut self, floor: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.at = now;
        if self.tokens >= floor + 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        // An infinite floor (background work while a user waits) has no time to give.
        Err(Duration::try_from_secs_f64((floor + 1.0 - self.tokens) / self.per_second)
            .unwrap_or(Duration::MAX))
    }
}

/// The process's Stripe budget. Cheap to clone; clones share it.
#[derive(Clone, Debug)]
pub struct Limiter {
    /// Reads and writes, each its own bucket; `None`: unlimited.
    buckets: Arc<[Option<Mutex<Bucket>>; 2]>,
    users_waiting: Arc<AtomicUsize>,
}

impl Limiter {
    /// A budget of `reads` and `writes` operations a second (0: unlimited).
    pub fn new(reads: f64, writes: f64) -> Self {
        let bucket = |rate: f64| (rate > 0.0).then(|| Mutex::new(Bucket::new(rate)));
        Self { buckets: Arc::new([bucket(reads), bucket(writes)]), users_waiting: Arc::default() }
    }

    /// Waits for the token of one operation (`write` or a read), by the caller's
    /// [`Priority`].
    pub async fn acquire(&self, write: bool) {
        let Some(bucket) = &self.buckets[usize::from(write)] else { return };
        let priority = current();
        let _waiting = (priority == Priority::UserFacing).then(|| Waiting::new(&self.users_waiting));
        let started = Instant::now();
        loop {
            let wait = {
                let Ok(mut bucket) = bucket.lock() else { return };
                let floor = match priority {
                    Priority::UserFacing => 0.0,
                    Priority::Background if self.users_waiting.load(Ordering::Acquire) > 0 => f64::INFINITY,
                    Priority::Background => bucket.per_second * RESERVE,
                };
                match bucket.take_above(floor) {
                    Ok(()) => break,
                    Err(wait) => wait.min(Duration::from_millis(50)),
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
        let kind = if priority == Priority::UserFacing { "user_facing" } else { "background" };
        metrics::histogram!("caixa_stripe_budget_wait_seconds", "priority" => kind)
            .record(started.elapsed().as_secs_f64());
    }
}

/// Counts a user-facing caller waiting, for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn background_calls_leave_a_reserve_that_user_facing_ones_may_take() {
        let limiter = Limiter::new(10.0, 0.0);
        let started = Instant::now();
        for _ in 0..8 {
            limiter.acquire(false).await;
        }
        let background_burst = started.elapsed();
        for _ in 0..2 {
            user_facing(limiter.acquire(false)).await;
        }
        assert!(background_burst < Duration::from_millis(80), "8 of 10 at once: {background_burst:?}");
        assert!(started.elapsed() < Duration::from_millis(80), "the reserve is there for users");
        limiter.acquire(true).await;
        assert!(started.elapsed() < Duration::from_millis(80), "writes unlimited when 0");
    }

    #[tokio::test]
    async fn a_waiting_user_goes_before_waiting_background_work() {
        let limiter = Limiter::new(20.0, 20.0);
        for _ in 0..20 {
            user_facing(limiter.acquire(true)).await;
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..4 {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.spawn(async move {
                limiter.acquire(true).await;
                order.lock().unwrap().push(format!("background-{n}"));
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (user_limiter, user_order) = (limiter.clone(), order.clone());
        tasks.spawn(user_facing(async move {
            user_limiter.acquire(true).await;
            user_order.lock().unwrap().push("user".to_owned());
        }));
        tasks.join_all().await;
        assert_eq!(order.lock().unwrap()[0], "user", "{:?}", order.lock().unwrap());
    }
}
