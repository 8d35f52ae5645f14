//! Billing's Watch streams are counted and capped: past `MAX_WATCH_STREAMS` a new one is
//! refused with RESOURCE_EXHAUSTED, and a stream that ends gives its slot back.

use std::time::Duration;

use caixa_integration_tests::{spawn_billing, wait_until};
use caixa_proto::billing::v1::{WatchRequest, subscription_events_client::SubscriptionEventsClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};
use tonic::Code;

#[tokio::test]
async fn watch_streams_past_the_limit_are_refused_until_one_ends() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[("MAX_WATCH_STREAMS", "2")]).await;
    let client = SubscriptionEventsClient::new(channel(billing.grpc_addr).await);
    let open = || {
        let mut client = client.clone();
        async move { client.watch(WatchRequest { after_revision: 0 }).await.map(tonic::Response::into_inner) }
    };
    let first = open().await.unwrap();
    let _second = open().await.unwrap();

    // Act
    let third = open().await;
    drop(first);

    // Assert
    assert_eq!(third.map(drop).map_err(|s| s.code()), Err(Code::ResourceExhausted));
    wait_until("the ended stream's slot is free again", Duration::from_secs(15), || async {
        open().await.is_ok()
    })
    .await;
    billing.running.stop().await.unwrap();
}
