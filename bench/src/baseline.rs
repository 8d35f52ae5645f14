//! The seed's design, for comparison: every check is a database query (like dj-stripe's
//! `has_active_subscription`), behind the same gRPC method as the real service.

use std::net::SocketAddr;

use caixa_entities::{entitlements, state::UserState};
use caixa_policy::Policy;
use caixa_proto::entitlement::v1::{
    CheckAccessBatchRequest, CheckAccessBatchResponse, CheckAccessRequest, CheckAccessResponse,
    GetEntitlementsRequest, GetEntitlementsResponse, WatchEntitlementsRequest, WatchEntitlementsResponse,
    entitlement_service_server::{EntitlementService, EntitlementServiceServer},
};
use caixa_test_support::database::TestDatabase;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tonic::{Request, Response, Status};

struct Baseline {
    db: DatabaseConnection,
}

#[tonic::async_trait]
impl EntitlementService for Baseline {
    type WatchEntitlementsStream = tokio_stream::Empty<Result<WatchEntitlementsResponse, Status>>;

    async fn check_access(
        &self,
        request: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        let request = request.into_inner();
        let row = entitlements::Entity::find()
            .filter(entitlements::Column::UserId.eq(request.user_id.clone()))
            .filter(entitlements::Column::Livemode.eq(false))
            .one(&self.db)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let state: UserState =
            row.map(|r| serde_json::from_value(r.state).unwrap_or_default()).unwrap_or_default();
        let decision = Policy::default().decide(
            &state.subscriptions,
            Some(&request.feature),
            chrono::Utc::now().timestamp(),
        );
        Ok(Response::new(CheckAccessResponse {
            allowed: decision.allowed,
            reason: decision.reason.into(),
            ..Default::default()
        }))
    }

    async fn check_access_batch(
        &self,
        _: Request<CheckAccessBatchRequest>,
    ) -> Result<Response<CheckAccessBatchResponse>, Status> {
        Err(Status::unimplemented("baseline serves CheckAccess only"))
    }

    async fn get_entitlements(
        &self,
        _: Request<GetEntitlementsRequest>,
    ) -> Result<Response<GetEntitlementsResponse>, Status> {
        Err(Status::unimplemented("baseline serves CheckAccess only"))
    }

    async fn watch_entitlements(
        &self,
        _: Request<WatchEntitlementsRequest>,
    ) -> Result<Response<Self::WatchEntitlementsStream>, Status> {
        Err(Status::unimplemented("baseline serves CheckAccess only"))
    }
}

/// Serves the baseline on a free port (pool of 16 connections, the usual Django-ish size
/// and twice the cores).
pub async fn serve(db: &TestDatabase) -> SocketAddr {
    let mut options = sea_orm::ConnectOptions::new(db.url.clone());
    options.max_connections(16).sqlx_logging(false);
    let conn = sea_orm::Database::connect(options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(EntitlementServiceServer::new(Baseline { db: conn }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    addr
}
