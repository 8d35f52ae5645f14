//! The billing service binary: settings from the environment, then serve until SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    billing_service::startup::main_with(caixa_runtime::config::Env::from_process()).await
}
