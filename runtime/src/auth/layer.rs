//! The tower layer that admits every gRPC call before any handler runs: it authenticates
//! the caller, applies the method policy, and refuses calls beyond the server-wide limit
//! with RESOURCE_EXHAUSTED. Health (probes) is always open and never shed, so a busy
//! server is not mistaken for a dead one; reflection is open unless closed by
//! configuration.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use std::{future::Future, pin::Pin};

use futures_util::future::{Either, Ready, ready};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use super::{ANYONE, Caller, Gate};
use crate::call_metrics::CallTimer;

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, or credentials no one holds.
    Unauthenticated,
    /// An authenticated caller the policy does not allow this method.
    Denied(Caller),
    /// The server is at its limit of calls in progress.
    Overloaded,
}

impl Gate {
    /// Who is calling `path` with these headers and connection, or why not.
    pub fn decide(
        &self,
        path: &str,
        headers: &http::HeaderMap,
        tls: Option<&TlsConnectInfo<TcpConnectInfo>>,
    ) -> Result<Option<Caller>, Refusal> {
        if is_open(path, self.reflection_open) {
            return Ok(None);
        }
        if !self.authenticates() {
            return Ok(None);
        }
        let from_cert = || {
            let certs = tls?.peer_certs()?;
            super::tls::identity(certs.first()?)
        };
        let from_token = || {
            let tokens = self.tokens.as_ref()?;
            let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
            let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
            tokens.caller(token.trim())
        };
        // Asked only when the caller's own rules do not settle it: every check passes here.
        let open_to_anyone = || self.policy.as_ref().is_some_and(|p| p.allows(ANYONE, path));
        let caller = match from_cert().or_else(from_token) {
            Some(identity) => Caller::from(identity),
            // A method the policy opens to anyone (a pricing page's plans) needs none.
            None if open_to_anyone() => return Ok(None),
            None => return Err(Refusal::Unauthenticated),
        };
        match &self.policy {
            Some(policy) if !policy.allows(caller.name(), path) && !open_to_anyone() => {
                Err(Refusal::Denied(caller))
            }
            _ => Ok(Some(caller)),
        }
    }
}

fn is_open(path: &str, reflection_open: bool) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || (reflection_open && path.starts_with("/grpc.reflection."))
}

/// Admits calls to a gRPC server: credentials, method policy, server-wide limit.
#[derive(Clone)]
pub struct AdmitLayer {
    gate: Arc<Gate>,
    in_flight: Option<Arc<Semaphore>>,
}

impl AdmitLayer {
    /// A layer applying `gate`, and at most `in_flight` calls in progress.
    pub fn new(gate: Arc<Gate>, in_flight: Option<usize>) -> Self {
        Self { gate, in_flight: in_flight.map(|n| Arc::new(Semaphore::new(n))) }
    }
}

impl<S> Layer<S> for AdmitLayer {
    type Service = Admit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admit { inner, gate: self.gate.clone(), in_flight: self.in_flight.clone() }
    }
}

/// The service [`AdmitLayer`] makes.
#[derive(Clone)]
pub struct Admit<S> {
    inner: S,
    gate: Arc<Gate>,
    in_flight: Option<Arc<Semaphore>>,
}

pin_project_lite::pin_project! {
    /// A call's response, holding its place under the server-wide limit until it is
    /// done, and timed for the per-method metrics.
    pub struct Admitted<F> {
        #[pin]
        inner: F,
        permit: Option<OwnedSemaphorePermit>,
        timer: Option<CallTimer>,
        // Disabled (and free) unless traces are exported.
        span: tracing::Span,
    }
}

impl<F, E> Future for Admitted<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = {
            let _entered = this.span.enter();
            std::task::ready!(this.inner.poll(cx))
        };
        // A stream keeps its place until its body ends.
        let output = match this.permit.take() {
            Some(permit) => output.map(|response| super::held::Held::response(response, permit)),
            None => output,
        };
        if let (Some(timer), Ok(response)) = (this.timer.take(), &output) {
            let code = timer.finish(response);
            if !this.span.is_disabled() {
                this.span.record("rpc.grpc.status_code", code);
                this.span.record("otel.status_code", if code == 0 { "OK" } else { "ERROR" });
            }
        }
        Poll::Ready(output)
    }
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Admit<S>
where
    S: Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Admitted<S::Future>, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let permit = match &self.in_flight {
            Some(limit) if req.uri().path() != "/grpc.health.v1.Health/Check" => {
                match limit.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => return Either::Right(ready(Ok(refuse(req.uri().path(), Refusal::Overloaded)))),
                }
            }
            _ => None,
        };
        let tls = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
        match self.gate.decide(req.uri().path(), req.headers(), tls) {
            Ok(caller) => {
                let span = crate::telemetry::trace::rpc_span(req.uri().path(), req.headers());
                if let Some(caller) = caller {
                    if !span.is_disabled() {
                        span.record("caller", caller.name());
                    }
                    req.extensions_mut().insert(caller);
                }
                let timer = Some(CallTimer::start(req.uri()));
                let inner = span.in_scope(|| self.inner.call(req));
                Either::Left(Admitted { inner, permit, timer, span })
            }
            Err(refusal) => Either::Right(ready(Ok(refuse(req.uri().path(), refusal)))),
        }
    }
}

/// Logs and counts a refusal (never the credentials) and answers it.
fn refuse(path: &str, refusal: Refusal) -> Response {
    let method: String = path.chars().take(120).collect();
    let status = match refusal {
        Refusal::Overloaded => {
            metrics::counter!("caixa_grpc_shed_total").increment(1);
            return tonic::Status::resource_exhausted("too many calls in progress; retry with backoff")
                .into_http();
        }
        Refusal::Unauthenticated => {
            tracing::warn!(%method, "call refused: missing or unknown credentials");
            metrics::counter!("caixa_auth_refused_total", "reason" => "unauthenticated").increment(1);
            tonic::Status::unauthenticated("missing or unknown credentials")
        }
        Refusal::Denied(caller) => {
            tracing::warn!(caller = caller.name(), %method, "call refused: not allowed for this caller");
            metrics::counter!("caixa_auth_refused_total", "reason" => "permission_denied", "caller" => caller.name().to_owned())
                .increment(1);
            tonic::Status::permission_denied(format!("caller {} may not call {method}", caller.name()))
        }
    };
    status.into_http()
}
