//! Applying Stripe's objects: what an event concerns (`intake`), the objects as fetched
//! (`fetched`) and as stored (`stored`), the rules of who owns what and which data is
//! newer (`lifecycle`), and the one transaction that writes them (`apply`).

pub mod apply;
pub mod fetched;
pub mod intake;
pub mod lifecycle;
pub mod stored;
