//! Limits and seats in the policy's answers: the largest number over the subscriptions
//! that grant the feature now, the seats of the one that decided, nothing when refused.
#![allow(clippy::unwrap_used, missing_docs)]

use caixa_policy::{Limit, Policy, Subscription};
use caixa_types::status_from_stripe as stripe_status;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn sub(id: &str, status: &str, ends_in_days: i64, limits: &[(&str, Limit)], seats: u32) -> Subscription {
    Subscription {
        id: id.to_owned(),
        status: stripe_status(status),
        current_period_start: Some(NOW - DAY),
        current_period_end: Some(NOW + ends_in_days * DAY),
        features: vec!["app".to_owned(), "projects".to_owned()],
        limits: limits.iter().map(|(f, l)| ((*f).to_owned(), *l)).collect(),
        seats,
        ..Default::default()
    }
}

#[test]
fn the_largest_limit_over_granting_subscriptions_applies_with_the_deciders_seats() {
    // Arrange: 10 projects on the longer subscription, 50 on the shorter, and a lapsed
    // one that would allow any number.
    let subs = [
        sub("sub_long", "active", 30, &[("projects", Limit::Count(10))], 3),
        sub("sub_short", "active", 5, &[("projects", Limit::Count(50))], 1),
        sub("sub_lapsed", "unpaid", 5, &[("projects", Limit::Unlimited)], 9),
    ];

    // Act
    let decision = Policy::default().decide(&subs, Some("projects"), NOW);

    // Assert
    assert!(decision.allowed);
    assert_eq!(decision.limit, Some(Limit::Count(50)), "the largest of the granting ones");
    assert_eq!(decision.subscription_id(), Some("sub_long"), "the latest-ending decides");
    assert_eq!(decision.seats, 3, "seats of the subscription that decided");
}

#[test]
fn unlimited_beats_any_number_and_a_feature_without_a_number_has_none() {
    let mut trialing = sub("sub_b", "trialing", 3, &[("projects", Limit::Unlimited)], 1);
    trialing.trial_end = Some(NOW + DAY);
    let subs = [sub("sub_a", "active", 30, &[("projects", Limit::Count(1_000))], 1), trialing];

    let projects = Policy::default().decide(&subs, Some("projects"), NOW);
    let app = Policy::default().decide(&subs, Some("app"), NOW);
    let paid_app = Policy::default().decide(&subs, None, NOW);

    assert_eq!(projects.limit, Some(Limit::Unlimited));
    assert_eq!(app.limit, None, "no plan sets a number on app");
    assert_eq!(paid_app.limit, None, "no feature asked, no limit");
    assert_eq!(paid_app.seats, 1);
}

#[test]
fn a_refusal_carries_no_limit_and_no_seats() {
    let subs = [sub("sub_x", "unpaid", 30, &[("projects", Limit::Count(10))], 4)];

    let refused = Policy::default().decide(&subs, Some("projects"), NOW);
    let other = [sub("sub_y", "active", 30, &[], 4)];
    let outside_plan = Policy::default().decide(&other, Some("exports"), NOW);

    assert!(!refused.allowed && !outside_plan.allowed);
    assert_eq!((refused.limit, refused.seats), (None, 0));
    assert_eq!((outside_plan.limit, outside_plan.seats), (None, 0));
}

#[test]
fn grants_lists_each_feature_once_with_its_largest_limit_from_granting_subscriptions_only() {
    let subs = [
        sub("sub_a", "active", 30, &[("projects", Limit::Count(10))], 1),
        sub("sub_b", "active", 30, &[("projects", Limit::Count(25))], 1),
        sub("sub_c", "canceled", 30, &[("projects", Limit::Unlimited)], 1),
    ];

    let grants = Policy::default().grants(&subs, NOW);

    assert_eq!(grants, [("app", None), ("projects", Some(Limit::Count(25)))]);
}

#[test]
fn limits_parse_from_metadata_text_and_refuse_anything_else_by_name() {
    assert_eq!(" 10 ".parse::<Limit>(), Ok(Limit::Count(10)));
    assert_eq!("Unlimited".parse::<Limit>(), Ok(Limit::Unlimited));
    let error = "ten".parse::<Limit>().unwrap_err();
    assert!(error.to_string().contains("\"ten\""), "{error}");
    assert!("-1".parse::<Limit>().is_err());
    assert!(Limit::Count(u64::MAX) < Limit::Unlimited);
    for limit in [Limit::Count(7), Limit::Unlimited] {
        assert_eq!(Limit::from_proto(&limit.to_proto()), limit);
        let json = serde_json::to_string(&limit).unwrap();
        assert_eq!(serde_json::from_str::<Limit>(&json).unwrap(), limit, "{json}");
    }
}
