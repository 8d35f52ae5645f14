//! `caixa-migrate`: `down` reverses the newest migration only, `down N` the newest N, and
//! nothing rolls back the first migration (dropping every table) unless asked with
//! `down --all --yes`. Run in-process through the binary's own entry point.

use std::process::ExitCode;

use caixa_migrations::{Migrator, MigratorTrait, cli};
use caixa_test_support::{
    database::{Backend, TestDatabase, table_names},
    on_both_backends,
};
use sea_orm::DatabaseConnection;

on_both_backends!(down_reverses_the_newest_and_never_all_unless_confirmed);

async fn migrate(db: &TestDatabase, args: &[&str]) -> ExitCode {
    let args = std::iter::once("caixa-migrate").chain(args.iter().copied()).map(str::to_owned);
    cli::main(args, &db.url).await
}

async fn applied(conn: &DatabaseConnection) -> usize {
    let all = Migrator::get_migration_with_status(conn).await.unwrap();
    all.iter().filter(|m| m.status() == caixa_migrations::MigrationStatus::Applied).count()
}

async fn down_reverses_the_newest_and_never_all_unless_confirmed(backend: Backend) {
    // Arrange
    let db = TestDatabase::empty(backend).await;
    let conn = db.connect().await;
    let total = Migrator::migrations().len();
    assert_eq!(migrate(&db, &["up"]).await, ExitCode::SUCCESS);
    assert_eq!(applied(&conn).await, total);

    // Act and assert: one, then two more.
    assert_eq!(migrate(&db, &["down"]).await, ExitCode::SUCCESS);
    assert_eq!(applied(&conn).await, total - 1, "down reverses the newest migration only");
    assert!(table_names(&conn).await.contains(&"customers".to_owned()), "earlier tables stay");
    assert_eq!(migrate(&db, &["down", "2"]).await, ExitCode::SUCCESS);
    assert_eq!(applied(&conn).await, total - 3);

    // Act and assert: every migration only by name and confirmed; refusals change nothing.
    let everything = (total - 3).to_string();
    for refused in [vec!["down", everything.as_str()], vec!["down", "--all"], vec!["down", "0"]] {
        assert_eq!(migrate(&db, &refused).await, ExitCode::from(2), "{refused:?}");
        assert_eq!(applied(&conn).await, total - 3, "{refused:?} changed the schema");
    }
    assert_eq!(migrate(&db, &["down", "--all", "--yes"]).await, ExitCode::SUCCESS);
    assert_eq!(applied(&conn).await, 0);
    assert!(!table_names(&conn).await.contains(&"customers".to_owned()));
    assert_eq!(migrate(&db, &["down"]).await, ExitCode::SUCCESS, "nothing to roll back is fine");
    assert_eq!(migrate(&db, &["status"]).await, ExitCode::SUCCESS);
    assert_eq!(migrate(&db, &["up"]).await, ExitCode::SUCCESS);
    assert_eq!(applied(&conn).await, total);
}

#[tokio::test]
async fn help_needs_no_database_and_a_bad_command_exits_2() {
    let db = TestDatabase::empty(Backend::Sqlite).await;
    for args in [vec!["--help"], vec!["down", "--help"]] {
        assert_eq!(migrate(&db, &args).await, ExitCode::SUCCESS, "{args:?}");
    }
    assert_eq!(migrate(&db, &["sideways"]).await, ExitCode::from(2));
    assert_eq!(migrate(&db, &[]).await, ExitCode::from(2));
}
