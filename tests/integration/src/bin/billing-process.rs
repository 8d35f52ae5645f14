//! The billing service binary, built beside the integration tests so they can run it as
//! a process (and kill it) through `CARGO_BIN_EXE_billing-process`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    billing_service::cli::main(&args, caixa_runtime::config::Env::from_process()).await
}
