//! `caixa.entitlement.v1.EntitlementService`.

use std::pin::Pin;

use caixa_proto::entitlement::v1::{
    CheckAccessBatchRequest, CheckAccessBatchResponse, CheckAccessRequest, CheckAccessResponse,
    GetEntitlementsRequest, GetEntitlementsResponse, WatchEntitlementsRequest, WatchEntitlementsResponse,
    entitlement_service_server::EntitlementService,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::error::ApiError;

/// Serves access checks.
pub struct EntitlementApi;

#[tonic::async_trait]
impl EntitlementService for EntitlementApi {
    type WatchEntitlementsStream =
        Pin<Box<dyn Stream<Item = Result<WatchEntitlementsResponse, Status>> + Send>>;

    async fn check_access(
        &self,
        _request: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        Err(ApiError::Unimplemented("CheckAccess").into())
    }

    async fn check_access_batch(
        &self,
        _request: Request<CheckAccessBatchRequest>,
    ) -> Result<Response<CheckAccessBatchResponse>, Status> {
        Err(ApiError::Unimplemented("CheckAccessBatch").into())
    }

    async fn get_entitlements(
        &self,
        _request: Request<GetEntitlementsRequest>,
    ) -> Result<Response<GetEntitlementsResponse>, Status> {
        Err(ApiError::Unimplemented("GetEntitlements").into())
    }

    async fn watch_entitlements(
        &self,
        _request: Request<WatchEntitlementsRequest>,
    ) -> Result<Response<Self::WatchEntitlementsStream>, Status> {
        Err(ApiError::Unimplemented("WatchEntitlements").into())
    }
}
