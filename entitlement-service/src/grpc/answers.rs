//! Check answers counted by reason (`caixa_check_answers_total{reason}`). A batch adds up
//! its answers first and records each reason once, so counting costs a batch of a
//! thousand checks no more than a single check.

use std::sync::OnceLock;

use caixa_proto::billing::v1::AccessReason;

/// Reasons are small numbers; anything beyond counts as unspecified.
const REASONS: usize = 16;

/// Answers of one call, by reason.
#[derive(Default)]
pub struct Tally([u32; REASONS]);

impl Tally {
    /// Counts one answer.
    pub fn add(&mut self, reason: i32) {
        let slot = slot(reason);
        self.0[slot] = self.0[slot].saturating_add(1);
    }

    /// Records the counts.
    pub fn record(self) {
        let counters = counters();
        for (reason, count) in self.0.iter().enumerate().filter(|(_, c)| **c > 0) {
            counters[reason].increment(u64::from(*count));
        }
    }
}

/// One handle per reason, registered on first use. Looking a counter up by name and
/// label hashes both and searches the registry, which cost more than the rest of a
/// check whose user is in cache. The recorder is installed before the first call.
fn counters() -> &'static [metrics::Counter; REASONS] {
    static COUNTERS: OnceLock<[metrics::Counter; REASONS]> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        std::array::from_fn(|reason| {
            let name = i32::try_from(reason)
                .ok()
                .and_then(|r| AccessReason::try_from(r).ok())
                .unwrap_or(AccessReason::Unspecified)
                .as_str_name();
            metrics::counter!("caixa_check_answers_total", "reason" => name)
        })
    })
}

/// Records a single call's answer.
pub fn record(reason: i32) {
    counters()[slot(reason)].increment(1);
}

fn slot(reason: i32) -> usize {
    usize::try_from(reason).ok().filter(|r| *r < REASONS).unwrap_or(0)
}
