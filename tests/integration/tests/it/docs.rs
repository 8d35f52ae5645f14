//! Every `billing-service` command line the docs show is one the binary accepts: each is
//! run with `--help` appended, which makes clap check every subcommand, flag and
//! positional before it (an unknown one exits 2), without touching Stripe or a database.

use std::process::Command;

use caixa_integration_tests::BILLING_COMMANDS;
use caixa_test_support::tools::workspace_root;

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");

/// The command lines in one Markdown text: inline code and lines of code blocks.
fn commands(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        // In code blocks, only what a reader would type (diagrams name the binary too).
        let typed = |l: &str| {
            let l = l.trim_start().trim_start_matches("$ ");
            l.starts_with("billing-service ") || l.starts_with("kubectl ") || l.starts_with("cargo run")
        };
        let snippets: Vec<&str> = match fenced {
            true if typed(line) => vec![line],
            true => vec![],
            false => line.split('`').skip(1).step_by(2).collect(),
        };
        for snippet in snippets {
            // A shell comment is not part of the command.
            let snippet = snippet.split(" #").next().unwrap_or_default().trim().trim_start_matches("$ ");
            let rest = match snippet.find("billing-service ") {
                Some(at) => snippet[at + "billing-service ".len()..].trim_start_matches("-- "),
                None if BILLING_COMMANDS.iter().any(|s| snippet.split(' ').next() == Some(s)) => snippet,
                None => continue,
            };
            // A continued line, a pipeline, or the generic `<command>` is not one command.
            if !rest.ends_with('\\') && !rest.contains('|') && !rest.contains("<command>") {
                found.push(rest.to_owned());
            }
        }
    }
    found
}

/// A documented command line as arguments: optional parts kept (their flags must exist),
/// placeholders given sample values.
fn arguments(command: &str) -> Vec<String> {
    let plain = command.replace(['[', ']'], " ");
    plain
        .split_whitespace()
        .map(|word| match word {
            "<id>" => "88a670a0-6d4a-4bab-95e3-65fc21b3f993".to_owned(),
            "<evt_id>" => "evt_123".to_owned(),
            "<base-url>" => "https://billing.example.com/".to_owned(),
            "…" | "ID" | "<user>" => "user-1".to_owned(),
            "DAYS" => "7".to_owned(),
            "DATE" => "2026-01-01".to_owned(),
            other => other.to_owned(),
        })
        .collect()
}

#[test]
fn every_billing_command_the_docs_show_parses() {
    // Arrange
    let docs = workspace_root().join("docs");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for command in commands(&text) {
            // Act
            let output =
                Command::new(BINARY).args(arguments(&command)).arg("--help").env_clear().output().unwrap();

            // Assert
            assert!(
                output.status.success(),
                "{}: `billing-service {command}` is not a valid command line: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            checked.push(command);
        }
    }
    assert!(checked.len() >= 25, "too few commands found in the docs: {checked:?}");
}

#[test]
fn a_command_line_the_binary_does_not_know_fails_the_check() {
    let output =
        Command::new(BINARY).args(arguments("events recent --colour red")).arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "an unknown flag must not pass as documented");
}

/// Every file and folder of the workspace (build output and Git's own left out), as
/// paths relative to its root, folders ending in `/`.
fn workspace_paths() -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "target" || name == ".git" {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                out.push(format!("{relative}/"));
                walk(root, &path, out);
            } else {
                out.push(relative);
            }
        }
    }
    let root = workspace_root();
    let mut paths = Vec::new();
    walk(&root, &root, &mut paths);
    paths
}

/// The paths `markdown` names in inline code (`x.rs`, `dir/`) that no file or folder of
/// the workspace ends with.
fn missing_paths(markdown: &str, paths: &[String]) -> Vec<String> {
    markdown
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| !code.contains(char::is_whitespace) && !code.starts_with('/'))
        .filter(|code| code.ends_with(".rs") || code.ends_with('/'))
        .filter(|code| !paths.iter().any(|p| p == *code || p.ends_with(&format!("/{code}"))))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_the_architecture_names_exists() {
    let paths = workspace_paths();
    let text = std::fs::read_to_string(workspace_root().join("docs/architecture.md")).unwrap();
    assert_eq!(missing_paths(&text, &paths), Vec::<String>::new());
    // The check itself finds a path that is not there.
    assert_eq!(missing_paths("`domain/nowhere.rs` and `cli/`", &paths), vec!["domain/nowhere.rs"]);
}
