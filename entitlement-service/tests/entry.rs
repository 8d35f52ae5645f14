//! The compact in-memory form keeps everything the API returns and the policy reads.
#![allow(missing_docs)]

use caixa_entities::state::{SubscriptionState, UserState};
use caixa_policy::{Policy, Terms};
use caixa_types::{Limit, Revision};
use entitlement_service::domain::{
    entry::{Entry, Plans},
    users::Users,
};
use std::sync::Arc;

fn subscription(id: &str, price: &str, features: &[&str]) -> SubscriptionState {
    SubscriptionState {
        id: id.to_owned(),
        customer_id: "cus_NffrFeUfNV2Hib".to_owned(),
        status: caixa_proto::billing::v1::SubscriptionStatus::PastDue,
        price_id: Some(price.to_owned()),
        product_id: Some("prod_NWjs8kKbJWmuuc".to_owned()),
        trial_start: Some(1_700_000_000),
        trial_end: Some(1_700_086_400),
        current_period_start: Some(1_800_000_000),
        current_period_end: Some(1_802_592_000),
        cancel_at_period_end: true,
        cancel_at: Some(1_802_592_000),
        ended_at: None,
        past_due_since: Some(1_800_100_000),
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        livemode: true,
        quantity: 3,
        limits: features
            .iter()
            .filter(|f| **f == "reports")
            .map(|f| ((*f).to_owned(), Limit::Count(12)))
            .collect(),
    }
}

#[test]
fn an_entry_renders_exactly_the_state_it_was_built_from() {
    // Arrange: a long (heap) subscription id and a short (inline) one.
    let state = UserState {
        subscriptions: vec![
            subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs", "price_1", &["app", "reports"]),
            subscription("sub_2", "price_2", &[]),
        ],
    };
    let plans = Plans::default();

    // Act
    let entry = Entry::new("user-42", Revision::new(7), &state, &plans);
    let rendered = entry.to_proto(Some(1_800_000_123));

    // Assert
    let expected = state.to_proto("user-42", caixa_types::Revision::new(7), 1_800_000_123);
    assert_eq!(rendered, expected);
}

#[test]
fn the_policy_decides_the_same_on_the_compact_form() {
    let state = UserState { subscriptions: vec![subscription("sub_a", "price_1", &["app", "reports"])] };
    let entry = Entry::new("u", Revision::new(1), &state, &Plans::default());
    let policy = Policy::default();
    for now in [1_799_999_999, 1_800_100_000, 1_800_200_000, 1_800_400_000, 1_803_000_000] {
        for feature in [None, Some("app"), Some("reports")] {
            let (compact, plain) = (
                policy.decide(entry.subscriptions(), feature, now),
                policy.decide(&state.subscriptions, feature, now),
            );
            assert_eq!(
                (
                    compact.allowed,
                    compact.reason,
                    compact.status,
                    compact.access_until,
                    compact.subscription_id(),
                    compact.limit,
                    compact.seats,
                ),
                (
                    plain.allowed,
                    plain.reason,
                    plain.status,
                    plain.access_until,
                    plain.subscription_id(),
                    plain.limit,
                    plain.seats
                ),
                "at {now} for {feature:?}"
            );
        }
    }
}

#[test]
fn equal_plans_are_held_once() {
    let plans = Plans::default();
    let a = Entry::new(
        "a",
        Revision::new(1),
        &UserState { subscriptions: vec![subscription("sub_a", "price_1", &["app"])] },
        &plans,
    );
    let b = Entry::new(
        "b",
        Revision::new(2),
        &UserState { subscriptions: vec![subscription("sub_b", "price_1", &["app"])] },
        &plans,
    );
    let c = Entry::new(
        "c",
        Revision::new(3),
        &UserState { subscriptions: vec![subscription("sub_c", "price_1", &["app", "x"])] },
        &plans,
    );

    let mut limited = subscription("sub_d", "price_1", &["app"]);
    limited.limits.insert("app".to_owned(), Limit::Count(2));
    let d = Entry::new("d", Revision::new(4), &UserState { subscriptions: vec![limited] }, &plans);

    assert_eq!(plans.len(), 3, "price_1 with [app] is shared; with [app, x] or a limit it is another plan");
    assert_eq!(d.subscriptions()[0].limit("app"), Some(Limit::Count(2)));
    assert_eq!(a.subscriptions()[0].limit("app"), None);
    assert!(a.subscriptions()[0].grants_feature("app") && b.subscriptions()[0].grants_feature("app"));
    assert!(c.subscriptions()[0].grants_feature("x") && !a.subscriptions()[0].grants_feature("x"));
}

