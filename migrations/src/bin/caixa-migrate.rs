//! `caixa-migrate up|down|status`: applies every pending migration, rolls every
//! migration back, or lists them, against `DATABASE_URL`.

use std::process::ExitCode;

use caixa_migrations::Migrator;
use sea_orm_migration::{MigratorTrait, sea_orm::Database};

const DEFAULT_DATABASE_URL: &str = "sqlite://caixa.sqlite?mode=rwc";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let db = match Database::connect(&url).await {
        Ok(db) => db,
        Err(err) => {
            eprintln!("cannot connect to DATABASE_URL: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command.as_str() {
        "up" => Migrator::up(&db, None).await,
        "down" => Migrator::down(&db, None).await,
        "status" => Migrator::get_migration_with_status(&db).await.map(|migrations| {
            for m in migrations {
                println!("{:<40} {}", m.name(), m.status());
            }
        }),
        _ => {
            eprintln!("usage: caixa-migrate up|down|status   (uses DATABASE_URL)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{command} failed: {err}");
            ExitCode::FAILURE
        }
    }
}
