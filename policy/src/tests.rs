//! One test per row of the access policy, with the clock injected.

use crate::Policy;
use caixa_types::status_from_stripe as stripe_status;

use crate::Subscription;
use caixa_proto::billing::v1::AccessReason::{self, *};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn sub(status: &str) -> Subscription {
    Subscription {
        id: format!("sub_{status}"),
        status: stripe_status(status),
        current_period_start: Some(NOW - 10 * DAY),
        current_period_end: Some(NOW + 20 * DAY),
        features: vec!["app".to_owned()],
        ..Default::default()
    }
}

fn check(subs: Vec<Subscription>, feature: Option<&str>) -> (bool, AccessReason, Option<i64>) {
    let d = Policy::default().decide(&subs, feature, NOW);
    (d.allowed, d.reason, d.access_until)
}

#[test]
fn trialing_grants_until_the_trial_ends_even_without_a_webhook() {
    let mut trial = sub("trialing");
    trial.trial_end = Some(NOW + DAY);
    assert_eq!(check(vec![trial.clone()], None), (true, Trialing, Some(NOW + DAY)));
    trial.trial_end = Some(NOW - 2 * 3_600);
    assert_eq!(check(vec![trial], None), (false, Canceled, None), "a trial that ended is over");
}

#[test]
fn a_just_ended_trial_keeps_access_for_the_trial_end_grace_then_ends() {
    let mut trial = sub("trialing");
    trial.trial_end = Some(NOW - 60);
    assert_eq!(check(vec![trial.clone()], None), (true, TrialEnding, Some(NOW - 60 + 3_600)));
    trial.trial_end = Some(NOW - 3_600);
    assert_eq!(check(vec![trial.clone()], None), (false, Canceled, None), "grace over");
    let strict = Policy { trial_end_grace_seconds: 0, ..Policy::default() };
    trial.trial_end = Some(NOW - 1);
    assert!(!strict.decide(&[trial], None, NOW).allowed, "no grace configured, no grace");
}

#[test]
fn cancel_at_without_period_end_flag_ends_access_at_cancel_at() {
    let mut scheduled = sub("active");
    scheduled.cancel_at = Some(NOW + DAY);
    assert_eq!(check(vec![scheduled.clone()], None), (true, Canceling, Some(NOW + DAY)));
    scheduled.cancel_at = Some(NOW - 1);
    assert_eq!(check(vec![scheduled], None), (false, Canceled, None), "past cancel_at, Stripe late");
}

#[test]
fn a_trial_with_cancel_at_ends_then_before_at_and_after_its_trial_end() {
    let grace_end = NOW - 60 + 3_600;
    // (trial end, cancel_at) → the answer now.
    let cases = [
        ((NOW + DAY, NOW + 3_600), (true, Trialing, Some(NOW + 3_600))),
        ((NOW + DAY, NOW - 1), (false, Canceled, None)),
        ((NOW + DAY, NOW), (false, Canceled, None)),
        ((NOW + DAY, NOW + DAY), (true, Trialing, Some(NOW + DAY))),
        ((NOW + DAY, NOW + 2 * DAY), (true, Trialing, Some(NOW + DAY))),
        // Its trial just ended: the grace holds only when cancel_at lies beyond the trial.
        ((NOW - 60, NOW - 60), (false, Canceled, None)),
        ((NOW - 60, NOW + 60), (true, TrialEnding, Some(NOW + 60))),
        ((NOW - 60, NOW + DAY), (true, TrialEnding, Some(grace_end))),
    ];
    for ((trial_end, cancel_at), expected) in cases {
        let mut trial = sub("trialing");
        (trial.trial_end, trial.cancel_at) = (Some(trial_end), Some(cancel_at));
        assert_eq!(check(vec![trial], None), expected, "trial end {trial_end}, cancel_at {cancel_at}");
    }
}

#[test]
fn a_trial_set_to_cancel_at_its_end_gets_no_grace() {
    let mut trial = sub("trialing");
    trial.cancel_at_period_end = true;
    trial.trial_end = Some(NOW + DAY);
    assert_eq!(check(vec![trial.clone()], None), (true, Trialing, Some(NOW + DAY)));
    trial.trial_end = Some(NOW - 60);
    assert_eq!(check(vec![trial], None), (false, Canceled, None), "no grace after a trial set to end");
}

