//! The gRPC API: `EntitlementService`.

mod answers;
mod entitlement;

pub use entitlement::EntitlementApi;
