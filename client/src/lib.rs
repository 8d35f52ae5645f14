//! The caller's side of caixa.
//!
//! - [`EntitlementClient`] and [`BillingClient`]: typed answers (the proto's reason and
//!   `access_until`, never raw statuses), a small pool of HTTP/2 channels balanced per
//!   call, a deadline on every call, UNAVAILABLE retried within a budget of about 10 %
//!   extra load, caller credentials configured once ([`ClientConfig`]).
//! - [`RequireFeature`]: a `tower` layer for axum routes and tonic services that lets a
//!   request through only when its user may use a feature, with a per-feature fail mode
//!   for when the entitlement service cannot be reached.
//! - [`LocalReplica`]: every user's entitlements in memory, followed from the service,
//!   decided with the shared policy at call time; the guard uses it with one option.
//!
//! No storage or Stripe crate is a dependency: only the contracts (`caixa-proto`) and the
//! access policy (`caixa-policy`).
#![forbid(unsafe_code)]

mod billing;
mod config;
mod entitlement;
mod error;
mod guard;
mod replica;
mod transport;

pub use billing::BillingClient;
pub use caixa_types::{Limit, Revision, StripeId};
pub use config::ClientConfig;
pub use entitlement::{Access, EntitlementClient, Entitlements};
pub use error::ClientError;
pub use guard::{FailMode, GuardBody, RequireFeature, RequireFeatureService};
pub use replica::{LocalReplica, ReplicaConfig};

/// The proto types callers meet in answers.
pub mod proto {
    pub use caixa_proto::billing::v1::{AccessReason, SubscriptionSnapshot, SubscriptionStatus};
}
