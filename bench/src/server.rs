//! The entitlement service under test, in its own process (this binary, re-run in the
//! serving role), so that its memory is measured alone and the operating system
//! schedules it apart from the load generator.

use std::{net::SocketAddr, time::Instant};

use caixa_test_support::{database::TestDatabase, process::ServiceProcess};

/// Set in the child's environment to make this binary serve instead of benchmark.
pub const SERVE_ROLE: &str = "CAIXA_BENCH_SERVE_ENTITLEMENTS";

/// A running entitlement service process.
pub struct Server {
    process: ServiceProcess,
    /// Its gRPC address.
    pub addr: SocketAddr,
    /// From spawn to SERVING.
    pub cold_start: std::time::Duration,
}

impl Server {
    /// Starts the service on `db`, following billing at `billing`, and waits for SERVING.
    pub async fn start(db: &TestDatabase, billing: SocketAddr) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let started = Instant::now();
        let process = ServiceProcess::spawn(
            &exe.to_string_lossy(),
            &[
                (SERVE_ROLE, "1".to_owned()),
                ("DATABASE_URL", db.url.clone()),
                ("BILLING_URL", format!("http://{billing}")),
                ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ],
        );
        let addr = process.address("entitlement service listening", "grpc_addr").await;
        crate::load::wait_serving(addr).await;
        Ok(Self { cold_start: started.elapsed(), addr, process })
    }

    /// The process's peak resident set so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.process.pid().map_or(0, |pid| status_kib(&format!("/proc/{pid}/status"), "VmHWM:"))
    }

    /// The process's resident set now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.process.pid().map_or(0, |pid| status_kib(&format!("/proc/{pid}/status"), "VmRSS:"))
    }

    /// Stops it with SIGTERM.
    pub async fn stop(mut self) {
        self.process.terminate();
        self.process.wait_exit(std::time::Duration::from_secs(30)).await;
    }
}

/// A `kB` line of a `/proc/.../status` file.
pub fn status_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
