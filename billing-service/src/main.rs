//! The billing service binary: a subcommand (`register-stripe-webhook`, `inbox`,
//! `replay-event`), or serve until SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let env = caixa_runtime::config::Env::from_process();
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = billing_service::cli::run(&env, &args).await {
        return code;
    }
    billing_service::startup::main_with(env).await
}
