//! Following billing's revision log, and keeping the local snapshot of where it got to.

pub mod follower;
pub mod keeper;
