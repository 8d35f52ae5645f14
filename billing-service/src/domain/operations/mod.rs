//! Work over a whole account: copying it from Stripe (`sync`), finding and healing what
//! webhooks missed (`reconcile`), and comparing access with the old application
//! (`compare`).

pub mod compare;
pub mod reconcile;
pub mod sync;
