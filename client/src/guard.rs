//! `RequireFeature`: a `tower` layer that lets a request through only when its user may
//! use a feature. One line on an axum route or a tonic service:
//!
//! ```ignore
//! Router::new().route("/reports", get(reports))
//!     .layer(RequireFeature::new(client, "reports").user_from(|req| header(req, "x-user-id")));
//! ```
//!
//! Allowed: the inner service runs, with the [`Access`] in the request's extensions.
//! Denied: `PERMISSION_DENIED` (gRPC) or 403 with a JSON body (HTTP), both naming the
//! reason. No user: `UNAUTHENTICATED` or 401. The entitlement service unreachable: the
//! feature's [`FailMode`], logged and counted (`caixa_guard_unavailable_total`); failing
//! open hands the handler [`Access::degraded`]. Any other failure (credentials the
//! service refuses, a method it does not allow this caller, a user id it rejects) is not
//! an outage and no fail mode applies: `INTERNAL` or 500, logged the first time and
//! counted (`caixa_guard_errors_total`).
//!
//! On a tonic server, health checks and reflection pass unguarded (probes and tools have
//! no user), unless [`RequireFeature::method`] names one of their methods; `method` also
//! gives any method a feature of its own.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use tower::{Layer, Service};

use crate::{Access, ClientError, EntitlementClient, LocalReplica};

/// What the guard does when the entitlement service cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Let the request through (a feature whose outage should not lock users out).
    Open,
    /// Refuse it with UNAVAILABLE / 503 (a feature that must never be given away).
    Closed,
}

/// A response body the guard can answer with.
pub trait GuardBody: Default {
    /// A body holding `text`.
    fn from_text(text: String) -> Self;
}

impl GuardBody for tonic::body::Body {
    fn from_text(text: String) -> Self {
        Self::new(http_body_util::Full::new(bytes::Bytes::from(text)))
    }
}

#[cfg(feature = "axum")]
impl GuardBody for axum::body::Body {
    fn from_text(text: String) -> Self {
        Self::from(text)
    }
}

/// Until a user extractor is given, the guard cannot be used as a layer.
#[derive(Clone, Copy, Debug)]
pub struct NoUser;

/// The layer. Build it with [`RequireFeature::new`] and [`RequireFeature::user_from`].
#[derive(Clone)]
pub struct RequireFeature<U> {
    client: EntitlementClient,
    replica: Option<LocalReplica>,
    feature: Arc<str>,
    fail: FailMode,
    user_from: U,
    /// Set once a failure that is not an outage has been logged.
    said: Arc<AtomicBool>,
    /// gRPC methods (`/package.Service/Method`) with a feature of their own.
    methods: Arc<Vec<(String, Arc<str>)>>,
    /// The revision a request's answer must reflect, when the caller knows one.
    revision_from: Option<RevisionFrom>,
}

/// Reads, from a request, a revision its answer must reflect.
type RevisionFrom = Arc<dyn Fn(&http::request::Parts) -> Option<crate::Revision> + Send + Sync>;

/// gRPC services any caller reaches unguarded, unless a method of theirs is named with
/// [`RequireFeature::method`]: health checks (probes carry no user) and reflection.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

impl RequireFeature<NoUser> {
    /// Requires `feature` (an empty one: any access at all); fails closed by default.
    ///
    /// # Panics
    /// When `feature` is not a feature key (lowercase letters, digits, `_ - . :`): a
    /// guard is built at start, where a misspelt feature should stop the program rather
    /// than refuse every request. [`RequireFeature::try_new`] returns the error instead.
    pub fn new(client: EntitlementClient, feature: &str) -> Self {
        match Self::try_new(client, feature) {
            Ok(guard) => guard,
            Err(err) => panic!("RequireFeature::new: {err}"),
        }
    }

