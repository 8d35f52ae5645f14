//! The benchmark's `takeover` step at a small size, so that it keeps working between the
//! runs docs/performance.md reports: it exits 0 only when caixa agrees with the old app on
//! every user and a second sync writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_takeover_step_runs_and_agrees_on_every_user() {
    // Act
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_caixa-bench"))
        .args(["takeover", "80"])
        .output()
        .expect("the bench runs");

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let compared = stdout.lines().find(|l| l.starts_with("| users compared, disagreements |"));
    assert!(compared.is_some_and(|l| l.ends_with(", 0 |")), "no disagreement reported: {stdout}");
    let again = stdout.lines().find(|l| l.starts_with("| a second sync: time, revisions |"));
    assert!(again.is_some_and(|l| l.ends_with(", 0 |")), "a second sync wrote nothing: {stdout}");
}
