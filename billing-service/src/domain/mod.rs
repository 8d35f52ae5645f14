//! What billing knows about Stripe objects and how events change local state.

pub mod apply;
pub mod billing;
pub mod customers;
pub mod stripe_json;
pub mod trials;
pub mod validate;
