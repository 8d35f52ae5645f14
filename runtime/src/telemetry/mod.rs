//! Logging through `tracing`, as human-readable lines or JSON lines, and OpenTelemetry
//! traces when configured ([`trace`]).

pub mod trace;

use std::str::FromStr;

use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{LevelFilter, Targets},
    fmt,
    prelude::*,
};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Coloured single lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "human" | "pretty" | "text" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err("expected human or json".to_owned()),
        }
    }
}

/// Default filter: our own logs at info, the database drivers' per-statement logs off.
const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Installs the global subscriber for logs only, filtered by `RUST_LOG` (default
/// [`DEFAULT_FILTER`]). Does nothing if one is installed already, so tests and the local
/// stack may call it repeatedly.
pub fn init(format: LogFormat) {
    install(format, None);
}

/// As [`init`], and exports traces as `service` when `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// set. Call inside the Tokio runtime; call [`trace::shutdown`] before exiting.
pub fn init_service(format: LogFormat, service: &str) {
    install(format, Some(service));
}

fn install(format: LogFormat, service: Option<&str>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Human => fmt::layer().with_target(false).with_filter(filter).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    };
    // Spans go to the exporter whatever RUST_LOG says about log lines: info everywhere,
    // and our own debug-level spans (the domain steps that cost time, which stay out of
    // the logs and cost nothing while traces are off).
    let ours = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("billing_service", LevelFilter::DEBUG)
        .with_target("entitlement_service", LevelFilter::DEBUG)
        .with_target("caixa_runtime", LevelFilter::DEBUG);
    let traces = service.and_then(trace::layer).map(|layer| layer.with_filter(ours));
    // An existing subscriber is fine: the first one wins.
    drop(tracing_subscriber::registry().with(logs).with(traces).try_init());
}
