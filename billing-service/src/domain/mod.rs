//! What billing decides, by what it is about: how Stripe's objects change stored state
//! (`objects`: the one apply path), the plans on sale (`catalogue`), a user's account (`accounts`: checkout, trials,
//! sessions, customers and their links, the billing API's work), and the operator's
//! whole-account work (`operations`: sync, reconciliation, comparison with the old
//! application). Reads and writes go through `store/`, calls to Stripe through `stripe/`.

pub mod accounts;
pub mod catalogue;
pub mod objects;
pub mod operations;
