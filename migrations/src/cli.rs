//! `caixa-migrate up | down [N] | down --all --yes | status` against `DATABASE_URL`. A
//! rollback reverses the newest migration unless told more; going below the first
//! migration drops every table, so it must be asked for by name (`--all`) and confirmed
//! (`--yes`). Exit codes: 0 done, 1 failed, 2 bad usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sea_orm_migration::{MigrationStatus, MigratorTrait, sea_orm::Database};

use crate::Migrator;

/// Applies, rolls back or lists the schema migrations of `DATABASE_URL`.
#[derive(Debug, Parser)]
#[command(name = "caixa-migrate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest N applied migrations (default 1).
    Down {
        /// How many to roll back; at most all but the first.
        #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        n: u32,
        /// Roll back every migration: every table is dropped, with its data.
        #[arg(long, conflicts_with = "n")]
        all: bool,
        /// Confirm --all.
        #[arg(long)]
        yes: bool,
    },
    /// List every migration and whether it is applied.
    Status,
}

/// Runs `args` (the program name first) against `database_url`.
pub async fn main(args: impl IntoIterator<Item = String>, database_url: &str) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    match run(cli.command, database_url).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("caixa-migrate: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, url: &str) -> Result<ExitCode, sea_orm_migration::DbErr> {
    let usage = |message: String| {
        eprintln!("caixa-migrate: {message}");
        Ok(ExitCode::from(2))
    };
    if let Command::Down { all: true, yes: false, .. } = command {
        return usage(
            "down --all rolls back every migration and drops every table with its data; add --yes".into(),
        );
    }
    let db = Database::connect(url).await?;
    let applied = || async {
        let all = Migrator::get_migration_with_status(&db).await?;
        let names =
            all.iter().filter(|m| m.status() == MigrationStatus::Applied).map(|m| m.name().to_owned());
        Ok::<Vec<String>, sea_orm_migration::DbErr>(names.collect())
    };
    match command {
        Command::Up => {
            let before = applied().await?.len();
            Migrator::up(&db, None).await?;
            println!("{} applied; the schema is at head", applied().await?.len() - before);
        }
        Command::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                println!("{:<45} {}", m.name(), m.status());
            }
        }
        Command::Down { all, n, .. } => {
            let before = applied().await?;
            let n = if all { before.len() } else { n as usize };
            if before.is_empty() {
                println!("nothing to roll back");
                return Ok(ExitCode::SUCCESS);
            }
            if n >= before.len() && !all {
                return usage(format!(
                    "down {n} would roll back every applied migration ({}) and drop every table; use down --all --yes",
                    before.len()
                ));
            }
            Migrator::down(&db, Some(u32::try_from(n).unwrap_or(u32::MAX))).await?;
            for name in before.iter().rev().take(n) {
                println!("rolled back {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
