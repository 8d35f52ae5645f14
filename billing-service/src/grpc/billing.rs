//! `caixa.billing.v1.BillingService`.

use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreateCheckoutSessionResponse, CreatePortalSessionRequest,
    CreatePortalSessionResponse, GetConfigRequest, GetConfigResponse, GetSubscriptionStatusRequest,
    GetSubscriptionStatusResponse, SyncCheckoutSessionRequest, SyncCheckoutSessionResponse,
    billing_service_server::BillingService,
};
use tonic::{Request, Response, Status};

use crate::{config::StripeSettings, error::ApiError};

/// Serves the billing API.
pub struct BillingApi {
    stripe: StripeSettings,
}

impl BillingApi {
    /// The API over the given Stripe settings.
    pub fn new(stripe: StripeSettings) -> Self {
        Self { stripe }
    }
}

#[tonic::async_trait]
impl BillingService for BillingApi {
    async fn create_checkout_session(
        &self,
        _request: Request<CreateCheckoutSessionRequest>,
    ) -> Result<Response<CreateCheckoutSessionResponse>, Status> {
        Err(ApiError::Unimplemented("CreateCheckoutSession").into())
    }

    async fn sync_checkout_session(
        &self,
        _request: Request<SyncCheckoutSessionRequest>,
    ) -> Result<Response<SyncCheckoutSessionResponse>, Status> {
        Err(ApiError::Unimplemented("SyncCheckoutSession").into())
    }

    async fn create_portal_session(
        &self,
        _request: Request<CreatePortalSessionRequest>,
    ) -> Result<Response<CreatePortalSessionResponse>, Status> {
        Err(ApiError::Unimplemented("CreatePortalSession").into())
    }

    async fn get_subscription_status(
        &self,
        _request: Request<GetSubscriptionStatusRequest>,
    ) -> Result<Response<GetSubscriptionStatusResponse>, Status> {
        Err(ApiError::Unimplemented("GetSubscriptionStatus").into())
    }

    async fn get_config(
        &self,
        _request: Request<GetConfigRequest>,
    ) -> Result<Response<GetConfigResponse>, Status> {
        Ok(Response::new(GetConfigResponse {
            publishable_key: self.stripe.publishable_key.clone().unwrap_or_default(),
            live_mode: self.stripe.live_mode,
            default_price_id: self.stripe.default_price_id.clone().unwrap_or_default(),
            trial_days: self.stripe.trial_days,
        }))
    }
}
