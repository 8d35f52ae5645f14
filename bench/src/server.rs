//! The entitlement service under test, in its own process (this binary, re-run in the
//! serving role), so that its memory is measured alone and the operating system
//! schedules it apart from the load generator.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use caixa_test_support::{database::TestDatabase, process::ServiceProcess};

/// Set in the child's environment to make this binary serve instead of benchmark.
pub const SERVE_ROLE: &str = "CAIXA_BENCH_SERVE_ENTITLEMENTS";

/// A running entitlement service process.
pub struct Server {
    process: ServiceProcess,
    /// Its gRPC address.
    pub addr: SocketAddr,
    /// Its HTTP address (`/metrics`).
    pub http_addr: SocketAddr,
    /// From spawn to SERVING.
    pub cold_start: std::time::Duration,
}

impl Server {
    /// Starts the service on `db`, following billing at `billing`, and waits for SERVING.
    /// `core`, when given, is the one core it runs on.
    pub async fn start(db: &TestDatabase, billing: SocketAddr, core: Option<usize>) -> anyhow::Result<Self> {
        Self::spawn(db, billing, core, &[], &[]).await
    }

    /// [`Self::start`] with `extra` settings.
    pub async fn start_with(
        db: &TestDatabase,
        billing: SocketAddr,
        core: Option<usize>,
        extra: &[(&'static str, String)],
    ) -> anyhow::Result<Self> {
        Self::spawn(db, billing, core, &[], extra).await
    }

    /// The same under a `wrapper` command (`valgrind --tool=callgrind …`) that runs this
    /// binary as its last argument, in the same process.
    pub async fn start_under(
        db: &TestDatabase,
        billing: SocketAddr,
        wrapper: &[String],
    ) -> anyhow::Result<Self> {
        Self::spawn(db, billing, None, wrapper, &[]).await
    }

    async fn spawn(
        db: &TestDatabase,
        billing: SocketAddr,
        core: Option<usize>,
        wrapper: &[String],
        extra: &[(&'static str, String)],
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?.to_string_lossy().into_owned();
        let started = Instant::now();
        let mut env = vec![
            (SERVE_ROLE, "1".to_owned()),
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_URL", format!("http://{billing}")),
            ("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("ENTITLEMENT_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ];
        env.extend(core.map(|core| (SERVE_CORE, core.to_string())));
        env.extend(extra.iter().cloned());
        let process = match wrapper.split_first() {
            None => ServiceProcess::spawn(&exe, &env),
            Some((program, args)) => {
                let args: Vec<&str> = args.iter().map(String::as_str).chain([exe.as_str()]).collect();
                ServiceProcess::spawn_with_args(program, &args, &env)
            }
        };
        // A wrapper such as valgrind takes its time before the service starts.
        let listening = process.wait_for_log("entitlement service listening", Duration::from_secs(300)).await;
        let address = |field: &str| listening[field].as_str().and_then(|a| a.parse::<SocketAddr>().ok());
        let (Some(addr), Some(http_addr)) = (address("grpc_addr"), address("http_addr")) else {
            anyhow::bail!("no addresses in {listening}");
        };
        crate::load::wait_serving(addr).await;
        Ok(Self { cold_start: started.elapsed(), addr, http_addr, process })
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// The process's peak resident set so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.process.pid().map_or(0, |pid| status_kib(&format!("/proc/{pid}/status"), "VmHWM:"))
    }

    /// The process's resident set now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.process.pid().map_or(0, |pid| status_kib(&format!("/proc/{pid}/status"), "VmRSS:"))
    }

    /// CPU time the process has used so far, all its threads, in nanoseconds (the first
    /// field of each task's `schedstat`).
    pub fn cpu_ns(&self) -> u64 {
        let Some(pid) = self.process.pid() else { return 0 };
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
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

/// The child's environment variable naming the core it should run on.
pub const SERVE_CORE: &str = "CAIXA_BENCH_SERVE_CORE";

/// On a machine of two or more cores, keeps the service on the last core and the load
/// generator on the others, so that neither preempts the other and the numbers are per
/// core of service (`BENCH_SHARED_CORES=1` lets the scheduler mix them instead). Returns
/// the service's core, for the child's environment.
pub fn pin_to_own_core(serving: bool) -> Option<usize> {
    if serving {
        let core = std::env::var(SERVE_CORE).ok()?;
        pin(&core);
        return core.parse().ok();
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores < 2 || std::env::var_os("BENCH_SHARED_CORES").is_some() {
        return None;
    }
    let last = cores - 1;
    pin(&format!("0-{}", last - 1)).then_some(last)
}

fn pin(cores: &str) -> bool {
    let pinned = std::process::Command::new("taskset")
        .args(["-p", "-c", cores, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !pinned {
        eprintln!("taskset is unavailable; the service and the load share every core");
    }
    pinned
}
