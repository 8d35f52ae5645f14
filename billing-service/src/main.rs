//! The billing service binary: serve until SIGTERM, or run an operator command
//! (`billing-service --help` lists them).

/// The entitlement service's allocator, so that both services (and the benchmark, which
/// re-runs itself as either) allocate alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    billing_service::cli::main(&args, caixa_runtime::config::Env::from_process()).await
}
