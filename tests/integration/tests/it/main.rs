//! Integration tests: the real services on real sockets, on PostgreSQL and SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api;
mod auth;
mod billing_api;
mod bridge_limits;
mod commands;
mod convergence;
mod customers;
mod deploy;
mod deploy_rules;
mod docs;
mod early;
mod entitlement;
mod entitlement_limits;
mod flow;
mod guard;
mod health;
mod imports;
mod inbox;
mod leaks;
mod lifecycle;
mod links;
mod migrate_cli;
mod migrations;
mod reconcile;
mod reflection;
mod reliability;
mod replica;
mod replica_checkout;
mod replica_random;
mod revisions;
mod settings;
mod sync;
mod takeover;
mod traces;
mod webhooks;
