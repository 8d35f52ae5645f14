//! The billing service binary: serve until SIGTERM, or run an operator command
//! (`billing-service --help` lists them).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    billing_service::cli::main(&args, caixa_runtime::config::Env::from_process()).await
}
