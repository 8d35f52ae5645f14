//! OpenTelemetry: one checkout → webhook → access flow, across both services run as
//! processes exporting to an in-process OTLP receiver, is one linked trace: the caller's
//! checkout call, the webhook deliveries Stripe sends for it (through the session's
//! metadata), the worker's applies (through the inbox rows), and the caller's access
//! checks; the entitlement service's apply of the revision that granted access is below
//! the billing apply that wrote it (through the revision log and Watch).
//! Both services' `/metrics` count the flow.

use std::time::Duration;

use caixa_integration_tests::{
    http_get,
    metrics::Metrics,
    otlp::{OtlpReceiver, ReceivedSpan},
    stripe::StripeEmulator,
    wait_until,
};
use caixa_proto::{
    billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{CheckAccessRequest, entitlement_service_client::EntitlementServiceClient},
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    process::ServiceProcess,
};

const BILLING: &str = env!("CARGO_BIN_EXE_billing-process");
const ENTITLEMENT: &str = env!("CARGO_BIN_EXE_entitlement-process");

/// A request carrying `traceparent` for `trace_id`, as a caller's tracer would send it.
fn traced<T>(message: T, trace_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let span_id = format!("{:016x}", fastrand::u64(1..));
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{span_id}-01").parse().unwrap());
    request
}

