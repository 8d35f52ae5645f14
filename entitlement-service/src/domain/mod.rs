//! The in-memory entitlement state the hot path reads.

pub mod cache;
pub mod entry;
pub mod source;
pub mod users;
