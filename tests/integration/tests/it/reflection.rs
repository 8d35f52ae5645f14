//! Server reflection, queried with a reflection client as grpcurl would.

use std::net::SocketAddr;

use caixa_integration_tests::{spawn_billing, spawn_entitlement};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};
use prost::Message;
use prost_types::FileDescriptorProto;
use tonic_reflection::pb::{v1, v1alpha};

async fn v1_request(
    addr: SocketAddr,
    request: v1::server_reflection_request::MessageRequest,
) -> v1::server_reflection_response::MessageResponse {
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel(addr).await);
    let request = v1::ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection call")
        .into_inner();
    responses
        .message()
        .await
        .expect("reflection answer")
        .expect("one answer")
        .message_response
        .expect("response")
}

async fn list_v1(addr: SocketAddr) -> Vec<String> {
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    match v1_request(addr, MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(list) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

async fn list_v1alpha(addr: SocketAddr) -> Vec<String> {
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel(addr).await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses =
        client.server_reflection_info(tokio_stream::iter([request])).await.expect("call").into_inner();
    match responses.message().await.expect("answer").expect("one").message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

/// The methods of `service`, as described by the file reflection returns for it.
async fn describe(addr: SocketAddr, service: &str) -> Vec<String> {
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let MessageResponse::FileDescriptorResponse(files) =
        v1_request(addr, MessageRequest::FileContainingSymbol(service.to_owned())).await
    else {
        panic!("no file for {service}");
    };
    let (package, name) = service.rsplit_once('.').expect("qualified name");
    files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor"))
        .filter(|file| file.package() == package)
        .flat_map(|file| file.service)
        .filter(|s| s.name() == name)
        .flat_map(|s| s.method.into_iter().map(|m| m.name().to_owned()))
        .collect()
}

#[tokio::test]
async fn both_services_list_and_describe_their_services() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;

    // Act
    let billing_v1 = list_v1(billing.grpc_addr).await;
    let billing_v1alpha = list_v1alpha(billing.grpc_addr).await;
    let entitlement_v1 = list_v1(entitlement.grpc_addr).await;

    // Assert
    // Each lists exactly what it serves, so grpcurl never offers a service it would refuse.
    assert_eq!(
        sorted(billing_v1),
        [
            "caixa.billing.v1.BillingService",
            "caixa.billing.v1.SubscriptionEvents",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ]
    );
    assert_eq!(
        sorted(billing_v1alpha),
        [
            "caixa.billing.v1.BillingService",
            "caixa.billing.v1.SubscriptionEvents",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    );
    assert_eq!(
        sorted(entitlement_v1),
        [
            "caixa.entitlement.v1.EntitlementService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection"
        ]
    );

    let mut billing_methods = describe(billing.grpc_addr, "caixa.billing.v1.BillingService").await;
    billing_methods.sort();
    assert_eq!(
        billing_methods,
        [
            "CreateCheckoutSession",
            "CreatePortalSession",
            "GetConfig",
            "GetSubscriptionStatus",
            "ListPlans",
            "SyncCheckoutSession"
        ]
    );
    let mut entitlement_methods =
        describe(entitlement.grpc_addr, "caixa.entitlement.v1.EntitlementService").await;
    entitlement_methods.sort();
    assert_eq!(
        entitlement_methods,
        ["CheckAccess", "CheckAccessBatch", "GetEntitlements", "WatchEntitlements"]
    );

    entitlement.running.stop().await.expect("drain");
    billing.running.stop().await.expect("drain");
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}
