//! A fresh database per test, on PostgreSQL or SQLite, with the schema at head.

use caixa_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// The two database backends every storage test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh database on the PostgreSQL server at `TEST_DATABASE_URL`.
    Postgres,
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
}

/// Server used for PostgreSQL tests unless `TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    /// Connection URL for services under test.
    pub url: String,
    backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { server: String, name: String },
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
}

impl TestDatabase {
    /// A fresh, empty database (no migrations applied).
    pub async fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let server = postgres_server_url();
                let name = format!("caixa_test_{}", uuid::Uuid::new_v4().simple());
                let admin = connect_admin(&server).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
                let url = format!("{}/{name}", server.trim_end_matches('/'));
                Self { url, backend, cleanup: Cleanup::Postgres { server, name } }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("caixa.sqlite").display());
                Self { url, backend, cleanup: Cleanup::Sqlite(dir) }
            }
        }
    }

    /// A fresh database with every migration applied.
    pub async fn migrated(backend: Backend) -> Self {
        let db = Self::empty(backend).await;
        Migrator::up(&db.connect().await, None).await.expect("migrations apply");
        db
    }

    /// PostgreSQL only: refuses (or accepts again) every new connection and ends the open
    /// ones, as if the server had gone away.
    pub async fn set_reachable(&self, reachable: bool) {
        let Cleanup::Postgres { server, name } = &self.cleanup else {
            panic!("only PostgreSQL can be taken down")
        };
        let admin = connect_admin(server).await;
        admin
            .execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {reachable}"))
            .await
            .expect("alter database");
        if !reachable {
            admin
                .execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .await
                .expect("terminate connections");
        }
    }

    /// The backend it runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A new connection to it.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url).await.expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { server, name } = &self.cleanup else {
            return;
        };
        let (server, name) = (server.clone(), name.clone());
        // Drop runs outside async context; use a runtime of its own on a helper thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url(&server)).await.map_err(std::io::Error::other)?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.url);
        }
    }
}

fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

fn admin_url(server: &str) -> String {
    format!("{}/postgres", server.trim_end_matches('/'))
}

async fn connect_admin(server: &str) -> DatabaseConnection {
    let url = admin_url(server);
    let connected = async {
        let db = Database::connect(&url).await?;
        db.execute_unprepared("SELECT 1").await?;
        Ok::<_, sea_orm::DbErr>(db)
    };
    match connected.await {
        Ok(db) => db,
        Err(err) => panic!(
            "PostgreSQL is not reachable at {server} ({err}).\n\
             These tests need it. Start it (on Debian: `pg_ctlcluster 15 main start`, or \
             `bash .ci/run`, which starts it for you) or point TEST_DATABASE_URL at a server \
             where user postgres may create databases."
        ),
    }
}

/// The schema as sorted lines of text: tables, columns, types, nullability, defaults
/// and indexes. Equal dumps mean equal schemas.
pub async fn schema_dump(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let queries: &[&str] = match backend {
        DbBackend::Postgres => &[
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable \
             || ' default=' || COALESCE(column_default, '') AS line \
             FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT indexname || ': ' || indexdef AS line FROM pg_indexes WHERE schemaname = 'public'",
        ],
        _ => &["SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS line FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%'"],
    };
    let mut lines = Vec::new();
    for query in queries {
        let rows = db.query_all_raw(Statement::from_string(backend, *query)).await.expect("schema query");
        for row in rows {
            lines.push(row.try_get::<String>("", "line").expect("schema line"));
        }
    }
    lines.sort();
    lines
}

/// Names of the tables in the database, sorted.
pub async fn table_names(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let query = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let rows = db.query_all_raw(Statement::from_string(backend, query)).await.expect("table query");
    let mut names: Vec<String> =
        rows.iter().map(|r| r.try_get::<String>("", "name").expect("name")).collect();
    names.sort();
    names
}
