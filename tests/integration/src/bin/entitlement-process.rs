//! The entitlement service binary, built beside the integration tests so they can run it
//! as a process through `CARGO_BIN_EXE_entitlement-process`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    entitlement_service::startup::main_with(caixa_runtime::config::Env::from_process()).await
}
