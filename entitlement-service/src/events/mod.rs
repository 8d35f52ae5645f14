//! Following billing's revision log.

pub mod follower;
