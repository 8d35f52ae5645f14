//! Applying Stripe's objects: what an event concerns (`intake`), the objects as fetched
//! (`fetched`) and as stored (`stored`), the rules of who owns what and which data is
//! newer (`lifecycle`), the one transaction that writes them (`apply`), and a customer's
//! backlog settled with one refetch per object (`coalesce`).

pub mod apply;
pub mod coalesce;
pub mod fetched;
pub mod intake;
pub mod lifecycle;
pub mod stored;
