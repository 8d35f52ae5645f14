//! Live mode with caller authentication denies by default: no policy, or bearer tokens
//! over plaintext without saying so, stop start-up naming the variable.
#![allow(clippy::unwrap_used, missing_docs)]

use caixa_runtime::{
    auth::{AuthSettings, hash_hex},
    config::Env,
};

#[test]
fn live_mode_needs_a_policy_and_tls_for_tokens() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("web {}\n", hash_hex("t-web"))).unwrap();
    let tokens = tokens.to_str().unwrap();
    let policy = "web = caixa.billing.v1.BillingService/*";
    let settings = |pairs: &[(&str, &str)], live: bool| {
        AuthSettings::from_env(&Env::from_pairs(pairs.iter().copied()), live)
    };

    // Act and assert
    let no_policy = settings(&[("CALLER_TOKENS_FILE", tokens)], true).unwrap_err();
    assert_eq!(no_policy.variable, "CALLER_POLICY");
    let plaintext = settings(&[("CALLER_TOKENS_FILE", tokens), ("CALLER_POLICY", policy)], true).unwrap_err();
    assert_eq!(plaintext.variable, "ALLOW_PLAINTEXT_TOKENS");
    let asked =
        [("CALLER_TOKENS_FILE", tokens), ("CALLER_POLICY", policy), ("ALLOW_PLAINTEXT_TOKENS", "true")];
    assert!(settings(&asked, true).is_ok(), "plaintext tokens when asked for");
    assert!(settings(&[("CALLER_TOKENS_FILE", tokens)], false).is_ok(), "test mode keeps its defaults");
}
