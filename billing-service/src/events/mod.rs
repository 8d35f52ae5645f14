//! Stripe's events, once stored in the inbox: the worker that claims them in order per
//! customer and settles each through the one apply path, and the reconciliation loop
//! that stores the ones webhooks never delivered. (The revision log is `revisions`; the
//! stream that serves it is `grpc::watch`.)

pub mod reconcile;
pub mod worker;
