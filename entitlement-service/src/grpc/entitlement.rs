//! `caixa.entitlement.v1.EntitlementService`: every answer from memory, computed at call
//! time with the access policy.

use std::{sync::Arc, time::Duration};

use caixa_policy::Policy;
use caixa_proto::{
    billing::v1::AccessReason,
    entitlement::v1::{
        BACKLOG_METADATA, CheckAccessBatchRequest, CheckAccessBatchResponse, CheckAccessRequest,
        CheckAccessResponse, Consistency, GetEntitlementsRequest, GetEntitlementsResponse,
        WatchEntitlementsRequest, consistency::Requirement, entitlement_service_server::EntitlementService,
    },
};
use caixa_runtime::shutdown::DrainSignal;
use caixa_types::input;
use caixa_types::{Limit, Revision};
use tonic::{Request, Response, Status, metadata::MetadataMap};

use super::{answers, watch};
use crate::{
    domain::{
        cache::Cache,
        entry::{Entry, Subscription},
    },
    error::ApiError,
};

/// Largest batch accepted by `CheckAccessBatch`.
pub const MAX_BATCH: usize = 10_000;

/// Serves access checks.
pub struct EntitlementApi {
    /// The in-memory state.
    pub cache: Arc<Cache>,
    /// The access policy.
    pub policy: Policy,
    /// After this long without contact, answers say `stale`.
    pub staleness_bound: Duration,
    /// Features denied while stale.
    pub stale_deny_features: Vec<String>,
    /// Longest wait for a requested revision.
    pub freshness_wait_cap: Duration,
    /// Calls that may wait for a revision at once: a share of the service's slots, so
    /// callers asking for revisions that have not arrived cannot take them all.
    pub waiting: Arc<tokio::sync::Semaphore>,
    /// Ends every `WatchEntitlements` stream when the service drains, so that the
    /// drain need not wait out its grace for them.
    pub drain: DrainSignal,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::InvalidArgument { field, reason: reason.into() }
}

impl EntitlementApi {
    /// The freshest revision the request asks for, waiting for it within the caller's
    /// deadline (`grpc-timeout` in `metadata`). A revision already held costs one atomic
    /// load: the deadline is read and the wait built only when there is something to wait
    /// for, and the wait is boxed so that every call's future stays small.
    async fn ensure_fresh(
        &self,
        consistency: Option<&Consistency>,
        metadata: &MetadataMap,
    ) -> Result<(), ApiError> {
        let Some(Requirement::AtLeastAsFresh(wanted)) = consistency.and_then(|c| c.requirement) else {
            return Ok(());
        };
        let (held, wanted) = (self.cache.revision(), Revision::new(wanted));
        if held >= wanted {
            return Ok(());
        }
        // A revision no write can have made yet would only hold a slot for the whole
        // wait: refused at once.
        if wanted.get() - held.get() > FRESHNESS_AHEAD_LIMIT {
            return Err(ApiError::OutOfRange(format!(
                "revision {wanted} is more than {FRESHNESS_AHEAD_LIMIT} beyond the head ({held}); \
                 ask for a revision billing returned"
            )));
        }
        let Ok(_waiting) = self.waiting.try_acquire() else {
            return Err(ApiError::Unavailable(format!(
                "at revision {held}; too many calls are waiting for newer revisions, so revision {wanted} is not waited for; retry"
            )));
        };
        let wait = caixa_runtime::deadline::from_metadata(metadata)
            .map_or(self.freshness_wait_cap, |d| d.min(self.freshness_wait_cap));
        if Box::pin(self.cache.wait_for(wanted, wait)).await {
            return Ok(());
        }
        Err(ApiError::Unavailable(format!(
            "at revision {} after waiting {} ms; revision {wanted} has not arrived yet",
            self.cache.revision(),
            wait.as_millis()
        )))
    }

    fn stale(&self, now: i64) -> bool {
        now - self.cache.as_of() > i64::try_from(self.staleness_bound.as_secs()).unwrap_or(i64::MAX)
    }

    /// What every answer given now shares.
    fn moment(&self) -> Moment {
        let now = unix_now();
        Moment { now, stale: self.stale(now), revision: self.cache.revision(), as_of: self.cache.as_of() }
    }

    /// The answer for one user, from their entry (if any), with the staleness policy.
    fn answer(&self, entry: Option<&Entry>, feature: &str, at: &Moment) -> CheckAccessResponse {
        let decision = self.policy.decide(entry.map_or(&[], |e| e.subscriptions()), Some(feature), at.now);
        let stale = at.stale;
        let mut response = CheckAccessResponse {
            allowed: decision.allowed,
            reason: decision.reason.into(),
            status: decision.status.into(),
            access_until: decision.access_until.map(caixa_proto::timestamp),
            subscription_id: decision.subscription_id().unwrap_or_default().to_owned(),
            revision: at.revision.get(),
            as_of: Some(caixa_proto::timestamp(at.as_of)),
            stale,
            limit: decision.limit.map(Limit::to_proto),
            seats: decision.seats,
        };
        if stale && self.stale_deny_features.iter().any(|f| f == feature) {
            response.allowed = false;
            response.reason = AccessReason::Stale.into();
            response.access_until = None;
            response.limit = None;
            response.seats = 0;
        }
        response
    }
}

/// Seconds since the Unix epoch, read straight from the system clock: a calendar type
/// would convert the time to a date and back on every call.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

/// How far beyond the revision held a freshness request may ask: further than any
/// burst of writes between a billing answer and this copy catching up.
pub const FRESHNESS_AHEAD_LIMIT: u64 = 100_000;

