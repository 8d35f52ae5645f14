//! The billing service, built beside the integration tests so they can run it as a
//! process (and kill it) through `CARGO_BIN_EXE_billing-process`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    billing_service::startup::main_with(caixa_runtime::config::Env::from_process()).await
}