/// Whether `span` is `ancestor` or below it, following parents among `spans`.
fn descends(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let mut current = span.clone();
    for _ in 0..64 {
        if current.span_id == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == current.parent_span_id && s.trace_id == current.trace_id) {
            Some(parent) => current = parent.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn a_checkout_its_webhooks_and_their_applies_are_one_trace_down_to_the_follower() {
    // Arrange: both services exporting to the receiver, every span sampled.
    let (receiver, otlp) = OtlpReceiver::start().await;
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let otel = |env: &mut Vec<(&str, String)>| {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}")));
        env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()));
        // Under the whole suite's load an export may be slow: no span may be dropped for a
        // full queue or a timed-out export, or the trace looks broken when it is not.
        env.push(("OTEL_BSP_MAX_QUEUE_SIZE", "65536".to_owned()));
        env.push(("OTEL_BSP_EXPORT_TIMEOUT", "30000".to_owned()));
        env.push(("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".to_owned()));
    };
    let mut env = stripe.billing_env();
    env.extend([
        ("DATABASE_URL", db.url.clone()),
        ("BILLING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("BILLING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
    ]);
    otel(&mut env);
    let billing = ServiceProcess::spawn(BILLING, &env);
    let billing_grpc = billing.address("billing service listening", "grpc_addr").await;
    let billing_http = billing.address("billing service listening", "http_addr").await;
    stripe.register_billing(&db, billing_http).await;
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("BILLING_URL", format!("http://{billing_grpc}")),
        ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("ENTITLEMENT_HTTP_ADDR", "127.0.0.1:0".to_owned()),
    ];
    otel(&mut env);
    let entitlement = ServiceProcess::spawn(ENTITLEMENT, &env);
    let entitlement_grpc = entitlement.address("entitlement service listening", "grpc_addr").await;
    let entitlement_http = entitlement.address("entitlement service listening", "http_addr").await;
    let trace_id = format!("{:016x}{:016x}", fastrand::u64(1..), fastrand::u64(..));

    // Act: the caller's trace creates the checkout; Stripe completes it; the caller asks.
    let session = BillingServiceClient::new(channel(billing_grpc).await)
        .create_checkout_session(traced(
            CreateCheckoutSessionRequest {
                user_id: "user-traced".into(),
                email: "traced@example.com".into(),
                price_id: Some(price),
                ..Default::default()
            },
            &trace_id,
        ))
        .await
        .unwrap()
        .into_inner();
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", session.session_id), &[]).await;
    let access = EntitlementServiceClient::new(channel(entitlement_grpc).await);
    wait_until("access granted", Duration::from_secs(15), || {
        let (mut access, trace_id) = (access.clone(), trace_id.clone());
        async move {
            let check = CheckAccessRequest { user_id: "user-traced".into(), ..Default::default() };
            access.check_access(traced(check, &trace_id)).await.unwrap().into_inner().allowed
        }
    })
    .await;

    // Assert: the caller's trace holds every step, each below the one that caused it.
    let in_trace = |name: &str, service: &str| {
        receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id && s.name == name && s.service == service)
            .collect::<Vec<_>>()
    };
    let expected = [
        ("caixa.billing.v1.BillingService/CreateCheckoutSession", "billing-service"),
        ("webhook delivery", "billing-service"),
        ("apply event", "billing-service"),
        ("settle events", "billing-service"),
        ("caixa.entitlement.v1.EntitlementService/CheckAccess", "entitlement-service"),
    ];
    let missing =
        || expected.iter().filter(|(name, service)| in_trace(name, service).is_empty()).collect::<Vec<_>>();
    // The revision that granted access was written by whichever of the user's events
    // billing applied first (the checkout's, or an invoice's with its own trace): its
    // apply in the entitlement service is in that event's trace, below its apply.
    let revision_applies = |spans: &[ReceivedSpan]| {
        spans
            .iter()
            .filter(|s| s.name == "apply revision" && s.attribute("user_id") == Some("user-traced"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let followed_billing = |spans: &[ReceivedSpan]| {
        let applies: Vec<_> = spans.iter().filter(|s| s.name == "apply event").collect();
        let followed = revision_applies(spans);
        !followed.is_empty() && followed.iter().all(|f| applies.iter().any(|a| descends(spans, f, a)))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !missing().is_empty() || !followed_billing(&receiver.spans()) {
        let spans = receiver.spans();
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flow's spans never all arrived: missing {:?}; revision applies {:?}",
            missing(),
            revision_applies(&spans)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let checkout = in_trace("caixa.billing.v1.BillingService/CreateCheckoutSession", "billing-service");
    assert_eq!(checkout.len(), 1, "the checkout call's span: {:#?}", receiver.spans());
    assert_eq!(checkout[0].attribute("user_id"), Some("user-traced"));
    assert_eq!(checkout[0].attribute("rpc.grpc.status_code"), Some("0"));
    let spans = receiver.spans();
    let deliveries = in_trace("webhook delivery", "billing-service");
    assert!(!deliveries.is_empty(), "a delivery joined the checkout's trace");
    assert!(
        deliveries.iter().all(|d| descends(&spans, d, &checkout[0])),
        "deliveries descend from the checkout"
    );
    let applies = in_trace("apply event", "billing-service");
    assert!(
        applies.iter().any(|a| deliveries.iter().any(|d| descends(&spans, a, d))),
        "the worker's apply descends from a delivery (through the inbox row)"
    );
    let checks = in_trace("caixa.entitlement.v1.EntitlementService/CheckAccess", "entitlement-service");
    assert_eq!(checks.last().and_then(|c| c.attribute("user_id")), Some("user-traced"));
    // Both services' metrics, parsed as Prometheus text, count the same flow.
    let billing_metrics = Metrics::parse(&http_get(billing_http, "/metrics").await.1);
    let method = [("method", "caixa.billing.v1.BillingService/CreateCheckoutSession"), ("code", "OK")];
    assert_eq!(billing_metrics.value("caixa_grpc_requests_total", &method), Some(1.0));
    assert!(billing_metrics.value("caixa_webhook_received_total", &[("result", "stored")]) >= Some(2.0));
    assert!(billing_metrics.value("caixa_inbox_events_total", &[("outcome", "processed")]) >= Some(1.0));
    assert!(billing_metrics.value("caixa_stripe_requests_total", &[("outcome", "ok")]) >= Some(1.0));
    assert!(billing_metrics.has("caixa_stripe_request_duration_seconds"));
    let access_metrics = Metrics::parse(&http_get(entitlement_http, "/metrics").await.1);
    let allowed = access_metrics
        .value("caixa_check_answers_total", &[("reason", "ACCESS_REASON_TRIALING")])
        .or_else(|| access_metrics.value("caixa_check_answers_total", &[("reason", "ACCESS_REASON_ACTIVE")]));
    assert!(allowed >= Some(1.0), "the granted answer is counted by reason");
    assert!(access_metrics.value("caixa_entitlement_users", &[]) >= Some(1.0));
    assert!(access_metrics.has("caixa_follower_lag_seconds"));
    let everything = format!("{:?}", receiver.spans());
    assert!(!everything.contains("traced@example.com"), "no email in any span");
    assert!(!everything.contains("sk_test"), "no secret in any span");
    drop((billing, entitlement));
}