    /// [`RequireFeature::new`], with a feature that is not a feature key as an error.
    pub fn try_new(
        client: EntitlementClient,
        feature: &str,
    ) -> Result<Self, caixa_types::input::InvalidInput> {
        let feature = caixa_types::input::feature(feature)?;
        Ok(Self {
            client,
            replica: None,
            feature: feature.into(),
            fail: FailMode::Closed,
            user_from: NoUser,
            said: Arc::default(),
            methods: Arc::default(),
            revision_from: None,
        })
    }

    /// How to find the user of a request (a header set by your authentication, a claim,
    /// an extension): `None` is answered UNAUTHENTICATED / 401.
    pub fn user_from<U>(self, user_from: U) -> RequireFeature<U>
    where
        U: Fn(&http::request::Parts) -> Option<String> + Clone,
    {
        RequireFeature {
            client: self.client,
            replica: self.replica,
            feature: self.feature,
            fail: self.fail,
            user_from,
            said: self.said,
            methods: self.methods,
            revision_from: self.revision_from,
        }
    }
}

impl<U> RequireFeature<U> {
    /// Decide from `replica` in-process while it is fresh; ask the service when it is not.
    pub fn with_replica(mut self, replica: LocalReplica) -> Self {
        self.replica = Some(replica);
        self
    }

    /// What to do when the entitlement service cannot answer.
    pub fn fail(mut self, mode: FailMode) -> Self {
        self.fail = mode;
        self
    }

    /// Read your writes: `revision_from` reads, from a request, a revision its answer must
    /// reflect (one `SyncCheckoutSession` returned, carried in a cookie or header). The
    /// replica answers only once it holds that revision, and the service is asked for an
    /// answer at least as fresh, so a user who has just paid is not refused from an older
    /// copy.
    pub fn revision_from<F>(mut self, revision_from: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Option<crate::Revision> + Send + Sync + 'static,
    {
        self.revision_from = Some(Arc::new(revision_from));
        self
    }

    /// Requires `feature` for the gRPC method `path` (`/package.Service/Method`) instead
    /// of the guard's own; a health or reflection method named here is guarded too.
    ///
    /// # Panics
    /// When `feature` is not a feature key, as [`RequireFeature::new`].
    pub fn method(mut self, path: &str, feature: &str) -> Self {
        match caixa_types::input::feature(feature) {
            Ok(feature) => Arc::make_mut(&mut self.methods).push((path.to_owned(), feature.into())),
            Err(err) => panic!("RequireFeature::method({path:?}): {err}"),
        }
        self
    }
}

impl<S, U: Clone> Layer<S> for RequireFeature<U> {
    type Service = RequireFeatureService<S, U>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireFeatureService { inner, guard: self.clone() }
    }
}

