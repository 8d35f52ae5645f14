//! The gRPC API: `EntitlementService`.

mod entitlement;

pub use entitlement::EntitlementApi;
