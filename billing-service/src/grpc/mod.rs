//! The gRPC API: `BillingService`, and `SubscriptionEvents.Watch` (the revision log as a
//! stream, in `watch`).

mod billing;
mod status;
mod watch;

pub use billing::BillingApi;
pub use watch::WatchApi;
