//! The rules that decide what a Stripe object means for stored state, apart from any I/O
//! so they can be tested on their own.

use caixa_entities::subscriptions::Status;
use chrono::{DateTime, Utc};

/// Whether data as of `incoming` may replace a row holding data as of `stored`: equal
/// times may (a refetch of the same moment is the same data), older never does.
pub fn may_replace(stored: Option<DateTime<Utc>>, incoming: DateTime<Utc>) -> bool {
    stored.is_none_or(|stored| stored <= incoming)
}

/// The user a subscription belongs to: its customer's link wins (it can be repaired),
/// else the `metadata.user_id` billing set at checkout.
pub fn subscription_owner(linked: Option<String>, metadata: Option<String>) -> Option<String> {
    linked.or(metadata)
}

/// The user a customer belongs to: its `metadata.user_id`, else the link it already has
/// (made at checkout, it survives a payload without metadata).
pub fn customer_owner(metadata: Option<String>, current: Option<String>) -> Option<String> {
    metadata.or(current)
}

/// When the grace of a past_due subscription started: an episode already under way
/// keeps its start; a new one starts at the period whose payment failed (or now, when
/// the period is unknown); any other status has none.
pub fn past_due_since(
    previous: Option<(Status, Option<DateTime<Utc>>)>,
    status: Status,
    period_start: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (previous, status) {
        (Some((Status::PastDue, since)), Status::PastDue) => since,
        (_, Status::PastDue) => period_start.or(Some(as_of)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn older_data_never_replaces_newer() {
        assert!(may_replace(None, t(5)));
        assert!(may_replace(Some(t(5)), t(5)));
        assert!(may_replace(Some(t(5)), t(6)));
        assert!(!may_replace(Some(t(6)), t(5)));
    }

    #[test]
    fn owners() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(subscription_owner(some("linked"), some("meta")), some("linked"));
        assert_eq!(subscription_owner(None, some("meta")), some("meta"));
        assert_eq!(customer_owner(some("meta"), some("current")), some("meta"));
        assert_eq!(customer_owner(None, some("current")), some("current"));
        assert_eq!(customer_owner(None, None), None);
    }

    #[test]
    fn grace_starts_at_the_failed_period_and_keeps_its_start() {
        let new = past_due_since(Some((Status::Active, None)), Status::PastDue, Some(t(100)), t(150));
        assert_eq!(new, Some(t(100)));
        let ongoing =
            past_due_since(Some((Status::PastDue, Some(t(100)))), Status::PastDue, Some(t(200)), t(250));
        assert_eq!(ongoing, Some(t(100)), "a renewal inside the episode does not restart grace");
        assert_eq!(past_due_since(None, Status::PastDue, None, t(7)), Some(t(7)));
        assert_eq!(
            past_due_since(Some((Status::PastDue, Some(t(1)))), Status::Active, Some(t(9)), t(9)),
            None
        );
    }
}
