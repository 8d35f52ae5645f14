//! A user's account: the billing API's work (`billing`, `checkout`), request validation
//! (`validate`), the trial rules (`trials`), Checkout Sessions and their reservations
//! (`sessions`), customers and their links to users (`customers`, `links`).

pub mod billing;
pub mod checkout;
pub mod customers;
pub mod links;
pub mod sessions;
pub mod trials;
pub mod validate;
