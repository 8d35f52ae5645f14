//! Everything that speaks Stripe: the API client and webhook signature verification.

pub mod client;
pub mod signature;

pub use client::{StripeApi, StripeCallError};
