//! `POST /stripe/webhook/{uuid}`: verify, store, acknowledge. Nothing is processed in
//! the request; a 200 means the raw event is durably in the inbox.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;

use super::{
    commit::Committer,
    endpoints::{Endpoint, EndpointCache},
};
use crate::{
    config::WebhookSettings,
    store::{StoreError, inbox::NewEvent},
    stripe::{
        event::{EventError, EventKind, StripeEvent},
        signature::{self, SignatureError},
    },
};

/// What the webhook route needs.
#[derive(Clone)]
pub struct WebhookState {
    /// Stores deliveries, in groups.
    pub committer: Committer,
    /// Tolerance, size limit, default endpoint.
    pub settings: WebhookSettings,
    /// The deployment's mode; events of the other mode are acknowledged and ignored.
    pub live_mode: bool,
    /// `STRIPE_WEBHOOK_SECRET`, served at the default endpoint uuid.
    pub config_secret: Option<SecretString>,
    /// The registered endpoints, in memory.
    pub endpoints: Arc<EndpointCache>,
    /// Wakes the inbox worker.
    pub wakeup: Arc<Notify>,
    /// Deliveries being stored at once (`WEBHOOK_MAX_CONCURRENT`): taken once the body is
    /// read and its signature verified, so only Stripe's deliveries can hold one.
    pub slots: Arc<Semaphore>,
}

/// Handles one delivery.
pub async fn receive(
    State(state): State<WebhookState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let verify = |endpoint: &Endpoint| {
        let now = Utc::now();
        let secrets: Vec<&str> = endpoint.secrets_at(now).map(|s| s.expose_secret()).collect();
        signature::verify(header, &body, &secrets, Some(state.settings.tolerance_secs), now.timestamp())
    };
    let mut endpoint = match find_endpoint(&state, &id, false).await {
        Ok(endpoint) => endpoint,
        Err(err) => return unavailable(&err),
    };
    if endpoint.as_ref().is_none_or(|e| matches!(verify(e), Err(SignatureError::Mismatch))) {
        // Unknown, or no secret matched: a new endpoint or a rotated secret may be
        // newer than the copy in memory.
        endpoint = match find_endpoint(&state, &id, true).await {
            Ok(endpoint) => endpoint,
            Err(err) => return unavailable(&err),
        };
    }
    let Some(endpoint) = endpoint else {
        return (StatusCode::NOT_FOUND, "no such webhook endpoint".to_owned());
    };
    if let Err(err) = verify(&endpoint) {
        return reject(err);
    }
    let event = match StripeEvent::parse(&body) {
        Ok(event) => event,
        Err(err @ EventError::NotJson(_)) => {
            metrics::counter!("caixa_webhook_rejected_total", "reason" => "invalid_json").increment(1);
            tracing::warn!(error = %err, "webhook body is not JSON");
            return (StatusCode::BAD_REQUEST, "body is not a JSON Stripe event".to_owned());
        }
        Err(EventError::Missing(_)) => {
            return (StatusCode::BAD_REQUEST, "event has no id or type".to_owned());
        }
    };
    let (event_id, kind) = (event.id.as_str(), event.type_name.as_str());
    if event.livemode != endpoint.livemode {
        metrics::counter!("caixa_webhook_received_total", "result" => "other_mode").increment(1);
        tracing::info!(event = event_id, livemode = event.livemode, "event of the other mode ignored");
        return (StatusCode::OK, "ignored: event of the other mode".to_owned());
    }
    let span = delivery_span(&headers, &event);
    // Made inside the span, so that the stored row keeps the delivery's trace context.
    let new = span
        .in_scope(|| NewEvent::from_event(&event, String::from_utf8_lossy(&body).into_owned(), endpoint.id));
    store(&state, new, event_id, kind).instrument(span).await
}

/// Stores a verified event in the inbox; its row keeps the delivery's trace context.
async fn store(state: &WebhookState, new: NewEvent, event_id: &str, kind: &str) -> (StatusCode, String) {
    let Ok(_slot) = state.slots.try_acquire() else {
        metrics::counter!("caixa_webhook_rejected_total", "reason" => "overloaded").increment(1);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many deliveries in progress; retry".to_owned());
    };
    match state.committer.store(new).await {
        Ok(fresh) => {
            let result = if fresh { "stored" } else { "duplicate" };
            metrics::counter!("caixa_webhook_received_total", "result" => result).increment(1);
            tracing::info!(event = event_id, kind, result, "webhook received");
            state.wakeup.notify_one();
            (StatusCode::OK, result.to_owned())
        }
        Err(err) => {
            metrics::counter!("caixa_webhook_received_total", "result" => "store_failed").increment(1);
            tracing::error!(event = event_id, error = %err, "cannot store webhook; Stripe will retry");
            (StatusCode::SERVICE_UNAVAILABLE, "cannot store the event now; retry".to_owned())
        }
    }
}

/// The span of one verified delivery: a child of the sender's `traceparent` when there
/// is one, else, for a completed checkout or the subscription it created, of the trace
/// of the call that created the session (kept in their metadata), so the checkout, its
/// webhooks and the access they grant are one trace. Later events of the subscription
/// start traces of their own.
fn delivery_span(headers: &HeaderMap, event: &StripeEvent) -> tracing::Span {
    use caixa_runtime::telemetry::trace;
    if !trace::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "webhook delivery",
        otel.kind = "server",
        event_id = %event.id,
        event_type = %event.type_name,
    );
    if headers.contains_key("traceparent") {
        trace::continue_from_headers(&span, headers);
    } else if matches!(
        EventKind::parse(&event.type_name),
        Some(EventKind::CheckoutSessionCompleted | EventKind::SubscriptionCreated)
    ) {
        trace::continue_from(&span, event.object["metadata"][trace::METADATA_KEY].as_str());
    }
    span
}

fn reject(err: SignatureError) -> (StatusCode, String) {
    metrics::counter!("caixa_webhook_rejected_total", "reason" => err.label()).increment(1);
    tracing::warn!(reason = err.label(), "webhook signature rejected");
    (StatusCode::BAD_REQUEST, format!("signature verification failed: {err}"))
}

fn unavailable(err: &StoreError) -> (StatusCode, String) {
    tracing::error!(error = %err, "webhook endpoint lookup failed");
    (StatusCode::SERVICE_UNAVAILABLE, "database unavailable; retry".to_owned())
}

async fn find_endpoint(
    state: &WebhookState,
    id: &str,
    recheck: bool,
) -> Result<Option<Arc<Endpoint>>, StoreError> {
    let Ok(uuid) = uuid::Uuid::parse_str(id) else { return Ok(None) };
    if let Some(endpoint) = state.endpoints.get(uuid, recheck).await? {
        return Ok(Some(endpoint));
    }
    Ok(match &state.config_secret {
        Some(secret) if uuid == state.settings.default_endpoint_id => Some(Arc::new(Endpoint {
            id: None,
            secrets: vec![(secret.clone(), None)],
            livemode: state.live_mode,
        })),
        _ => None,
    })
}
