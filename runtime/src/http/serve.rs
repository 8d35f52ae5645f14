//! Serving HTTP with the limits a public endpoint needs: a deadline for the request head
//! (a client trickling one byte a second is cut off), a cap on its size, connections
//! closed when idle (see [`crate::listen`]), HTTP/2 keepalive, and a graceful drain.

use std::{
    future::Future,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::Request, response::Response};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};

use crate::listen::{Activity, Listener};

/// Limits on what a client may send before its request is handled.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// The largest request head, in bytes (431 past it).
    pub max_header_bytes: usize,
    /// How long a client may take to send its request head.
    pub header_timeout: Duration,
    /// HTTP/2 keepalive: a ping after this long without a frame, and the connection
    /// closed if its answer takes as long again.
    pub keepalive: Duration,
}

/// Serves `router` on `listener` until `drained`, then lets open requests finish.
pub async fn serve(
    listener: Listener,
    router: Router,
    limits: HttpLimits,
    drained: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(limits.keepalive)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    tokio::pin!(drained);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut drained => break,
            accepted = listener.accept() => accepted,
        };
        let service =
            TowerToHyperService::new(Tracked { router: router.clone(), activity: stream.activity() });
        let closer = stream.closer();
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        let task = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
            }
        });
        closer.closes(task.abort_handle());
    }
    graceful.shutdown().await;
    Ok(())
}

/// The router, marking each request in progress on its connection so the connection is
/// not closed as idle while a handler works or a body streams in.
#[derive(Clone)]
struct Tracked {
    router: Router,
    activity: std::sync::Arc<Activity>,
}

impl tower::Service<Request<hyper::body::Incoming>> for Tracked {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let busy = self.activity.busy();
        let mut router = self.router.clone();
        Box::pin(async move {
            let response = tower::Service::call(&mut router, request.map(Body::new)).await;
            drop(busy);
            response
        })
    }
}
