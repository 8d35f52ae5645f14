//! The emulator over real HTTP: shapes async-stripe accepts, Stripe's errors and
//! pagination, and webhooks signed and retried as Stripe does.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod checkout;
mod client;
mod errors;
mod fidelity;
mod lifecycle;
mod pagination;
mod shapes;
mod signatures;