#[test]
fn times_outside_32_bits_saturate_instead_of_vanishing() {
    let mut far = subscription("sub_far", "price_1", &[]);
    far.current_period_end = Some(i64::from(u32::MAX) + 1000);
    far.trial_start = Some(-5);
    let entry = Entry::new("u", Revision::new(1), &UserState { subscriptions: vec![far] }, &Plans::default());
    let s = &entry.subscriptions()[0];
    assert_eq!(s.dates().current_period_end, Some(i64::from(u32::MAX)));
    assert_eq!(entry.to_proto(None).subscriptions[0].trial_start.map(|t| t.seconds), Some(1));
}

#[test]
fn the_table_keeps_the_newest_revision_of_each_user() {
    let plans = Plans::default();
    let state = |price: &str| UserState { subscriptions: vec![subscription("sub_a", price, &[])] };
    let mut users = Users::with_capacity(1);
    assert!(users.upsert(Arc::new(Entry::new("u", Revision::new(5), &state("price_5"), &plans))));
    assert!(
        !users.upsert(Arc::new(Entry::new("u", Revision::new(4), &state("price_4"), &plans))),
        "older is ignored"
    );
    assert!(
        !users.upsert(Arc::new(Entry::new("u", Revision::new(5), &state("price_x"), &plans))),
        "same revision too"
    );
    assert!(users.upsert(Arc::new(Entry::new("u", Revision::new(6), &state("price_6"), &plans))));
    assert!(users.upsert(Arc::new(Entry::new("v", Revision::new(1), &state("price_1"), &plans))));

    assert_eq!(users.len(), 2);
    let held = users.get("u").map(|e| e.to_proto(None).subscriptions[0].price_id.clone());
    assert_eq!(held.as_deref(), Some("price_6"));
    assert!(users.get("w").is_none());
}

#[test]
fn a_batch_finds_what_single_lookups_find_in_order() {
    // Arrange: enough users that many meet another user under the same 7-bit tag first.
    let plans = Plans::default();
    let state = UserState { subscriptions: vec![subscription("sub_a", "price_1", &[])] };
    let mut users = Users::with_capacity(16);
    for n in 0..3_000 {
        users.upsert(Arc::new(Entry::new(&format!("user-{n}"), Revision::new(1), &state, &plans)));
    }
    let asked: Vec<String> = (0..4_000)
        .map(|n| if n % 4 == 3 { format!("nobody-{n}") } else { format!("user-{}", n * 7 % 3_000) })
        .collect();
    let ids: Vec<&str> = asked.iter().map(String::as_str).collect();

    // Act
    let found = users.get_many(&ids);

    // Assert
    assert_eq!(found.len(), ids.len());
    for (id, entry) in ids.iter().zip(found) {
        assert_eq!(entry.map(|e| e.user_id.as_str()), users.get(id).map(|e| e.user_id.as_str()), "{id}");
        assert_eq!(entry.is_some(), id.starts_with("user-"), "{id}");
    }
}

#[test]
fn ids_of_every_length_come_back_whole() {
    use caixa_types::StripeId;
    for id in [
        "",
        "sub_1",
        "sub_1MowQVLkdIwHu7ixeRlqHVzs",
        "sub_é_123456789012345678901234",
        &"x".repeat(31),
        &"ü".repeat(40),
    ] {
        assert_eq!(StripeId::new(id).as_str(), id, "{id}");
    }
    assert!(
        matches!(StripeId::new("sub_1MowQVLkdIwHu7ixeRlqHVzs"), StripeId::Inline(..)),
        "Stripe's ids stay inline"
    );
    assert!(matches!(StripeId::new(&"x".repeat(31)), StripeId::Boxed(..)), "longer ones are boxed");
    assert_eq!(std::mem::size_of::<StripeId>(), 32);
}

#[test]
fn an_entry_built_from_the_message_equals_one_built_from_the_stored_state() {
    // Arrange: the same user as stored JSON and as the message billing sends, with an
    // empty price (none) and a limit.
    let mut bare = subscription("sub_2", "", &[]);
    bare.price_id = None;
    let state = UserState {
        subscriptions: vec![
            subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs", "price_1", &["app", "reports"]),
            bare,
        ],
    };
    let message = state.to_proto("user-9", Revision::new(11), 1_800_000_000);
    let plans = Plans::default();

    // Act
    let stored = Entry::new("user-9", Revision::new(11), &state, &plans);
    let streamed = Entry::from_proto(&message, &plans);

    // Assert: the same answers, the same rendering, and the plans shared between them.
    assert_eq!(streamed.to_proto(Some(1_800_000_000)), stored.to_proto(Some(1_800_000_000)));
    assert_eq!(streamed.to_proto(None), message_without_time(&message));
    assert_eq!(plans.len(), 2, "each plan interned once, whichever form it came from");
    assert_eq!(streamed.subscriptions()[0].limit("reports"), Some(Limit::Count(12)));
    assert_eq!(streamed.subscriptions()[0].seats(), 3);
}

fn message_without_time(
    message: &caixa_proto::billing::v1::EntitlementState,
) -> caixa_proto::billing::v1::EntitlementState {
    caixa_proto::billing::v1::EntitlementState { changed_at: None, ..message.clone() }
}
