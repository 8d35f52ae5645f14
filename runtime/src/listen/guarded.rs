//! A connection that closes itself when its peer sends nothing for the idle deadline
//! while none of its requests is in progress.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Sleep,
};
use tonic::transport::server::Connected;

use super::registry::{Closer, Ticket};

/// What a connection has done lately: when it last sent a byte, and how many of its
/// requests are in progress.
pub struct Activity {
    epoch: Instant,
    idle: Duration,
    last_read_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    pub(super) fn new(epoch: Instant, idle: Duration) -> Self {
        let activity = Self { epoch, idle, last_read_ms: AtomicU64::new(0), busy: AtomicUsize::new(0) };
        activity.touch();
        activity
    }

    /// Marks a request in progress until the returned guard is dropped: meanwhile the
    /// connection is never closed as idle, however long the handler takes.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    pub(super) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    /// Milliseconds after the port's epoch at which the peer last sent something.
    pub(super) fn last_read(&self) -> u64 {
        self.last_read_ms.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_read_ms.store(now, Ordering::Relaxed);
    }

    /// When the connection becomes idle past its deadline, counting from its last read.
    fn deadline(&self) -> tokio::time::Instant {
        let last = self.epoch + Duration::from_millis(self.last_read());
        tokio::time::Instant::from_std(last + self.idle)
    }
}

/// A request in progress on a connection (see [`Activity::busy`]).
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        // The idle deadline counts from the end of the request, not from its start.
        self.0.touch();
    }
}

/// A connection admitted by a [`Listener`](super::Listener): it holds its place in the
/// port's cap until dropped, and reads fail with `TimedOut` once it is idle past the
/// deadline.
pub struct Guarded<S> {
    inner: S,
    ticket: Ticket,
    sleep: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    pub(super) fn new(inner: S, ticket: Ticket) -> Self {
        let sleep = Box::pin(tokio::time::sleep_until(ticket.activity.deadline()));
        Self { inner, ticket, sleep }
    }

    /// The connection's activity, for marking its requests in progress.
    pub fn activity(&self) -> Arc<Activity> {
        self.ticket.activity.clone()
    }

    /// What lets the port close this connection, once the task serving it is known, when
    /// a newcomer needs its place while it is idle.
    pub fn closer(&self) -> Closer {
        self.ticket.closer()
    }

    /// Whether the deadline has passed with nothing read and nothing in progress;
    /// otherwise the timer is set again to the current deadline (registering the waker).
    fn idle_past_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            let activity = &self.ticket.activity;
            if activity.is_busy() {
                // A handler is working: look again a deadline from now.
                activity.touch();
            }
            let deadline = activity.deadline();
            if deadline <= tokio::time::Instant::now() {
                return true;
            }
            self.sleep.as_mut().reset(deadline);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.ticket.activity.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.idle_past_deadline(cx) => {
                metrics::counter!("caixa_connections_closed_total", "listener" => this.ticket.listener(), "why" => "idle")
                    .increment(1);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle past its deadline")))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: Connected> Connected for Guarded<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
