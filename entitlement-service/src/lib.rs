//! The entitlement service: answers `CheckAccess` from memory, in well under a
//! millisecond, by following the billing service's revision log.

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod startup;
pub mod store;