#[test]
fn a_passed_cancel_at_ends_access_in_every_status() {
    for status in ["active", "trialing", "past_due"] {
        let mut scheduled = sub(status);
        (scheduled.trial_end, scheduled.past_due_since) = (Some(NOW + DAY), Some(NOW - 60));
        scheduled.cancel_at = Some(NOW - 1);
        assert_eq!(check(vec![scheduled], None), (false, Canceled, None), "{status}");
    }
}

#[test]
fn active_and_canceling() {
    assert_eq!(check(vec![sub("active")], None), (true, Active, Some(NOW + 20 * DAY)));
    let mut canceling = sub("active");
    canceling.cancel_at_period_end = true;
    assert_eq!(check(vec![canceling.clone()], None), (true, Canceling, Some(NOW + 20 * DAY)));
    canceling.current_period_end = Some(NOW - 1);
    assert_eq!(check(vec![canceling], None), (false, Canceled, None));
}

#[test]
fn past_due_has_a_grace_period_from_the_failed_period_start() {
    let mut late = sub("past_due");
    late.past_due_since = Some(NOW - DAY);
    assert_eq!(check(vec![late.clone()], None), (true, PastDueGrace, Some(NOW + 2 * DAY)));
    late.past_due_since = Some(NOW - 3 * DAY);
    assert_eq!(check(vec![late], None), (false, PaymentFailed, None));
    assert_eq!(check(vec![sub("unpaid")], None), (false, PaymentFailed, None));
}

#[test]
fn refusals_name_their_reason() {
    assert_eq!(check(vec![sub("incomplete")], None).1, Incomplete);
    assert_eq!(check(vec![sub("incomplete_expired")], None).1, Incomplete);
    assert_eq!(check(vec![sub("paused")], None).1, Paused);
    assert_eq!(check(vec![sub("canceled")], None).1, Canceled);
    assert_eq!(check(vec![], None), (false, NoSubscription, None));
}

#[test]
fn features_are_the_union_over_granting_subscriptions() {
    let mut reports = sub("active");
    reports.id = "sub_reports".to_owned();
    reports.features = vec!["reports".to_owned()];
    let mut old = sub("canceled");
    old.features = vec!["export".to_owned()];
    let subs = vec![sub("active"), reports, old];
    assert!(check(subs.clone(), Some("app")).0);
    assert!(check(subs.clone(), Some("reports")).0);
    assert_eq!(check(subs.clone(), Some("export")).1, FeatureNotInPlan, "a canceled plan grants nothing");
    assert!(check(subs, Some("")).0, "an empty feature means the paid app");
}

#[test]
fn graces_are_read_in_seconds_and_an_endless_one_saturates() {
    let policy = Policy::with_graces(std::time::Duration::from_secs(7 * 86_400), std::time::Duration::MAX);
    assert_eq!(policy.grace_seconds, 7 * 86_400);
    assert_eq!(policy.trial_end_grace_seconds, i64::MAX);
}

#[test]
fn each_end_is_exclusive() {
    let mut trial = sub("trialing");
    trial.trial_end = Some(NOW);
    assert_eq!(
        check(vec![trial], None),
        (true, TrialEnding, Some(NOW + 3_600)),
        "a trial ending now has ended"
    );
    let mut canceling = sub("active");
    canceling.cancel_at_period_end = true;
    canceling.current_period_end = Some(NOW);
    assert_eq!(check(vec![canceling], None), (false, Canceled, None), "a period ending now has ended");
    let mut renewing = sub("active");
    renewing.current_period_end = Some(NOW);
    assert_eq!(check(vec![renewing], None), (true, Active, None), "no end to promise at the period's end");
}

#[test]
fn the_latest_ending_grant_decides_and_a_tie_goes_to_the_later_one() {
    let mut sooner = sub("active");
    sooner.id = "sub_sooner".into();
    sooner.current_period_end = Some(NOW + 5 * DAY);
    let mut later = sub("active");
    later.id = "sub_later".into();
    later.current_period_end = Some(NOW + 9 * DAY);
    for subs in [vec![sooner.clone(), later.clone()], vec![later.clone(), sooner.clone()]] {
        let decision = Policy::default().decide(&subs, None, NOW);
        assert_eq!(
            (decision.access_until, decision.subscription_id()),
            (Some(NOW + 9 * DAY), Some("sub_later"))
        );
        let decision = Policy::default().decide(&subs, Some("app"), NOW);
        assert_eq!(decision.subscription_id(), Some("sub_later"), "the same for a feature both grant");
    }
    let mut twin = later.clone();
    twin.id = "sub_twin".into();
    let tied = [later, twin];
    assert_eq!(Policy::default().decide(&tied, None, NOW).subscription_id(), Some("sub_twin"));
}