/// The service [`RequireFeature`] wraps around a route or a gRPC service.
#[derive(Clone)]
pub struct RequireFeatureService<S, U> {
    inner: S,
    guard: RequireFeature<U>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, U, B, R> Service<http::Request<B>> for RequireFeatureService<S, U>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    U: Fn(&http::request::Parts) -> Option<String> + Clone + Send + 'static,
    B: Send + 'static,
    R: GuardBody + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready runs the request; a fresh clone stays behind.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let path = request.uri().path();
        let feature = match self.guard.methods.iter().find(|(method, _)| method == path) {
            Some((_, feature)) => feature.clone(),
            None if OPEN_SERVICES.iter().any(|open| path.starts_with(open)) => {
                return Box::pin(inner.call(request));
            }
            None => self.guard.feature.clone(),
        };
        let (mut parts, body) = request.into_parts();
        let grpc = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let user = (self.guard.user_from)(&parts);
        let at_least = self.guard.revision_from.as_ref().and_then(|read| read(&parts));
        let (fail, said) = (self.guard.fail, self.guard.said.clone());
        let client = match at_least {
            Some(revision) => self.guard.client.at_least_as_fresh(revision),
            None => self.guard.client.clone(),
        };
        // A fresh replica that holds the revision asked for decides here; otherwise
        // (None) the service does.
        let local = user.as_deref().and_then(|u| {
            let replica = self.guard.replica.as_ref()?;
            match at_least {
                Some(revision) => replica.check_at_least(u, &feature, revision),
                None => replica.check(u, &feature),
            }
        });
        Box::pin(async move {
            let Some(user) = user else { return Ok(answer(grpc, Refusal::NoUser, &feature)) };
            let checked = match local {
                Some(access) => Ok(access),
                None => client.check(&user, &feature).await,
            };
            match checked {
                Ok(access) if access.allowed => {
                    parts.extensions.insert(access);
                    inner.call(http::Request::from_parts(parts, body)).await
                }
                Ok(access) => {
                    metrics::counter!("caixa_guard_denied_total", "feature" => feature.to_string())
                        .increment(1);
                    Ok(answer(grpc, Refusal::Denied(&access), &feature))
                }
                Err(err @ ClientError::Unavailable(_)) => {
                    let mode = if fail == FailMode::Open { "open" } else { "closed" };
                    metrics::counter!("caixa_guard_unavailable_total", "feature" => feature.to_string(), "fail" => mode)
                        .increment(1);
                    tracing::warn!(%feature, fail = mode, error = %err, "entitlement check failed; applying the fail mode");
                    match fail {
                        FailMode::Open => {
                            parts.extensions.insert(Access::degraded());
                            inner.call(http::Request::from_parts(parts, body)).await
                        }
                        FailMode::Closed => Ok(answer(grpc, Refusal::Unavailable, &feature)),
                    }
                }
                Err(err) => {
                    let kind = match err {
                        ClientError::Unauthorized(_) => "unauthorized",
                        ClientError::Rejected(_) => "rejected",
                        _ => "other",
                    };
                    metrics::counter!("caixa_guard_errors_total", "feature" => feature.to_string(), "kind" => kind)
                        .increment(1);
                    // The same cause (a bad token, a refused method) fails every request:
                    // said once, then counted.
                    if said.swap(true, Ordering::Relaxed) {
                        tracing::debug!(%feature, kind, error = %err, "entitlement check refused");
                    } else {
                        tracing::error!(%feature, kind, error = %err, "entitlement check refused; this is not an outage, so no fail mode applies (said once)");
                    }
                    Ok(answer(grpc, Refusal::Broken, &feature))
                }
            }
        })
    }
}

enum Refusal<'a> {
    NoUser,
    Denied(&'a Access),
    Unavailable,
    /// The check failed for a reason retrying will not fix.
    Broken,
}

/// The refusal as gRPC (a trailers-only status) or HTTP (a status and a JSON body).
fn answer<R: GuardBody>(grpc: bool, refusal: Refusal<'_>, feature: &str) -> http::Response<R> {
    let (status, http_status, body) = match refusal {
        Refusal::NoUser => (
            tonic::Status::unauthenticated("no user on the request"),
            http::StatusCode::UNAUTHORIZED,
            serde_json::json!({ "error": "unauthenticated", "message": "no user on the request" }),
        ),
        Refusal::Denied(access) => {
            let message = format!("access to {feature:?} denied: {}", access.explanation());
            let body = serde_json::json!({
                "error": "forbidden", "feature": feature, "message": message,
                "reason": access.reason.as_str_name(), "status": access.status.as_str_name(),
            });
            (tonic::Status::permission_denied(message), http::StatusCode::FORBIDDEN, body)
        }
        Refusal::Unavailable => (
            tonic::Status::unavailable("access cannot be checked now; retry"),
            http::StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "error": "unavailable", "message": "access cannot be checked now; retry" }),
        ),
        Refusal::Broken => (
            tonic::Status::internal("access cannot be checked: the check was refused"),
            http::StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "error": "internal", "message": "access cannot be checked: the check was refused" }),
        ),
    };
    if grpc {
        return status.into_http();
    }
    let mut response = http::Response::new(R::from_text(body.to_string()));
    *response.status_mut() = http_status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}
