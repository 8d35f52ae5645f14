//! Listeners that bound what a client can hold before it has said anything: a cap on
//! the connections open on each port, and a deadline for connections that send nothing.
//!
//! Every port of both services accepts through a [`Listener`]. A connection from which
//! nothing has been read for the idle deadline, while no request of its own is in
//! progress, is closed: a client that never completes the protocol detection, the TLS
//! handshake, the HTTP/2 preface or a request head is gone within it. HTTP/2 peers are
//! pinged at half the deadline, so a live client's answers keep its connection open
//! through long calls and quiet pools alike.
//!
//! Past the cap, a port either refuses the newcomer at once (the gRPC ports: a tonic
//! server gives no hook to tell a busy connection from an idle one) or closes its
//! longest-idle connection to make room (the HTTP ports, whose requests it tracks), so an
//! idle flood cannot keep Stripe or a probe out. Refusals and accept failures are logged
//! at most once per interval, with how many were not logged.

mod guarded;
mod registry;
mod throttle;

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use futures_util::Stream;
use tokio::net::{TcpListener, TcpStream};

pub use guarded::{Activity, Busy, Guarded};
pub use registry::Closer;
use registry::Registry;
use throttle::Throttle;

use crate::config::{ConfigError, Env};

/// How connections are bounded on every port.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionSettings {
    /// `MAX_CONNECTIONS`: connections open at once on each API port (gRPC, the webhook
    /// bridge), lowered at start when the open-files limit cannot hold them.
    pub max_connections: usize,
    /// `CONNECTION_IDLE_SECONDS`: how long a connection may send nothing while none of
    /// its requests is in progress.
    pub idle: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self { max_connections: 1024, idle: Duration::from_secs(10) }
    }
}

/// Connections each probe port (plaintext gRPC health, metrics) keeps: the kubelet and
/// Prometheus need a handful.
pub const PROBE_CONNECTIONS: usize = 64;

/// Open files kept for what is not a served connection: the database pool, Stripe, the
/// probe ports, files read at runtime.
const RESERVED_FILES: u64 = 512;

impl ConnectionSettings {
    /// Reads `MAX_CONNECTIONS` and `CONNECTION_IDLE_SECONDS`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let max_connections: usize = env.parse_or("MAX_CONNECTIONS", defaults.max_connections)?;
        if max_connections == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }
        let idle = env.seconds("CONNECTION_IDLE_SECONDS", defaults.idle)?;
        if idle < Duration::from_secs(2) {
            return Err(ConfigError::new("CONNECTION_IDLE_SECONDS", "must be at least 2"));
        }
        Ok(Self { max_connections, idle })
    }

    /// The HTTP/2 keepalive: a ping after half the idle deadline without a frame, and
    /// the connection closed if its answer takes another half.
    pub fn keepalive(&self) -> Duration {
        self.idle / 2
    }
}

/// What a port does with a connection past its cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtCap {
    /// Close the newcomer at once.
    Refuse,
    /// Close the connection idle the longest, if one is idle, to make room.
    CloseIdlest,
}

/// Which kind of port a listener serves: it decides the cap.
#[derive(Clone, Copy, Debug)]
pub enum Port {
    /// A port callers or Stripe use: `MAX_CONNECTIONS`.
    Api(&'static str),
    /// A probe or metrics port: [`PROBE_CONNECTIONS`].
    Probe(&'static str),
}

/// A bound port that admits connections within its cap and closes idle ones.
pub struct Listener {
    tcp: TcpListener,
    registry: Arc<Registry>,
    at_cap: AtCap,
    refusals: Throttle,
    accept_failures: Throttle,
}

impl Listener {
    /// Wraps a bound listener.
    pub fn new(tcp: TcpListener, port: Port, settings: &ConnectionSettings, at_cap: AtCap) -> Self {
        let (name, cap) = match port {
            Port::Api(name) => (name, api_cap(settings.max_connections)),
            Port::Probe(name) => (name, PROBE_CONNECTIONS.min(settings.max_connections)),
        };
        tracing::debug!(listener = name, cap, "connection cap");
        Self {
            tcp,
            registry: Arc::new(Registry::new(name, cap, settings.idle)),
            at_cap,
            refusals: Throttle::new(),
            accept_failures: Throttle::new(),
        }
    }

    /// The next admitted connection. Connections past the cap are closed here (the
    /// newcomer, or the idlest under [`AtCap::CloseIdlest`]); accept failures (out of
    /// file descriptors, say) pause the loop briefly instead of spinning.
    pub async fn accept(&self) -> (Guarded<TcpStream>, SocketAddr) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    self.accept_failures.warn(|skipped| {
                        tracing::warn!(listener = self.registry.name(), error = %err, skipped, "accept failed");
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match self.registry.admit(self.at_cap == AtCap::CloseIdlest) {
                Some(ticket) => return (Guarded::new(stream, ticket), peer),
                None => self.refusals.warn(|skipped| {
                    tracing::warn!(
                        listener = self.registry.name(),
                        cap = self.registry.cap(),
                        skipped,
                        "connection refused: the port is at its cap"
                    );
                }),
            }
        }
    }

    /// The admitted connections as a stream, for a server that takes one.
    pub fn incoming(self) -> impl Stream<Item = io::Result<Guarded<TcpStream>>> + Send + 'static {
        futures_util::stream::unfold(self, |listener| async move {
            let (stream, _) = listener.accept().await;
            Some((Ok(stream), listener))
        })
    }
}

/// `configured`, lowered so that every API port at its cap still leaves the process
/// files for the rest (two API ports at most per service).
fn api_cap(configured: usize) -> usize {
    let Some(files) = open_files_limit() else { return configured };
    let share = usize::try_from(files.saturating_sub(RESERVED_FILES) / 2).unwrap_or(usize::MAX).max(16);
    if share < configured {
        tracing::warn!(
            open_files = files,
            configured,
            cap = share,
            "MAX_CONNECTIONS lowered to what the open-files limit holds"
        );
    }
    configured.min(share)
}

/// Raises the soft open-files limit to the hard one (as Go's runtime does), so a
/// deployment's connection caps are not bounded by a low default. Returns the limit.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum
        && limit.current.is_some_and(|soft| soft < hard)
    {
        limit.current = Some(hard);
        if setrlimit(Resource::Nofile, limit).is_err() {
            return open_files_limit();
        }
    }
    open_files_limit()
}

fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}
