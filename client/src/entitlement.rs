//! `EntitlementService` from the caller's side.

use std::sync::Arc;

use caixa_proto::{
    billing::v1::{AccessReason, SubscriptionSnapshot, SubscriptionStatus},
    entitlement::v1::{
        CheckAccessBatchRequest, CheckAccessRequest, CheckAccessResponse, Consistency,
        GetEntitlementsRequest, consistency::Requirement,
        entitlement_service_client::EntitlementServiceClient,
    },
};

use crate::{ClientConfig, ClientError, transport::Pool};
use caixa_types::{Limit, Revision, StripeId};

/// Whether a user may use a feature now, and why. Guarded handlers find it in the
/// request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Whether access is granted.
    pub allowed: bool,
    /// Why (trialing, active, payment failed, trial ended, feature not in plan, …).
    pub reason: AccessReason,
    /// Status of the subscription that decided.
    pub status: SubscriptionStatus,
    /// Until when the answer holds if nothing changes (Unix seconds), when granted.
    pub access_until: Option<i64>,
    /// The subscription that decided (kept inline: reads as a `&str`).
    pub subscription_id: Option<StripeId>,
    /// The revision of the service's copy the answer was computed from.
    pub revision: Revision,
    /// Whether the service had lost contact with billing for longer than it allows.
    pub stale: bool,
    /// Whether nothing was learnt at all: the entitlement service could not be asked,
    /// and a guard failing open let the request through ([`Access::degraded`]).
    pub degraded: bool,
    /// When granted for a feature: the largest number a granting plan sets on it (how
    /// many projects, say); `None` when no plan sets one.
    pub limit: Option<Limit>,
    /// When granted: the seats bought on the subscription that decided; 0 when refused.
    pub seats: u32,
}

impl Access {
    fn from_proto(answer: CheckAccessResponse) -> Self {
        Self {
            allowed: answer.allowed,
            reason: answer.reason(),
            status: answer.status(),
            access_until: answer.access_until.map(|t| t.seconds),
            subscription_id: Some(answer.subscription_id)
                .filter(|s| !s.is_empty())
                .map(|s| StripeId::new(&s)),
            revision: Revision::new(answer.revision),
            stale: answer.stale,
            degraded: false,
            limit: answer.limit.as_ref().map(Limit::from_proto),
            seats: answer.seats,
        }
    }

    /// What a guard failing open hands the handler when the entitlement service could
    /// not answer: allowed, with nothing known (no reason, status or subscription), and
    /// marked degraded so that a handler can hold back what must not be given away.
    pub fn degraded() -> Self {
        Self {
            allowed: true,
            reason: AccessReason::Unspecified,
            status: SubscriptionStatus::Unspecified,
            access_until: None,
            subscription_id: None,
            revision: Revision::default(),
            stale: true,
            degraded: true,
            limit: None,
            seats: 0,
        }
    }

    /// The reason in words, for a refusal's message.
    pub fn explanation(&self) -> &'static str {
        match self.reason {
            AccessReason::Trialing => "trialing",
            AccessReason::Active => "active subscription",
            AccessReason::Canceling => "active until the scheduled cancellation",
            AccessReason::PastDueGrace => "payment failed; in the grace period",
            AccessReason::PaymentFailed => "payment failed",
            AccessReason::Incomplete => "the first payment is not complete",
            AccessReason::Paused => "the subscription is paused",
            AccessReason::TrialEnding => "the trial has just ended; the first payment is on its way",
            AccessReason::Stale => "the service's copy is stale",
            AccessReason::Canceled => "the subscription or trial has ended",
            AccessReason::NoSubscription => "no subscription",
            AccessReason::FeatureNotInPlan => "the feature is not in the plan",
            _ => "not allowed",
        }
    }
}

/// Everything a user is entitled to.
#[derive(Clone, Debug, PartialEq)]
pub struct Entitlements {
    /// Whether the user has access at all.
    pub allowed: bool,
    /// Why.
    pub reason: AccessReason,
    /// Features granted now.
    pub features: Vec<String>,
    /// Every subscription of the user.
    pub subscriptions: Vec<SubscriptionSnapshot>,
    /// The revision the answer was computed from.
    pub revision: Revision,
    /// Whether the service's copy was stale.
    pub stale: bool,
    /// The numbers set on the features granted now, the largest over granting plans.
    pub limits: Vec<(String, Limit)>,
    /// Seats bought on the subscription that decides access to the app; 0 when refused.
    pub seats: u32,
}

/// A client of the entitlement service. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct EntitlementClient {
    pool: Arc<Pool>,
    at_least: Option<Revision>,
}

impl EntitlementClient {
    /// A client of the service at `urls` (several replicas are balanced per call).
    /// Connects on first use; call inside a Tokio runtime.
    pub fn new(urls: &[&str], config: ClientConfig) -> Result<Self, ClientError> {
        Ok(Self { pool: Arc::new(Pool::new(urls, config)?), at_least: None })
    }

    /// The same client, answering only from a copy at least as fresh as `revision`
    /// (e.g. the revision `SyncCheckoutSession` returned, as it came): read-your-writes.
    pub fn at_least_as_fresh(&self, revision: impl Into<Revision>) -> Self {
        Self { pool: self.pool.clone(), at_least: Some(revision.into()) }
    }

    fn consistency(&self) -> Option<Consistency> {
        self.at_least.map(|r| Consistency { requirement: Some(Requirement::AtLeastAsFresh(r.get())) })
    }

    /// May `user` use `feature` now (an empty feature: any access at all)?
    pub async fn check(&self, user: &str, feature: &str) -> Result<Access, ClientError> {
        let request = CheckAccessRequest {
            user_id: user.to_owned(),
            feature: feature.to_owned(),
            consistency: self.consistency(),
        };
        let answer = self
            .pool
            .call(request, |channel, request| async move {
                EntitlementServiceClient::new(channel).check_access(request).await
            })
            .await?;
        Ok(Access::from_proto(answer))
    }

    /// Many checks in one call; answers in the order asked.
    pub async fn check_batch(&self, checks: &[(&str, &str)]) -> Result<Vec<Access>, ClientError> {
        let checks = checks
            .iter()
            .map(|(user, feature)| CheckAccessRequest {
                user_id: (*user).to_owned(),
                feature: (*feature).to_owned(),
                consistency: self.consistency(),
            })
            .collect();
        let answer = self
            .pool
            .call(CheckAccessBatchRequest { checks }, |channel, request| async move {
                EntitlementServiceClient::new(channel).check_access_batch(request).await
            })
            .await?;
        Ok(answer.results.into_iter().map(Access::from_proto).collect())
    }

    /// Everything `user` is entitled to.
    pub async fn entitlements(&self, user: &str) -> Result<Entitlements, ClientError> {
        let request = GetEntitlementsRequest { user_id: user.to_owned(), consistency: self.consistency() };
        let answer = self
            .pool
            .call(request, |channel, request| async move {
                EntitlementServiceClient::new(channel).get_entitlements(request).await
            })
            .await?;
        Ok(Entitlements {
            allowed: answer.allowed,
            reason: answer.reason(),
            features: answer.features,
            subscriptions: answer.subscriptions,
            revision: Revision::new(answer.revision),
            stale: answer.stale,
            limits: Limit::of_features(&answer.limits).map(|(f, l)| (f.to_owned(), l)).collect(),
            seats: answer.seats,
        })
    }
}
