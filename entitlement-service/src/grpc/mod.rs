//! The gRPC API: `EntitlementService`.

mod answers;
mod entitlement;
mod watch;

pub use entitlement::EntitlementApi;

#[cfg(test)]
mod poisoned;
