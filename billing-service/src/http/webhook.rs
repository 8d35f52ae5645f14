//! `POST /stripe/webhook/{uuid}`: verify, store, acknowledge. Nothing is processed in
//! the request; a 200 means the raw event is durably in the inbox.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;

use crate::{
    config::WebhookSettings,
    store::{
        StoreError, endpoints,
        inbox::{self, NewEvent},
    },
    stripe::{
        event::{EventError, StripeEvent},
        signature::{self, SignatureError},
    },
};

/// What the webhook route needs.
#[derive(Clone)]
pub struct WebhookState {
    /// The database.
    pub db: DatabaseConnection,
    /// Tolerance, size limit, default endpoint.
    pub settings: WebhookSettings,
    /// The deployment's mode; events of the other mode are acknowledged and ignored.
    pub live_mode: bool,
    /// `STRIPE_WEBHOOK_SECRET`, served at the default endpoint uuid.
    pub config_secret: Option<SecretString>,
    /// Wakes the inbox worker.
    pub wakeup: Arc<Notify>,
}

/// Where an endpoint's secrets and mode come from.
struct Endpoint {
    id: Option<uuid::Uuid>,
    /// Held as secrets: exposed only to the verifier's call.
    secrets: Vec<SecretString>,
    livemode: bool,
}

/// Handles one delivery.
pub async fn receive(
    State(state): State<WebhookState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let endpoint = match find_endpoint(&state, &id).await {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return (StatusCode::NOT_FOUND, format!("no webhook endpoint {id}")),
        Err(err) => {
            tracing::error!(error = %err, "webhook endpoint lookup failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable; retry".to_owned());
        }
    };
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let secrets: Vec<&str> = endpoint.secrets.iter().map(|s| s.expose_secret()).collect();
    if let Err(err) = signature::verify(
        header,
        &body,
        &secrets,
        Some(state.settings.tolerance_secs),
        Utc::now().timestamp(),
    ) {
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
    let new = NewEvent::from_event(&event, String::from_utf8_lossy(&body).into_owned(), endpoint.id);
    match inbox::insert(&state.db, new).await {
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

fn reject(err: SignatureError) -> (StatusCode, String) {
    metrics::counter!("caixa_webhook_rejected_total", "reason" => err.label()).increment(1);
    tracing::warn!(reason = err.label(), "webhook signature rejected");
    (StatusCode::BAD_REQUEST, format!("signature verification failed: {err}"))
}

async fn find_endpoint(state: &WebhookState, id: &str) -> Result<Option<Endpoint>, StoreError> {
    let Ok(uuid) = uuid::Uuid::parse_str(id) else { return Ok(None) };
    if let Some(row) = endpoints::find(&state.db, uuid).await? {
        if !row.enabled {
            return Ok(None);
        }
        let mut secrets = vec![SecretString::from(row.secret)];
        if let (Some(previous), Some(until)) = (&row.previous_secret, row.previous_secret_expires_at)
            && until > Utc::now()
        {
            secrets.push(SecretString::from(previous.clone()));
        }
        return Ok(Some(Endpoint { id: Some(uuid), secrets, livemode: row.livemode }));
    }
    Ok(match &state.config_secret {
        Some(secret) if uuid == state.settings.default_endpoint_id => {
            Some(Endpoint { id: None, secrets: vec![secret.clone()], livemode: state.live_mode })
        }
        _ => None,
    })
}
