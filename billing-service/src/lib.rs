//! The billing service: owns Stripe (checkout, portal, status, config, signed webhooks,
//! sync and repair) and publishes every access-relevant change as a revision log.
#![doc = include_str!("../README.md")]

pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod http;
pub mod revisions;
pub mod startup;
pub mod store;
pub mod stripe;
