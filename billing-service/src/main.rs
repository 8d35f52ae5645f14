//! The billing service binary: serve until SIGTERM, or run an operator command
//! (`billing-service --help` lists them).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let env = caixa_runtime::config::Env::from_process();
    match billing_service::cli::parse(&args) {
        Err(code) => code,
        Ok(Some(command)) => billing_service::cli::run(&env, command).await,
        Ok(None) => billing_service::startup::main_with(env).await,
    }
}
