//! `caixa.billing.v1.BillingService`: validation and mapping; the work is in
//! `domain::accounts::billing`.

use caixa_proto::billing::v1 as proto;
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreateCheckoutSessionResponse, CreatePortalSessionRequest,
    CreatePortalSessionResponse, GetConfigRequest, GetConfigResponse, GetSubscriptionStatusRequest,
    GetSubscriptionStatusResponse, ListPlansRequest, ListPlansResponse, SyncCheckoutSessionRequest,
    SyncCheckoutSessionResponse, billing_service_server::BillingService,
};
use caixa_types::{Limit, PriceId, SessionId};
use tonic::{Request, Response, Status};

use crate::{
    domain::{
        accounts::billing::{Billing, CheckoutRequest, SyncedCheckout, UserStatus},
        accounts::checkout::OpenedCheckout,
        accounts::validate,
        catalogue::{Catalogue, Plan},
    },
    error::BillingError,
    stripe::limiter::user_facing,
};

/// Serves the billing API.
pub struct BillingApi {
    billing: Billing,
    catalogue: Catalogue,
}

impl BillingApi {
    /// The API over `billing`, answering plans from `catalogue`.
    pub fn new(billing: Billing, catalogue: Catalogue) -> Self {
        Self { billing, catalogue }
    }
}

#[tonic::async_trait]
impl BillingService for BillingApi {
    async fn create_checkout_session(
        &self,
        request: Request<CreateCheckoutSessionRequest>,
    ) -> Result<Response<CreateCheckoutSessionResponse>, Status> {
        let r = request.into_inner();
        let user_id = validate::user_id(&r.user_id)?;
        let email = validate::email(&r.email)?.to_owned();
        let price_id = match r.price_id.as_deref().filter(|p| !p.is_empty()) {
            Some(price) => PriceId::parse(price).map_err(BillingError::from)?,
            None => self.billing.settings.default_price_id.clone().ok_or_else(|| {
                BillingError::InvalidArgument {
                    field: "price_id",
                    reason: "is required because STRIPE_DEFAULT_PRICE_ID is not set".to_owned(),
                }
            })?,
        };
        let success_url = validate::url(
            "success_url",
            r.success_url.as_deref(),
            self.billing.frontend("subscription/success?session_id={CHECKOUT_SESSION_ID}"),
        )?;
        let cancel_url = validate::url(
            "cancel_url",
            r.cancel_url.as_deref(),
            self.billing.frontend("subscription/cancel"),
        )?;
        let quantity = validate::quantity(r.quantity)?;
        let request = CheckoutRequest {
            user_id,
            email,
            price_id,
            success_url,
            cancel_url,
            quantity,
            allow_promotion_codes: r.allow_promotion_codes,
        };
        // A user is waiting: their Stripe calls go before background work.
        let opened: OpenedCheckout = user_facing(self.billing.create_checkout(request)).await?;
        Ok(Response::new(CreateCheckoutSessionResponse {
            session_id: opened.session_id,
            url: opened.url,
            trial_applied: opened.trial_days > 0,
            trial_days: opened.trial_days,
            expires_at: opened.expires_at.map(|t| caixa_proto::timestamp(t.timestamp())),
        }))
    }

    async fn sync_checkout_session(
        &self,
        request: Request<SyncCheckoutSessionRequest>,
    ) -> Result<Response<SyncCheckoutSessionResponse>, Status> {
        let r = request.into_inner();
        let session_id = SessionId::parse(&r.session_id).map_err(BillingError::from)?;
        let SyncedCheckout { session_id, subscription_id, status } =
            user_facing(self.billing.sync_checkout(&session_id)).await?;
        let status = status_message(status);
        Ok(Response::new(SyncCheckoutSessionResponse {
            session_id,
            user_id: status.user_id,
            subscription_id: subscription_id.unwrap_or_default(),
            status: status.subscription.map(|s| s.status).unwrap_or_default(),
            has_active_subscription: status.has_active_subscription,
            revision: status.revision,
        }))
    }

    async fn create_portal_session(
        &self,
        request: Request<CreatePortalSessionRequest>,
    ) -> Result<Response<CreatePortalSessionResponse>, Status> {
        let r = request.into_inner();
        let user_id = validate::user_id(&r.user_id)?;
        let return_url =
            validate::url("return_url", r.return_url.as_deref(), self.billing.frontend("account"))?;
        let url = user_facing(self.billing.portal(&user_id, return_url)).await?;
        Ok(Response::new(CreatePortalSessionResponse { url }))
    }

    async fn get_subscription_status(
        &self,
        request: Request<GetSubscriptionStatusRequest>,
    ) -> Result<Response<GetSubscriptionStatusResponse>, Status> {
        let r = request.into_inner();
        let user_id = validate::user_id(&r.user_id)?;
        Ok(Response::new(status_message(self.billing.status(&user_id).await?)))
    }

    async fn get_config(
        &self,
        _request: Request<GetConfigRequest>,
    ) -> Result<Response<GetConfigResponse>, Status> {
        let stripe = &self.billing.settings;
        Ok(Response::new(GetConfigResponse {
            publishable_key: stripe.publishable_key.clone().unwrap_or_default(),
            live_mode: stripe.live_mode,
            default_price_id: stripe.default_price_id.as_ref().map(PriceId::to_string).unwrap_or_default(),
            trial_days: stripe.trial_days,
        }))
    }

    async fn list_plans(
        &self,
        _request: Request<ListPlansRequest>,
    ) -> Result<Response<ListPlansResponse>, Status> {
        let stripe = &self.billing.settings;
        let default = stripe.default_price_id.as_ref();
        let plans =
            self.catalogue.plans().iter().map(|p| plan_message(p, stripe.trial_days, default)).collect();
        Ok(Response::new(ListPlansResponse { plans }))
    }
}

/// A plan as the API answers it.
fn plan_message(plan: &Plan, trial_days: u32, default_price: Option<&PriceId>) -> proto::Plan {
    proto::Plan {
        price_id: plan.price_id.clone(),
        product_id: plan.product_id.clone(),
        name: plan.name.clone(),
        description: plan.description.clone().unwrap_or_default(),
        unit_amount: plan.unit_amount,
        currency: plan.currency.clone(),
        interval: plan.interval.clone(),
        interval_count: plan.interval_count,
        trial_days,
        features: plan
            .features
            .iter()
            .map(|(feature, limit)| proto::FeatureLimit {
                feature: feature.clone(),
                limit: limit.map(Limit::to_proto),
            })
            .collect(),
        lookup_key: plan.lookup_key.clone().unwrap_or_default(),
        order: plan.order.unwrap_or(0),
        default: default_price.is_some_and(|d| d.as_str() == plan.price_id),
    }
}

/// A user's status as the API answers it.
fn status_message(status: UserStatus) -> GetSubscriptionStatusResponse {
    GetSubscriptionStatusResponse {
        user_id: status.user_id.into(),
        has_active_subscription: status.allowed,
        reason: status.reason.into(),
        subscription: status.subscription.as_ref().map(|s| s.to_proto()),
        trial_eligible: status.trial_eligible,
        customer_id: status.customer_id.unwrap_or_default(),
        revision: status.revision.get(),
    }
}
