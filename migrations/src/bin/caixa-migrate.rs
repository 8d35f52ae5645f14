//! `caixa-migrate`: applies, rolls back or lists the schema migrations of `DATABASE_URL`
//! (`caixa-migrate --help`).

use std::process::ExitCode;

const DEFAULT_DATABASE_URL: &str = "sqlite://caixa.sqlite?mode=rwc";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    caixa_migrations::cli::main(std::env::args(), &url).await
}
