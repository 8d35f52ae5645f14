//! Stripe's subscription statuses by the names Stripe gives them, in one table: the
//! stored state, the database column and the policy all read them through it.

use caixa_proto::billing::v1::SubscriptionStatus;

/// Every status Stripe has, with its name.
const NAMES: [(SubscriptionStatus, &str); 8] = [
    (SubscriptionStatus::Trialing, "trialing"),
    (SubscriptionStatus::Active, "active"),
    (SubscriptionStatus::PastDue, "past_due"),
    (SubscriptionStatus::Unpaid, "unpaid"),
    (SubscriptionStatus::Canceled, "canceled"),
    (SubscriptionStatus::Incomplete, "incomplete"),
    (SubscriptionStatus::IncompleteExpired, "incomplete_expired"),
    (SubscriptionStatus::Paused, "paused"),
];

/// Stripe's status name (`trialing`, `past_due`, …) as the contract's enum;
/// `Unspecified` for a name Stripe does not use.
pub fn status_from_stripe(name: &str) -> SubscriptionStatus {
    NAMES.iter().find(|(_, n)| *n == name).map_or(SubscriptionStatus::Unspecified, |(s, _)| *s)
}

/// The name Stripe gives `status`; `None` for `Unspecified`.
pub fn stripe_name(status: SubscriptionStatus) -> Option<&'static str> {
    NAMES.iter().find(|(s, _)| *s == status).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_name_and_back() {
        for (status, name) in NAMES {
            assert_eq!(status_from_stripe(name), status);
            assert_eq!(stripe_name(status), Some(name));
        }
        assert_eq!(status_from_stripe("Active"), SubscriptionStatus::Unspecified);
        assert_eq!(stripe_name(SubscriptionStatus::Unspecified), None);
    }
}
