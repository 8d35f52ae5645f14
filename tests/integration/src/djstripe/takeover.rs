//! The takeover as docs/migrating-from-dj-stripe.md runs it: `sync-stripe`, then
//! `trial-import` of the app's trial history, `fix-customer-links --links` from
//! dj-stripe's table, and `compare-access` against the app's answers. Each step is the
//! billing binary, run as a process with the settings given.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use caixa_test_support::database::TestDatabase;
use serde_json::Value;

use super::LegacyAccount;
use crate::{billing_command_with, stripe::StripeEmulator};

/// The CSV files the runbook's SQL exports from the app's database.
#[derive(Clone, Debug)]
pub struct TakeoverFiles {
    /// `user_id,email,used_at`: the app's trial history.
    pub trials: PathBuf,
    /// `customer_id,user_id`: dj-stripe's links of the customers whose metadata names
    /// nobody (the others link by their metadata keys).
    pub links: PathBuf,
    /// `user_id,has_active_subscription`: the app's answers.
    pub answers: PathBuf,
}

impl TakeoverFiles {
    /// Writes the files for `account` into `dir`, the answers as `answers` gives them.
    pub fn write(dir: &Path, account: &LegacyAccount, answers: &BTreeMap<String, bool>) -> Self {
        let mut trials = String::from("user_id,email,used_at\n");
        for user in &account.trial_history {
            trials.push_str(&format!("{user},{},2026-01-15 10:00:00+00\n", account.emails[user]));
        }
        let mut links = String::from("customer_id,user_id\n");
        for (customer, user) in account.links.iter().filter(|(c, _)| account.unnamed.contains(c)) {
            links.push_str(&format!("{customer},{user}\n"));
        }
        let files = Self {
            trials: dir.join("trials.csv"),
            links: dir.join("links.csv"),
            answers: dir.join("answers.csv"),
        };
        std::fs::write(&files.trials, trials).unwrap();
        std::fs::write(&files.links, links).unwrap();
        files.write_answers(answers);
        files
    }

    /// (Re)writes the answers file.
    pub fn write_answers(&self, answers: &BTreeMap<String, bool>) {
        let mut text = String::from("user_id,has_active_subscription\n");
        for (user, active) in answers {
            text.push_str(&format!("{user},{}\n", if *active { "t" } else { "f" }));
        }
        std::fs::write(&self.answers, text).unwrap();
    }
}

/// The billing binary run against one database and Stripe.
pub struct Takeover<'a> {
    /// The billing binary.
    pub program: PathBuf,
    /// Its database.
    pub db: &'a TestDatabase,
    /// Its Stripe.
    pub stripe: &'a StripeEmulator,
    /// Extra settings (the link keys, say).
    pub env: Vec<(&'static str, String)>,
}

/// What each step printed, and how long it took.
#[derive(Debug)]
pub struct Steps {
    /// `sync-stripe --json`.
    pub sync: Value,
    /// `trial-import --json`.
    pub trials: Value,
    /// `fix-customer-links --links --json`.
    pub links: Value,
    /// `compare-access --json`: its exit code and report.
    pub compare: (Option<i32>, Value),
    /// Each step's wall time, in order.
    pub times: Vec<(&'static str, Duration)>,
}

impl Takeover<'_> {
    /// Runs `args` with `--json`; returns the exit code and the document printed.
    pub async fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let mut args = args.to_vec();
        args.push("--json");
        let (code, stdout, stderr) = self.run(&args).await;
        let value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|_| panic!("{args:?}: no JSON ({code:?}): {stdout} / {stderr}"));
        (code, value)
    }

    /// Runs `args`; returns the exit code, stdout and stderr.
    pub async fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        billing_command_with(&self.program, self.db, self.stripe, args, &self.env).await
    }

    /// Every step of the runbook, in order; each but the comparison must succeed.
    pub async fn all(&self, files: &TakeoverFiles) -> Steps {
        let mut times = Vec::new();
        let mut step = async |name: &'static str, args: &[&str], must_pass: bool| {
            let started = Instant::now();
            let (code, value) = self.json(args).await;
            times.push((name, started.elapsed()));
            assert!(!must_pass || code == Some(0), "{name} failed ({code:?}): {value}");
            (code, value)
        };
        let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
        let sync = step("sync-stripe", &["sync-stripe"], true).await.1;
        let trials = step("trial-import", &["trial-import", "--csv", &path(&files.trials)], true).await.1;
        let links =
            step("fix-customer-links", &["fix-customer-links", "--links", &path(&files.links)], true).await.1;
        let compare =
            step("compare-access", &["compare-access", "--users", &path(&files.answers)], false).await;
        Steps { sync, trials, links, compare, times }
    }
}
