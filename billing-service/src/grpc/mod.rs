//! The gRPC API: `BillingService` and `SubscriptionEvents`.

mod billing;
mod events;

pub use billing::BillingApi;
pub use events::SubscriptionEventsApi;
