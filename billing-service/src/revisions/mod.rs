//! The revision log's moving parts: the feed that wakes Watch streams when a revision
//! commits, and the retention task that prunes old entries. The log itself is stored by
//! `store::revisions`.

pub mod feed;
pub mod retention;

pub use feed::RevisionFeed;
