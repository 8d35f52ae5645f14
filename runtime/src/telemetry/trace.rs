//! OpenTelemetry traces, exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, with the SDK's standard variables (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`). Unset, no span
//! is made for a call and nothing is exported: the cost is one relaxed atomic load.
//!
//! W3C trace context (`traceparent`) travels in gRPC metadata and HTTP headers, and is
//! stored beside what is handed on asynchronously (an inbox row, a revision), so that the
//! work it causes later, in another task or process, joins the same trace.

use std::{
    collections::HashMap,
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    Context,
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource, propagation::TraceContextPropagator, runtime::Tokio, trace::SdkTracerProvider,
    trace::span_processor_with_async_runtime::BatchSpanProcessor,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

/// The Stripe metadata key under which a Checkout Session keeps the `traceparent` of the
/// call that created it.
pub const METADATA_KEY: &str = "traceparent";

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are being exported.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The layer exporting spans, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Must be called
/// inside a Tokio runtime (the exporter and its batch task run on it).
pub(super) fn layer<S>(
    service: &str,
) -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty())?;
    tokio::runtime::Handle::try_current().ok()?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder().with_tonic().build() {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("OpenTelemetry: cannot build the OTLP exporter ({err}); traces are off");
            return None;
        }
    };
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("caixa");
    PROVIDER.set(provider).ok()?;
    ON.store(true, Ordering::Relaxed);
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Exports what is left and stops the exporter (at exit).
pub async fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let provider = provider.clone();
        // Shutting down blocks until the batch task on the runtime has flushed.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown());
        drop(tokio::time::timeout(Duration::from_secs(5), flushed).await);
    }
}

/// Reads `traceparent` (and `tracestate`) from HTTP headers or gRPC metadata.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes `span` a child of the trace named in `headers`, if any.
pub fn continue_from_headers(span: &Span, headers: &http::HeaderMap) {
    if enabled() && headers.contains_key("traceparent") {
        let context = TraceContextPropagator::new().extract(&Headers(headers));
        drop(span.set_parent(context));
    }
}

/// Makes `span` a child of the stored `traceparent`, if any.
pub fn continue_from(span: &Span, traceparent: Option<&str>) {
    if let (true, Some(traceparent)) = (enabled(), traceparent) {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        drop(span.set_parent(TraceContextPropagator::new().extract(&carrier)));
    }
}

/// The current span's `traceparent`, to store or send on; `None` when traces are off.
pub fn traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context: Context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Adds the current span's `traceparent` to outgoing gRPC metadata.
pub fn inject(metadata: &mut tonic::metadata::MetadataMap) {
    if let Some(value) = traceparent().and_then(|t| t.parse().ok()) {
        metadata.insert("traceparent", value);
    }
}

/// The span of one gRPC call: method, status code and user, child of the caller's trace.
/// A disabled span when traces are off.
pub fn rpc_span(path: &str, headers: &http::HeaderMap) -> Span {
    if !enabled() {
        return Span::none();
    }
    let method = path.trim_start_matches('/');
    let span = tracing::info_span!(
        "grpc",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        caller = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    continue_from_headers(&span, headers);
    span
}

/// Names the user the current call is about on its span (never an email or a secret).
pub fn record_user(user_id: &str) {
    if enabled() {
        Span::current().record("user_id", user_id);
    }
}
