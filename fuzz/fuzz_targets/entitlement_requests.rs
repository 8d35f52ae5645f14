//! Every entitlement request decoder, through the real handlers: the first byte picks
//! the RPC, the rest is decoded as its request message and, when it decodes, answered by
//! the service's own handler over an in-memory state.
#![no_main]

use std::{sync::Arc, time::Duration};

use caixa_proto::entitlement::v1::{
    CheckAccessBatchRequest, CheckAccessRequest, GetEntitlementsRequest,
    entitlement_service_server::EntitlementService,
};
use caixa_entities::state::{SubscriptionState, UserState};
use caixa_types::Revision;
use entitlement_service::{
    domain::{cache::Cache, entry::Entry, users::Users},
    grpc::EntitlementApi,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    static API: EntitlementApi = EntitlementApi {
        cache: loaded_cache(),
        policy: caixa_policy::Policy::default(),
        staleness_bound: Duration::from_secs(30),
        stale_deny_features: vec!["reports".to_owned()],
        freshness_wait_cap: Duration::from_millis(1),
        waiting: Arc::new(tokio::sync::Semaphore::new(4)),
        // Only unary calls are fuzzed: no stream waits on the drain.
        drain: caixa_runtime::grpc::Supervisor::new(Duration::from_secs(1)).drain_signal(),
    };
}

/// A state holding users `u0`..`u3`, one per status that matters.
fn loaded_cache() -> Arc<Cache> {
    let cache = Arc::new(Cache::default());
    let now = chrono::Utc::now().timestamp();
    cache.load(Users::with_capacity(8), Revision::new(1), now);
    for (n, status) in ["trialing", "active", "past_due", "canceled"].into_iter().enumerate() {
        let subscription = SubscriptionState {
            id: format!("sub_{n}"),
            customer_id: format!("cus_{n}"),
            status: caixa_types::status_from_stripe(status),
            trial_end: Some(now + 86_400),
            current_period_start: Some(now - 86_400),
            current_period_end: Some(now + 86_400),
            features: vec!["reports".to_owned()],
            ..SubscriptionState::default()
        };
        let state = UserState { subscriptions: vec![subscription] };
        let revision = Revision::new(2 + n as u64);
        cache.apply(Entry::new(&format!("u{n}"), revision, &state, cache.plans()), now);
    }
    cache
}

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else { return };
    RUNTIME.with(|runtime| {
        API.with(|api| {
            runtime.block_on(async {
                match which % 3 {
                    0 => {
                        if let Ok(request) = CheckAccessRequest::decode(body) {
                            let _ = api.check_access(tonic::Request::new(request)).await;
                        }
                    }
                    1 => {
                        if let Ok(request) = CheckAccessBatchRequest::decode(body) {
                            let _ = api.check_access_batch(tonic::Request::new(request)).await;
                        }
                    }
                    _ => {
                        if let Ok(request) = GetEntitlementsRequest::decode(body) {
                            let _ = api.get_entitlements(tonic::Request::new(request)).await;
                        }
                    }
                }
            });
        });
    });
});
