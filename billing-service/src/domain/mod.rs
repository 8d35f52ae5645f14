//! What billing decides: how Stripe's objects change stored state (one apply path), the
//! trial rules, customers, and the billing API's work. Reads and writes go through
//! `store/`, calls to Stripe through `stripe/`.

pub mod apply;
pub mod billing;
pub mod checkout;
pub mod compare;
pub mod customers;
pub mod fetched;
pub mod intake;
pub mod lifecycle;
pub mod links;
pub mod reconcile;
pub mod sessions;
pub mod stored;
pub mod sync;
pub mod trials;
pub mod validate;
