//! The entitlement service binary: settings from the environment, then serve until SIGTERM.

/// A `CheckAccessBatch` of a thousand checks allocates and frees two thousand small
/// strings; glibc's malloc spent a quarter of the service's CPU consolidating them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    entitlement_service::startup::main_with(caixa_runtime::config::Env::from_process()).await
}
