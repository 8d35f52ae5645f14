//! A tonic server whose every service needs the "reports" feature (here the gRPC health
//! service stands in for your own), guarded in one line. Run `cargo stack`, then:
//!
//! ```sh
//! cargo run -p caixa-client --example tonic_service
//! grpcurl -plaintext -H 'x-user: user-1' 127.0.0.1:50070 grpc.health.v1.Health/Check
//! ```

use caixa_client::{ClientConfig, EntitlementClient, RequireFeature};

fn user(parts: &http::request::Parts) -> Option<String> {
    parts.headers.get("x-user")?.to_str().ok().map(str::to_owned)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("ENTITLEMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:50052".to_owned());
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:50070".to_owned());
    let client = EntitlementClient::new(&[url.as_str()], ClientConfig::default())?;
    let (_, health) = tonic_health::server::health_reporter();
    println!("listening on {addr}");
    tonic::transport::Server::builder()
        .layer(RequireFeature::new(client, "reports").user_from(user))
        .add_service(health)
        .serve(addr.parse()?)
        .await?;
    Ok(())
}
