//! The tower layer that authenticates every gRPC call and applies the method policy
//! before any handler runs. Health (probes) is always open; reflection is open unless
//! closed by configuration.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::{Either, Ready, ready};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use super::{Caller, Gate};

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, or credentials no one holds.
    Unauthenticated,
    /// An authenticated caller the policy does not allow this method.
    Denied(Caller),
}

impl Gate {
    /// Who is calling `path` with these headers and connection, or why not.
    pub fn decide(
        &self,
        path: &str,
        headers: &http::HeaderMap,
        tls: Option<&TlsConnectInfo<TcpConnectInfo>>,
    ) -> Result<Option<Caller>, Refusal> {
        if path.starts_with("/grpc.health.v1.Health/")
            || (self.reflection_open && path.starts_with("/grpc.reflection."))
        {
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
        let caller = Caller::from(from_cert().or_else(from_token).ok_or(Refusal::Unauthenticated)?);
        match &self.policy {
            Some(policy) if !policy.allows(caller.name(), path) => Err(Refusal::Denied(caller)),
            _ => Ok(Some(caller)),
        }
    }
}

/// Adds authentication and authorization to a gRPC server.
#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

impl AuthLayer {
    /// A layer applying `gate`.
    pub fn new(gate: Arc<Gate>) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize { inner, gate: self.gate.clone() }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    gate: Arc<Gate>,
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Authorize<S>
where
    S: Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let tls = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
        match self.gate.decide(req.uri().path(), req.headers(), tls) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    req.extensions_mut().insert(caller);
                }
                Either::Left(self.inner.call(req))
            }
            Err(refusal) => Either::Right(ready(Ok(refuse(req.uri().path(), refusal)))),
        }
    }
}

/// Logs and counts a refusal (never the credentials) and answers it.
fn refuse(path: &str, refusal: Refusal) -> Response {
    let method: String = path.chars().take(120).collect();
    let status = match refusal {
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
