//! The entitlement service's start from its local snapshot: started once with
//! `SNAPSHOT_FILE` (from PostgreSQL, the file being missing), stopped with SIGTERM, which
//! writes the file, then started again, from the file and the log's changes since: an
//! hour's, committed while it was down (at two changes a user a month, a 360th of the
//! users, each an existing user's new revision).

use std::{net::SocketAddr, time::Instant};

use caixa_test_support::database::TestDatabase;

use crate::server::Server;

/// The step's rows.
pub async fn run(
    db: &TestDatabase,
    billing: SocketAddr,
    core: Option<usize>,
    users: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("entitlements.snapshot");
    let settings = [("SNAPSHOT_FILE", file.display().to_string())];
    let first = Server::start_with(db, billing, core, &settings).await?;
    let from_database = first.cold_start;
    let stopping = Instant::now();
    first.stop().await;
    let stopped = stopping.elapsed();
    let size =
        std::fs::metadata(&file).map_err(|e| anyhow::anyhow!("no snapshot written at shutdown: {e}"))?.len();
    let hour = (users / 360).max(1);
    let first = crate::seed::head(db).await? + 1;
    crate::seed::changes(db, 0..hour, first).await?;
    crate::seed::moved(db, hour, first).await?;
    let second = Server::start_with(db, billing, core, &settings).await?;
    let from_file = second.cold_start;
    let rss = (second.peak_rss_kib(), second.rss_kib());
    second.stop().await;
    Ok(vec![
        (
            format!("local snapshot of {users} users, written at SIGTERM"),
            format!(
                "{:.0} MiB ({} bytes a user); SIGTERM to exit {:.2} s",
                size as f64 / 1_048_576.0,
                size / users.max(1) as u64,
                stopped.as_secs_f64()
            ),
        ),
        (
            format!(
                "cold start to SERVING, own process ({users} users): from PostgreSQL; from the local snapshot and the {hour} changes committed since (an hour's)"
            ),
            format!(
                "{:.2} s; {:.2} s (RSS peak {} MiB, now {} MiB)",
                from_database.as_secs_f64(),
                from_file.as_secs_f64(),
                rss.0 / 1024,
                rss.1 / 1024
            ),
        ),
    ])
}
