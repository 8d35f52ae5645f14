//! The `rolling` step: the rolling restart of the integration test at benchmark size, the
//! services being this binary in their roles. Reports the longest a caller's CheckAccess
//! took while each process in turn restarted, and what failed or was lost (nothing, or
//! the step fails).

use std::time::Duration;

use caixa_integration_tests::rolling::{Programs, run};

/// Rolls two billing and two entitlement processes with `before` subscribers made first
/// and one more every 100 ms during the roll; prints a Markdown table.
pub async fn step(before: usize, billing_role: (&'static str, String)) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let programs = Programs {
        billing: (exe.clone(), vec![billing_role]),
        entitlement: (exe, vec![(crate::server::SERVE_ROLE, "1".to_owned())]),
    };
    let outcome = run(&programs, before, Duration::from_millis(100)).await;
    println!("\n| measure | result |\n|---|---|");
    println!("| processes restarted in turn (SIGTERM, drain, start) | 2 billing, 2 entitlement |");
    println!("| the roll | {:.1} s |", outcome.roll.as_secs_f64());
    println!(
        "| CheckAccess calls during it, failed at the caller | {}, {} |",
        outcome.checks, outcome.failed
    );
    println!("| the longest call at the caller | {:.1} ms |", outcome.longest.as_secs_f64() * 1000.0);
    println!("| users, Stripe events | {}, {} |", outcome.users, outcome.events);
    println!(
        "| events lost, users unequal to Stripe | {}, {} |",
        outcome.lost.len(),
        outcome.mismatches.len()
    );
    anyhow::ensure!(outcome.failed == 0, "checks failed during the roll");
    anyhow::ensure!(outcome.lost.is_empty() && outcome.mismatches.is_empty(), "{outcome:#?}");
    Ok(())
}
