//! What billing knows about Stripe objects and how events change local state.

pub mod apply;
pub mod stripe_json;
