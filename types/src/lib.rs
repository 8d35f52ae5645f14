//! The small values every copy of caixa's state shares, on both services and in a
//! caller's replica: a [`Revision`] of the change log, Stripe's subscription statuses by
//! name, and the compact forms the in-memory tables hold (inline Stripe ids, times in
//! four bytes) with the helpers their hot paths use.
#![forbid(unsafe_code)]

pub mod compact;
mod revision;
mod status;

pub use compact::{Stamp, StripeId, prefetch, same};
pub use revision::{Revision, RevisionError};
pub use status::{status_from_stripe, stripe_name};
