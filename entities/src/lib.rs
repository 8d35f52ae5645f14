//! SeaORM entities for the shared schema. The schema itself is defined by the
//! `caixa-migrations` crate; these types describe it for queries.
//!
//! Every Stripe-derived row carries `livemode`, and `as_of` (the Stripe time of the data
//! it reflects) so an older payload never overwrites newer state.

mod text_enum;

pub mod checkout_sessions;
pub mod customers;
pub mod entitlement_changes;
pub mod entitlements;
pub mod prices;
pub mod products;
pub mod reconcile_state;
pub mod revision_counter;
pub mod state;
pub mod stripe_events;
pub mod subscriptions;
pub mod sync_checkpoints;
pub mod trial_usage;
pub mod webhook_endpoints;
