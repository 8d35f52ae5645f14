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
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    println!("listening on {addr}");
    tonic::transport::Server::builder()
        .layer(
            RequireFeature::new(client, "reports")
                .user_from(user)
                .method("/grpc.health.v1.Health/Check", "reports"),
        )
        .add_service(health)
        .add_service(reflection)
        .serve(addr.parse()?)
        .await?;
    Ok(())
}
