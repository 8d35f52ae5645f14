//! A state that a panicking writer left poisoned answers UNAVAILABLE on every check,
//! never "no subscription", and takes no change or revision after it; a freshness far
//! beyond the head is refused instead of waited for.

use std::{sync::Arc, time::Duration};

use caixa_entities::state::{SubscriptionState, UserState};
use caixa_proto::entitlement::v1::{
    CheckAccessBatchRequest, CheckAccessRequest, GetEntitlementsRequest,
    entitlement_service_server::EntitlementService,
};
use caixa_types::Revision;
use tonic::{Code, Request};

use super::EntitlementApi;
use crate::domain::{cache::Cache, entry::Entry, users::Users};

fn api(cache: Arc<Cache>) -> EntitlementApi {
    EntitlementApi {
        cache,
        policy: caixa_policy::Policy::default(),
        staleness_bound: Duration::from_secs(3600),
        stale_deny_features: Vec::new(),
        freshness_wait_cap: Duration::from_millis(1),
        waiting: Arc::new(tokio::sync::Semaphore::new(4)),
        drain: caixa_runtime::grpc::Supervisor::new(Duration::from_secs(1)).drain_signal(),
    }
}

#[tokio::test]
async fn a_poisoned_state_answers_unavailable_and_applies_nothing() {
    // Arrange: a subscriber, then a writer panics mid-change.
    let cache = Arc::new(Cache::default());
    let now = chrono::Utc::now().timestamp();
    cache.load(Users::with_capacity(4), Revision::new(1), now);
    let active = SubscriptionState {
        id: "sub_1".into(),
        status: caixa_proto::billing::v1::SubscriptionStatus::Active,
        ..SubscriptionState::default()
    };
    let state = UserState { subscriptions: vec![active] };
    cache.apply(Entry::new("ana", Revision::new(2), &state, cache.plans()), now);
    let api = api(cache.clone());
    let check = || CheckAccessRequest { user_id: "ana".into(), ..Default::default() };
    assert!(api.check_access(Request::new(check())).await.unwrap().into_inner().allowed);
    cache.poison();

    // Act
    let single = api.check_access(Request::new(check())).await.map(drop);
    let batch = CheckAccessBatchRequest { checks: vec![check()] };
    let batch = api.check_access_batch(Request::new(batch)).await.map(drop);
    let entitlements = GetEntitlementsRequest { user_id: "ana".into(), ..Default::default() };
    let entitlements = api.get_entitlements(Request::new(entitlements)).await.map(drop);
    cache.apply(Entry::new("bia", Revision::new(3), &state, cache.plans()), now);

    // Assert
    for (rpc, result) in
        [("CheckAccess", single), ("CheckAccessBatch", batch), ("GetEntitlements", entitlements)]
    {
        assert_eq!(result.map_err(|s| s.code()), Err(Code::Unavailable), "{rpc}");
    }
    assert!(!cache.usable());
    assert_eq!(cache.revision(), Revision::new(2), "a change not applied is not claimed");
}

#[tokio::test]
async fn a_revision_far_beyond_the_head_is_refused_at_once() {
    use caixa_proto::entitlement::v1::{Consistency, consistency::Requirement};
    let cache = Arc::new(Cache::default());
    cache.load(Users::with_capacity(4), Revision::new(7), chrono::Utc::now().timestamp());
    let api = api(cache);
    let asking = |revision| CheckAccessRequest {
        user_id: "ana".into(),
        consistency: Some(Consistency { requirement: Some(Requirement::AtLeastAsFresh(revision)) }),
        ..Default::default()
    };
    let far = api.check_access(Request::new(asking(7 + super::entitlement::FRESHNESS_AHEAD_LIMIT + 1))).await;
    assert_eq!(far.map(drop).map_err(|s| s.code()), Err(Code::OutOfRange));
    let near = api.check_access(Request::new(asking(8))).await;
    assert_eq!(near.map(drop).map_err(|s| s.code()), Err(Code::Unavailable), "a near revision is waited for");
}

#[tokio::test]
async fn only_a_share_of_calls_may_wait_for_a_revision() {
    use caixa_proto::entitlement::v1::{Consistency, consistency::Requirement};
    // Arrange: two may wait, each up to a minute, for a revision that does not come.
    let cache = Arc::new(Cache::default());
    cache.load(Users::with_capacity(4), Revision::new(7), chrono::Utc::now().timestamp());
    let api = Arc::new(EntitlementApi {
        freshness_wait_cap: Duration::from_secs(60),
        waiting: Arc::new(tokio::sync::Semaphore::new(2)),
        ..api(cache.clone())
    });
    let asking = || CheckAccessRequest {
        user_id: "ana".into(),
        consistency: Some(Consistency { requirement: Some(Requirement::AtLeastAsFresh(9)) }),
        ..Default::default()
    };

    // Act: five ask at once; the three that cannot wait answer at once.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (api, request) = (api.clone(), asking());
        calls.spawn(async move {
            api.check_access(Request::new(request)).await.map(drop).map_err(|s| s.message().to_owned())
        });
    }
    let mut refused = Vec::new();
    for _ in 0..3 {
        refused.push(calls.join_next().await.unwrap().unwrap());
    }
    // The two waiting get the revision they asked for.
    cache.apply(
        Entry::new("bia", Revision::new(9), &UserState::default(), cache.plans()),
        chrono::Utc::now().timestamp(),
    );
    let waited: Vec<_> = calls.join_all().await;

    // Assert
    assert!(
        refused.iter().all(|r| r.as_ref().is_err_and(|m| m.contains("too many calls are waiting"))),
        "{refused:?}"
    );
    assert_eq!(waited, vec![Ok(()), Ok(())]);
}