/// The answer while the in-memory state cannot be trusted (the service also reports
/// NOT_SERVING then).
fn unusable() -> ApiError {
    ApiError::Unavailable("the in-memory state is unavailable".to_owned())
}

/// The clock and the cache's freshness, read once per call.
struct Moment {
    now: i64,
    stale: bool,
    revision: Revision,
    as_of: i64,
}

#[tonic::async_trait]
impl EntitlementService for EntitlementApi {
    type WatchEntitlementsStream = watch::Changes;

    async fn check_access(
        &self,
        request: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let user = input::user_id(&request.user_id).map_err(ApiError::from)?;
        caixa_runtime::telemetry::trace::record_user(user);
        let feature = input::feature(&request.feature).map_err(ApiError::from)?;
        self.ensure_fresh(request.consistency.as_ref(), &metadata).await?;
        let at = self.moment();
        // Under the read lock: cloning the entry's `Arc` costs two atomic operations.
        // An unusable state answers UNAVAILABLE, never "no subscription".
        let users = self.cache.read().ok_or_else(unusable)?;
        let answer = self.answer(users.get(user).map(|e| &**e), feature, &at);
        drop(users);
        answers::record(answer.reason);
        Ok(Response::new(answer))
    }

    async fn check_access_batch(
        &self,
        request: Request<CheckAccessBatchRequest>,
    ) -> Result<Response<CheckAccessBatchResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        if request.checks.len() > MAX_BATCH {
            return Err(invalid(
                "checks",
                format!("at most {MAX_BATCH} checks per batch, got {}", request.checks.len()),
            )
            .into());
        }
        let checks = request
            .checks
            .iter()
            .map(|c| Ok((input::user_id(&c.user_id)?, input::feature(&c.feature)?)))
            .collect::<Result<Vec<_>, input::InvalidInput>>()
            .map_err(ApiError::from)?;
        let freshest = request
            .checks
            .iter()
            .filter_map(|c| match c.consistency.as_ref().and_then(|c| c.requirement) {
                Some(Requirement::AtLeastAsFresh(r)) => Some(r),
                _ => None,
            })
            .max();
        if let Some(revision) = freshest {
            let wanted = Consistency { requirement: Some(Requirement::AtLeastAsFresh(revision)) };
            self.ensure_fresh(Some(&wanted), &metadata).await?;
        }
        let at = self.moment();
        // One read lock for the whole batch; entries are borrowed, not cloned.
        let users = self.cache.read().ok_or_else(unusable)?;
        // Every lookup first, then every answer: the lookups' cache misses (a million
        // users do not fit in cache) overlap one another instead of each waiting behind
        // the previous answer's work.
        let ids: Vec<&str> = checks.iter().map(|(user, _)| *user).collect();
        let entries = users.get_many(&ids);
        let mut tally = answers::Tally::default();
        let results = checks
            .iter()
            .zip(entries)
            .map(|((_, feature), entry)| {
                let answer = self.answer(entry, feature, &at);
                tally.add(answer.reason);
                answer
            })
            .collect();
        drop(users);
        tally.record();
        Ok(Response::new(CheckAccessBatchResponse { results }))
    }

    async fn get_entitlements(
        &self,
        request: Request<GetEntitlementsRequest>,
    ) -> Result<Response<GetEntitlementsResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let user = input::user_id(&request.user_id).map_err(ApiError::from)?.to_owned();
        caixa_runtime::telemetry::trace::record_user(&user);
        self.ensure_fresh(request.consistency.as_ref(), &metadata).await?;
        let now = unix_now();
        let entry = self.cache.get(&user).map_err(|_| unusable())?;
        let subscriptions = entry.as_deref().map_or(&[][..], Entry::subscriptions);
        let decision = self.policy.decide(subscriptions, None, now);
        let grants = self.policy.grants(subscriptions, now);
        let features = grants.iter().map(|(f, _)| (*f).to_owned()).collect();
        let limits = grants.iter().filter_map(|(f, l)| Some(Limit::feature(f, (*l)?))).collect();
        Ok(Response::new(GetEntitlementsResponse {
            limits,
            seats: decision.seats,
            user_id: user,
            allowed: decision.allowed,
            reason: decision.reason.into(),
            features,
            subscriptions: subscriptions.iter().map(Subscription::to_proto).collect(),
            revision: self.cache.revision().get(),
            as_of: Some(caixa_proto::timestamp(self.cache.as_of())),
            stale: self.stale(now),
        }))
    }

    async fn watch_entitlements(
        &self,
        request: Request<WatchEntitlementsRequest>,
    ) -> Result<Response<Self::WatchEntitlementsStream>, Status> {
        let after = Revision::new(request.into_inner().after_revision);
        // Before the first snapshot there is no backlog to send, and loading it sends no
        // changes: a watcher let in now would miss every user.
        if self.cache.as_of() == 0 {
            return Err(Status::unavailable("the entitlement snapshot is still loading; retry"));
        }
        // Subscribe before reading the backlog, so no change falls between the two.
        let live = self.cache.subscribe();
        let head = self.cache.revision();
        let backlog = self.cache.changed_after(after);
        let drained = self.drain.clone().wait();
        let count = backlog.len();
        let mut response =
            Response::new(watch::changes(backlog, (after, head), self.cache.clone(), live, drained));
        response.metadata_mut().insert(BACKLOG_METADATA, count.into());
        Ok(response)
    }
}
