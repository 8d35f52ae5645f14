//! A tonic server whose `Check` method needs the "reports" feature (the gRPC health
//! service stands in for your own), guarded in one line. Health and reflection are open
//! by default (probes and tools carry no user); naming a method guards it. Run
//! `cargo stack`, then:
//!
//! ```sh
//! cargo run -p caixa-client --example tonic_service
//! grpcurl -plaintext 127.0.0.1:50070 list                    # reflection: open
//! grpcurl -plaintext -H 'x-user: user-1' 127.0.0.1:50070 grpc.health.v1.Health/Check
//! ```
//!
//! `ENTITLEMENT_URL`, `APP_ADDR` and `ENTITLEMENT_TOKEN` as in the axum example.

use caixa_client::{ClientConfig, EntitlementClient, RequireFeature};

fn user(parts: &http::request::Parts) -> Option<String> {
    parts.headers.get("x-user")?.to_str().ok().map(str::to_owned)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("ENTITLEMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:50052".to_owned());
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:50070".to_owned());
    let config = match std::env::var("ENTITLEMENT_TOKEN") {
        Ok(token) => ClientConfig::default().with_token(token),
        Err(_) => ClientConfig::default(),
    };
    let client = EntitlementClient::new(&[url.as_str()], config)?;
    let (_, health) = tonic_health::server::health_reporter();
    // Both versions: grpcurl before 1.9 asks v1alpha only.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (v1, v1alpha) = (reflection().build_v1()?, reflection().build_v1alpha()?);
    println!("listening on {addr}");
    tonic::transport::Server::builder()
        .layer(
            RequireFeature::new(client, "reports")
                .user_from(user)
                .method("/grpc.health.v1.Health/Check", "reports"),
        )
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha)
        .serve(addr.parse()?)
        .await?;
    Ok(())
}
