//! What both services share about being a service: typed settings read from the
//! environment, telemetry, the database pool and its readiness, and a gRPC server with
//! health, reflection and a graceful drain. Service logic lives in the services.

pub mod auth;
pub mod call_metrics;
pub mod config;
pub mod database;
pub mod deadline;
pub mod grpc;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod service;
pub mod shutdown;
pub mod telemetry;
