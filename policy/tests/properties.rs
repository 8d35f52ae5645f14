//! Properties of the access policy over random subscription sets and times: the decision
//! is the one docs/api.md's policy table gives, a grant never ends in the past, and a
//! subscription that grants nothing never turns a refusal into a grant.
#![allow(clippy::unwrap_used, missing_docs)]

use caixa_policy::{Limit, Policy, Subscription, Terms};
use caixa_proto::billing::v1::SubscriptionStatus;
use caixa_types::status_from_stripe as stripe_status;
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const STATUSES: &[&str] = &[
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
    "canceled",
    "mystery",
];
const FEATURES: &[&str] = &["reports", "export"];

fn time() -> impl Strategy<Value = Option<i64>> {
    proptest::option::of(-10 * DAY..10 * DAY).prop_map(|offset| offset.map(|o| NOW + o))
}

prop_compose! {
    fn subscription()(
        status in proptest::sample::select(STATUSES),
        (trial_end, period_start, period_end, cancel_at, ended_at, past_due_since) in (time(), time(), time(), time(), time(), time()),
        cancel_at_period_end in any::<bool>(),
        features in proptest::sample::subsequence(FEATURES, 0..=2),
        n in 0u32..1_000_000,
        limit in proptest::option::of(prop_oneof![(0u64..100).prop_map(Limit::Count), Just(Limit::Unlimited)]),
        seats in 0u32..5,
    ) -> Subscription {
        Subscription {
            id: format!("sub_{n}"),
            status: stripe_status(status),
            trial_end,
            current_period_start: period_start,
            current_period_end: period_end,
            cancel_at_period_end,
            cancel_at,
            ended_at: ended_at.filter(|_| status == "canceled" || cancel_at_period_end),
            past_due_since,
            features: features.into_iter().map(str::to_owned).collect(),
            limits: limit.map(|l| ("reports".to_owned(), l)).into_iter().collect(),
            seats,
        }
    }
}

/// The policy table of docs/api.md, row by row: whether one subscription grants access.
fn table_grants(s: &Subscription, policy: &Policy, now: i64) -> bool {
    if s.ended_at.is_some_and(|t| t <= now) || s.cancel_at.is_some_and(|t| t <= now) {
        return false;
    }
    match s.status {
        // A trial set to cancel (at a time, or at its end) gets no grace after it.
        SubscriptionStatus::Trialing => {
            let stops = s.cancel_at.or(s.trial_end.filter(|_| s.cancel_at_period_end));
            s.trial_end.is_some_and(|end| {
                now < end || (stops.is_none_or(|t| t > end) && now < end + policy.trial_end_grace_seconds)
            })
        }
        SubscriptionStatus::Active if s.cancel_at_period_end => {
            s.current_period_end.or(s.cancel_at).is_some_and(|end| now < end)
        }
        SubscriptionStatus::Active => s.cancel_at.is_none_or(|at| now < at),
        SubscriptionStatus::PastDue => s
            .past_due_since
            .or(s.current_period_start)
            .is_some_and(|start| now < start + policy.grace_seconds),
        _ => false,
    }
}

fn feature() -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::of(proptest::sample::select(FEATURES))
}

proptest! {
    // Failures print their minimal input; nothing is written beside the sources.
    #![proptest_config(ProptestConfig { cases: 4_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_decision_is_the_tables(subs in proptest::collection::vec(subscription(), 0..5), feature in feature(), at in -2 * DAY..2 * DAY) {
        let (policy, now) = (Policy::default(), NOW + at);
        let decision = policy.decide(&subs, feature, now);
        let expected = subs.iter().any(|s| {
            table_grants(s, &policy, now) && feature.is_none_or(|f| s.features.iter().any(|g| g == f))
        });
        prop_assert_eq!(decision.allowed, expected, "{:?}", decision);
    }

    #[test]
    fn a_granted_limit_is_the_largest_a_granting_subscription_sets_and_seats_are_the_deciders(
        subs in proptest::collection::vec(subscription(), 1..5), feature in feature(), at in -2 * DAY..2 * DAY,
    ) {
        let policy = Policy::default();
        let decision = policy.decide(&subs, feature, NOW + at);
        let largest = subs
            .iter()
            .filter(|s| policy.decide(std::slice::from_ref(*s), feature, NOW + at).allowed)
            .filter_map(|s| feature.and_then(|f| s.limit(f)))
            .max();
        if decision.allowed {
            prop_assert_eq!(decision.limit, largest);
            prop_assert_eq!(Some(decision.seats), decision.subscription.map(Terms::seats));
        } else {
            prop_assert_eq!((decision.limit, decision.seats), (None, 0));
        }
    }

    #[test]
    fn a_grant_never_ends_in_the_past(subs in proptest::collection::vec(subscription(), 1..5), feature in feature(), at in -2 * DAY..2 * DAY) {
        let now = NOW + at;
        let decision = Policy::default().decide(&subs, feature, now);
        if decision.allowed {
            prop_assert!(decision.access_until.is_none_or(|until| until > now), "{:?} at {}", decision, now);
        } else {
            prop_assert_eq!(decision.access_until, None);
        }
    }

    #[test]
    fn a_subscription_granting_nothing_never_turns_a_refusal_into_a_grant(
        subs in proptest::collection::vec(subscription(), 0..4),
        extra in subscription(),
        feature in feature(),
        at in -2 * DAY..2 * DAY,
    ) {
        let (policy, now) = (Policy::default(), NOW + at);
        prop_assume!(!table_grants(&extra, &policy, now));
        let before = policy.decide(&subs, feature, now).allowed;
        let mut more = subs.clone();
        more.push(extra);
        prop_assert_eq!(policy.decide(&more, feature, now).allowed, before);
    }
}
