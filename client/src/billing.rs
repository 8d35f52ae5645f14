//! `BillingService` from the web backend's side.

use std::sync::Arc;

use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreateCheckoutSessionResponse, CreatePortalSessionRequest,
    CreatePortalSessionResponse, GetConfigRequest, GetConfigResponse, GetSubscriptionStatusRequest,
    GetSubscriptionStatusResponse, ListPlansRequest, ListPlansResponse, SyncCheckoutSessionRequest,
    SyncCheckoutSessionResponse, billing_service_client::BillingServiceClient,
};

use crate::{ClientConfig, ClientError, transport::Pool};

/// A client of the billing service, with the pool, deadline, retry budget and
/// credentials of [`ClientConfig`]. Cheap to clone.
///
/// A retried `CreateCheckoutSession` is safe: billing closes a user's open Checkout
/// Sessions whenever it opens a new one, and a trial is reserved once per user.
#[derive(Clone)]
pub struct BillingClient {
    pool: Arc<Pool>,
}

macro_rules! calls {
    ($($(#[$doc:meta])* $name:ident($request:ty) -> $response:ty;)*) => {
        impl BillingClient {
            $(
                $(#[$doc])*
                pub async fn $name(&self, request: $request) -> Result<$response, ClientError> {
                    self.pool
                        .call(request, |channel, request| async move {
                            BillingServiceClient::new(channel).$name(request).await
                        })
                        .await
                }
            )*
        }
    };
}

impl BillingClient {
    /// A client of the service at `urls`. Connects on first use; call inside a Tokio
    /// runtime.
    pub fn new(urls: &[&str], config: ClientConfig) -> Result<Self, ClientError> {
        Ok(Self { pool: Arc::new(Pool::new(urls, config)?) })
    }
}

calls! {
    /// A Checkout Session for a user (a free trial once per user and email).
    create_checkout_session(CreateCheckoutSessionRequest) -> CreateCheckoutSessionResponse;
    /// Applies a completed session at once (the success page); returns the revision for
    /// [`crate::EntitlementClient::at_least_as_fresh`].
    sync_checkout_session(SyncCheckoutSessionRequest) -> SyncCheckoutSessionResponse;
    /// A Customer Portal session for a user.
    create_portal_session(CreatePortalSessionRequest) -> CreatePortalSessionResponse;
    /// A user's subscriptions, access and trial eligibility.
    get_subscription_status(GetSubscriptionStatusRequest) -> GetSubscriptionStatusResponse;
    /// Public configuration: publishable key, prices, trial days.
    get_config(GetConfigRequest) -> GetConfigResponse;
    /// The plans on sale, in display order, for a pricing page.
    list_plans(ListPlansRequest) -> ListPlansResponse;
}
