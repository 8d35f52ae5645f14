//! The entitlement service: answers `CheckAccess` from memory, in well under a
//! millisecond, by following the billing service's revision log.

pub mod config;
pub mod error;
pub mod grpc;
pub mod startup;
