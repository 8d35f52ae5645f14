//! Webhook endpoints: registering billing's bridge with Stripe (the seed's
//! `register_stripe_webhook`), listing and disabling them.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use url::Url;

use super::{CommandError, Output};
use crate::{
    store::endpoints::{self, NewEndpoint},
    stripe::{StripeApi, event::EventKind},
};

/// The API version a registered endpoint's events are rendered in.
const WEBHOOK_API_VERSION: &str = "2026-09-30.endive";

/// Creates a Stripe webhook endpoint at `{public_base}/stripe/webhook/{uuid}` for every
/// event kind billing acts on ([`EventKind::ALL`]) and stores it with its signing secret.
/// Returns the endpoint's URL.
pub async fn register_webhook(
    db: &impl ConnectionTrait,
    stripe: &StripeApi,
    public_base: &Url,
    livemode: bool,
) -> Result<String, CommandError> {
    let id = uuid::Uuid::new_v4();
    let url = public_base
        .join(&format!("stripe/webhook/{id}"))
        .map_err(|e| CommandError::Usage(e.to_string()))?
        .to_string();
    let events: Vec<&'static str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
    let mut form =
        vec![("url".to_owned(), url.clone()), ("api_version".to_owned(), WEBHOOK_API_VERSION.to_owned())];
    form.extend(events.iter().map(|e| ("enabled_events[]".to_owned(), (*e).to_owned())));
    let endpoint = stripe.create_webhook_endpoint(&form, &format!("register-webhook-{id}")).await?;
    let new = NewEndpoint {
        id,
        stripe_id: endpoint.id,
        livemode,
        url: url.clone(),
        api_version: endpoint.api_version,
        secret: &endpoint.secret,
        enabled_events: events,
    };
    endpoints::insert(db, new).await?;
    Ok(url)
}

/// `register-stripe-webhook`: registers unless an enabled endpoint already serves
/// `public_base` (then says so), or `force` is set.
pub async fn register(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    public_base: &Url,
    livemode: bool,
    (dry_run, force): (bool, bool),
) -> Result<(), CommandError> {
    let prefix = public_base.join("stripe/webhook/").map_err(|e| CommandError::Usage(e.to_string()))?;
    if !force && let Some(existing) = endpoints::enabled_at(db, prefix.as_str()).await? {
        println!(
            "an enabled endpoint already serves {public_base}: {} ({}); --force adds another",
            existing.url, existing.id
        );
        return Ok(());
    }
    if dry_run {
        println!(
            "would register {prefix}<uuid> for {} event types (dry run; nothing changed)",
            EventKind::ALL.len()
        );
        return Ok(());
    }
    let url = register_webhook(db, stripe, public_base, livemode).await?;
    println!("registered {url}");
    Ok(())
}

/// `webhooks list`.
pub async fn list(db: &DatabaseConnection, output: Output) -> Result<(), CommandError> {
    let rows = endpoints::list(db).await?;
    let last = endpoints::last_deliveries(db).await?;
    let delivered = |id: &uuid::Uuid| last.get(id).map_or("never".to_owned(), ToString::to_string);
    let now = chrono::Utc::now();
    let rotation = |row: &caixa_entities::webhook_endpoints::Model| match row.previous_secret_expires_at {
        Some(until) if row.previous_secret.is_some() && until > now => {
            format!("previous secret accepted until {until}")
        }
        _ => "none".to_owned(),
    };
    if output.json {
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({ "id": r.id, "stripe_id": r.stripe_id, "livemode": r.livemode, "url": r.url,
                             "enabled": r.enabled, "api_version": r.api_version, "rotation": rotation(r),
                             "last_delivery": last.get(&r.id),
                             "created_at": r.created_at })
            })
            .collect();
        println!("{}", json!({ "endpoints": items }));
        return Ok(());
    }
    println!(
        "{:<36}  {:<4}  {:<7}  {:<31}  {:<40}  rotation",
        "id", "mode", "enabled", "last delivery", "url"
    );
    for row in &rows {
        let mode = if row.livemode { "live" } else { "test" };
        let (id, enabled) = (row.id, row.enabled);
        println!(
            "{id:<36}  {mode:<4}  {enabled:<7}  {:<31}  {:<40}  {}",
            delivered(&row.id),
            row.url,
            rotation(row)
        );
    }
    println!("{} endpoint(s)", rows.len());
    Ok(())
}

/// `webhooks disable ID`.
pub async fn disable(db: &DatabaseConnection, id: uuid::Uuid, dry_run: bool) -> Result<(), CommandError> {
    let Some(endpoint) = endpoints::find(db, id).await? else {
        return Err(CommandError::Usage(format!("no webhook endpoint {id}")));
    };
    if dry_run {
        println!("would disable {id} ({}); dry run, nothing changed", endpoint.url);
    } else {
        endpoints::disable(db, id).await?;
        println!("disabled {id} ({}): deliveries to it now get 404", endpoint.url);
    }
    Ok(())
}
