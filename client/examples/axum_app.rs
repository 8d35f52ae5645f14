//! An axum app whose `/reports` route needs the "reports" feature, guarded in one line.
//! Run `cargo stack` in another terminal, then:
//!
//! ```sh
//! cargo run -p caixa-client --example axum_app
//! curl -i -H 'x-user: user-1' http://127.0.0.1:3001/reports
//! ```
//!
//! `ENTITLEMENT_URL` (default `http://127.0.0.1:50052`) and `APP_ADDR` (default
//! `127.0.0.1:3001`) move it; `ENTITLEMENT_TOKEN` is its caller token, where the
//! services authenticate callers.

use axum::{Extension, Router, routing::get};
use caixa_client::{Access, ClientConfig, EntitlementClient, FailMode, RequireFeature};

/// The app's own authentication would set this; the example trusts a header.
fn user(parts: &http::request::Parts) -> Option<String> {
    parts.headers.get("x-user")?.to_str().ok().map(str::to_owned)
}

async fn reports(Extension(access): Extension<Access>) -> String {
    format!("reports for a {:?} user, access until {:?}\n", access.reason, access.access_until)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("ENTITLEMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:50052".to_owned());
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let config = match std::env::var("ENTITLEMENT_TOKEN") {
        Ok(token) => ClientConfig::default().with_token(token),
        Err(_) => ClientConfig::default(),
    };
    let client = EntitlementClient::new(&[url.as_str()], config)?;
    let app = Router::new()
        .route("/reports", get(reports))
        // `route_layer`: unknown paths still answer 404 and wrong methods 405.
        .route_layer(RequireFeature::new(client, "reports").user_from(user).fail(FailMode::Closed))
        .route("/", get(|| async { "open to everyone\n" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}; try: curl -i -H 'x-user: user-1' http://{addr}/reports");
    axum::serve(listener, app).await?;
    Ok(())
}
