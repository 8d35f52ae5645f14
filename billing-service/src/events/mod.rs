//! Publishing changes: the inbox worker that applies stored events, and the feed that
//! wakes Watch streams when a revision commits.

pub mod feed;
pub mod retention;
pub mod worker;

pub use feed::RevisionFeed;
