//! Everything that speaks Stripe: the API client and the calls billing makes, Stripe's
//! objects and events parsed into types, and webhook signature verification.

pub mod catalogue;
pub mod checkout;
pub mod client;
pub mod event;
pub mod keys;
pub mod limiter;
pub mod lists;
pub mod objects;
pub mod resources;
pub mod signature;
pub mod transport;

pub use client::{StripeApi, StripeCallError};
