//! Instructions a unary call costs the entitlement service, counted by callgrind
//! (valgrind): user-space instructions only, the same count for the same binary and
//! load whatever the virtual machine's neighbours do, which its timing cannot promise.
//! CheckAccess beside the floor (`Health/Check`) at 1 × 16 on one h2load connection, in
//! two rounds of each, the counters zeroed before and dumped after each batch of calls.
//! The kernel's share of a call, which both methods pay alike, is not counted, so the
//! ratio here is lower than the timed one.

use std::{net::SocketAddr, path::Path};

use caixa_test_support::database::TestDatabase;

use crate::{h2load, server::Server, unary};

/// Calls in each counted batch.
const CALLS: u64 = 10_000;

/// Rows for the table: instructions a call for CheckAccess and the floor, and the ratio.
pub async fn run(
    db: &TestDatabase,
    billing: SocketAddr,
    users: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("callgrind.out");
    let wrapper = ["valgrind", "--tool=callgrind", &format!("--callgrind-out-file={}", out.display())]
        .map(str::to_owned);
    let server = Server::start_under(db, billing, &wrapper).await?;
    let pid = server.pid().ok_or_else(|| anyhow::anyhow!("the service under callgrind has exited"))?;
    let calls = [
        ("floor", unary::HEALTH, unary::health_frame()),
        ("CheckAccess", unary::CHECK, unary::check_frame(users)),
    ];
    // Warm: connections' first calls and lazily built state are not what a call costs.
    for (_, method, body) in &calls {
        batch(server.addr, method, body, CALLS / 5).await?;
    }
    let mut counted = [Vec::new(), Vec::new()];
    for _round in 0..2 {
        for (slot, (_, method, body)) in calls.iter().enumerate() {
            callgrind_control(&["-z", &pid.to_string()]).await?;
            let done = batch(server.addr, method, body, CALLS).await?;
            callgrind_control(&["-d", &pid.to_string()]).await?;
            counted[slot].push(newest_total(dir.path())? / done.max(1));
        }
    }
    server.stop().await;
    let describe = |counts: &[u64]| counts.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let (floor, check) = (counted[0].iter().sum::<u64>(), counted[1].iter().sum::<u64>());
    Ok(vec![(
        "user-space instructions a call (callgrind), h2load 1 × 16, two rounds".to_owned(),
        format!(
            "CheckAccess {}; floor {}; floor ÷ CheckAccess {:.1} %",
            describe(&counted[1]),
            describe(&counted[0]),
            100.0 * floor as f64 / check.max(1) as f64
        ),
    )])
}

/// `calls` calls of `method` at 1 × 16; returns how many succeeded.
async fn batch(addr: SocketAddr, method: &str, body: &[u8], calls: u64) -> anyhow::Result<u64> {
    let data = tempfile::NamedTempFile::new()?;
    std::fs::write(data.path(), body)?;
    let args = ["-c1", "-m16", "-t1", &format!("-n{calls}")].map(str::to_owned);
    let printed = h2load::run(addr, method, data.path(), &args).await;
    let done = h2load::figure(&printed, "requests:", "succeeded") as u64;
    anyhow::ensure!(done == calls, "{done} of {calls} calls to {method} succeeded:\n{printed}");
    Ok(done)
}

async fn callgrind_control(args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("callgrind_control").args(args).output().await?;
    anyhow::ensure!(
        output.status.success(),
        "callgrind_control {args:?} failed (is valgrind installed?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The `totals:` of the most recent dump in `dir` (files `callgrind.out.N`).
fn newest_total(dir: &Path) -> anyhow::Result<u64> {
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((name.rsplit('.').next()?.parse::<u32>().ok()?, e.path()))
        })
        .max_by_key(|(part, _)| *part)
        .ok_or_else(|| anyhow::anyhow!("callgrind wrote no dump in {}", dir.display()))?;
    let text = std::fs::read_to_string(&newest.1)?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no totals in {}", newest.1.display()))
}