#[test]
fn a_feature_is_granted_by_the_subscription_that_has_it_even_when_another_ends_later() {
    let mut reports = sub("active");
    reports.id = "sub_reports".into();
    reports.features = vec!["reports".into()];
    reports.current_period_end = Some(NOW + 5 * DAY);
    let mut app = sub("active");
    app.id = "sub_app".into();
    app.current_period_end = Some(NOW + 9 * DAY);
    let subs = [app.clone(), reports];
    let decision = Policy::default().decide(&subs, Some("reports"), NOW);
    assert_eq!((decision.allowed, decision.subscription_id()), (true, Some("sub_reports")));
    let decision = Policy::default().decide(&subs, Some("exports"), NOW);
    assert_eq!((decision.allowed, decision.reason), (false, FeatureNotInPlan));
    assert_eq!(decision.subscription_id(), Some("sub_app"), "the refusal names the latest-ending grant");
}

#[test]
fn the_refusal_most_worth_telling_wins_whatever_the_order() {
    let named = |status: &str, id: &str| Subscription { id: id.into(), ..sub(status) };
    let cases = [
        (vec![named("canceled", "a"), named("unpaid", "b")], PaymentFailed, "b"),
        (vec![named("paused", "a"), named("unpaid", "b")], PaymentFailed, "b"),
        (vec![named("incomplete", "a"), named("paused", "b")], Paused, "b"),
        (vec![named("canceled", "a"), named("incomplete", "b")], Incomplete, "b"),
        (vec![named("canceled", "a"), named("canceled", "b")], Canceled, "a"),
    ];
    for (subs, reason, id) in cases {
        for subs in [subs.clone(), subs.into_iter().rev().collect()] {
            let decision = Policy::default().decide(&subs, None, NOW);
            assert_eq!(decision.reason, reason, "{subs:?}");
            if reason != Canceled {
                assert_eq!(decision.subscription_id(), Some(id));
            }
        }
    }
    let equal = [named("canceled", "a"), named("canceled", "b")];
    assert_eq!(Policy::default().decide(&equal, None, NOW).subscription_id(), Some("a"), "earlier ties win");
}

#[test]
fn a_contract_snapshot_is_decided_as_the_subscription_it_carries() {
    use caixa_proto::billing::v1::{SubscriptionSnapshot, SubscriptionStatus};
    let mut owned = sub("past_due");
    owned.features = vec!["reports".into()];
    owned.past_due_since = Some(NOW - DAY);
    owned.cancel_at = Some(NOW + 2 * DAY);
    let snapshot = SubscriptionSnapshot {
        subscription_id: owned.id.clone(),
        status: SubscriptionStatus::PastDue.into(),
        current_period_start: owned.current_period_start.map(caixa_proto::timestamp),
        current_period_end: owned.current_period_end.map(caixa_proto::timestamp),
        past_due_since: owned.past_due_since.map(caixa_proto::timestamp),
        cancel_at: owned.cancel_at.map(caixa_proto::timestamp),
        features: owned.features.clone(),
        ..SubscriptionSnapshot::default()
    };
    for feature in [None, Some("reports"), Some("exports")] {
        let from_owned = Policy::default().decide(std::slice::from_ref(&owned), feature, NOW);
        let from_snapshot = Policy::default().decide(std::slice::from_ref(&snapshot), feature, NOW);
        assert_eq!(
            (from_snapshot.allowed, from_snapshot.reason, from_snapshot.access_until, from_snapshot.status),
            (from_owned.allowed, from_owned.reason, from_owned.access_until, from_owned.status),
            "{feature:?}"
        );
        assert_eq!(from_snapshot.subscription_id(), Some(owned.id.as_str()));
    }
    assert_eq!(Policy::default().decide(&[snapshot], None, NOW).reason, PastDueGrace);
}
