//! A Stripe event's JSON through everything that reads it before the database: event
//! parsing, what it refetches, its payload as a typed object, the lifecycle rules, and
//! the access decision a subscription in it would give.
#![no_main]

use billing_service::{
    domain::objects::lifecycle,
    stripe::{event::StripeEvent, keys::UserKeys, objects::StripeObject},
};
use caixa_entities::state::SubscriptionState;
use caixa_policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = StripeEvent::parse(data) else { return };
    let _ = (event.object_id(), event.customer());
    let keys = UserKeys::default();
    let Some(target) = event.target(&keys) else { return };
    let Some(object) = event.payload_object(&target, &keys) else { return };
    let _ = object.id();
    let StripeObject::Subscription(sub) = object else { return };
    let seconds = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp());
    let now = seconds(sub.created).unwrap_or(1_800_000_000);
    let past_due_since =
        lifecycle::past_due_since(None, sub.status, sub.current_period_start, chrono::Utc::now());
    let _ = lifecycle::subscription_owner(None, sub.user_id.clone());
    let state = SubscriptionState {
        id: sub.id.clone(),
        customer_id: sub.customer_id.clone(),
        status: sub.status.to_proto(),
        price_id: sub.price_id.clone(),
        product_id: sub.product_id.clone(),
        trial_start: seconds(sub.trial_start),
        trial_end: seconds(sub.trial_end),
        current_period_start: seconds(sub.current_period_start),
        current_period_end: seconds(sub.current_period_end),
        cancel_at_period_end: sub.cancel_at_period_end,
        cancel_at: seconds(sub.cancel_at),
        ended_at: seconds(sub.ended_at),
        past_due_since: seconds(past_due_since),
        features: vec!["reports".to_owned()],
        livemode: sub.livemode,
        quantity: u32::try_from(sub.quantity).unwrap_or(0),
        limits: [("reports".to_owned(), caixa_types::Limit::Count(10))].into(),
    };
    let subs = [state];
    for at in [now.saturating_sub(86_400), now, now.saturating_add(86_400 * 40)] {
        let decision = Policy::default().decide(&subs, Some("reports"), at);
        assert!(!decision.allowed || decision.access_until.is_none_or(|until| until > at));
    }
});
