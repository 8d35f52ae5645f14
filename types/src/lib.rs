//! The small values every copy of caixa's state shares, on both services and in a
//! caller's replica: a [`Revision`] of the change log, the identifiers callers send
//! ([`UserId`], Stripe's ids) checked by one set of rules, Stripe's subscription statuses
//! by name, and the compact forms the in-memory tables hold (inline Stripe ids, times in
//! four bytes) with the helpers their hot paths use.
#![forbid(unsafe_code)]

pub mod compact;
mod ids;
pub mod input;
mod limit;
mod revision;
mod status;

pub use compact::{Stamp, StripeId, prefetch, same};
pub use ids::{MAX_STRIPE_ID_BYTES, PriceId, SessionId, UserId};
pub use limit::{Limit, LimitError, UNLIMITED};
pub use revision::{Revision, RevisionError};
pub use status::{status_from_stripe, stripe_name};
