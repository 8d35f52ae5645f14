//! `caixa.billing.v1.SubscriptionEvents`.

use std::pin::Pin;

use caixa_proto::billing::v1::{WatchRequest, WatchResponse, subscription_events_server::SubscriptionEvents};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::error::ApiError;

/// Serves the revision log.
pub struct SubscriptionEventsApi;

#[tonic::async_trait]
impl SubscriptionEvents for SubscriptionEventsApi {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

    async fn watch(&self, _request: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        Err(ApiError::Unimplemented("SubscriptionEvents.Watch").into())
    }
}
