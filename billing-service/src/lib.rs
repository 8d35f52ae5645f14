//! The billing service: owns Stripe (checkout, portal, status, config, signed webhooks,
//! sync and repair) and publishes every access-relevant change as a revision log.
#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
pub mod grpc;
pub mod http;
pub mod startup;
