//! A service binary run as a real process, with its JSON log lines collected.

use std::{net::SocketAddr, process::Stdio, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Mutex,
};

/// A running service process.
pub struct ServiceProcess {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl ServiceProcess {
    /// Starts `binary` with exactly `env` (plus `LOG_FORMAT=json`), logs collected.
    pub fn spawn(binary: &str, env: &[(&str, String)]) -> Self {
        Self::spawn_with_args(binary, &[], env)
    }

    /// Starts `binary args...` with exactly `env` (plus `LOG_FORMAT=json`), logs collected.
    pub fn spawn_with_args(binary: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env_clear()
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|err| panic!("cannot start {binary}: {err}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
        let (sink, text) = (lines.clone(), stdout.clone());
        tokio::spawn(async move {
            let mut reader = BufReader::new(out).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("{line}");
                }
                text.lock().await.push_str(&line);
                text.lock().await.push('\n');
                if let Ok(value) = serde_json::from_str(&line) {
                    sink.lock().await.push(value);
                }
            }
        });
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(err).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let mut all = sink.lock().await;
                all.push_str(&line);
                all.push('\n');
            }
        });
        Self { child, lines, stdout, stderr }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for a log line whose `message` is `message`, and returns it.
    pub async fn wait_for_log(&self, message: &str, within: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(line) = self.lines.lock().await.iter().find(|l| l["message"] == message).cloned() {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line {message:?} within {within:?}; stderr: {}",
                self.stderr.lock().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the "listening" line and reads the address in `field` from it.
    pub async fn address(&self, listening_message: &str, field: &str) -> SocketAddr {
        let line = self.wait_for_log(listening_message, Duration::from_secs(20)).await;
        line[field].as_str().and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("no {field} in {line}"))
    }

    /// Everything the process wrote so far, stdout then stderr.
    pub async fn output(&self) -> String {
        format!("{}{}", self.stdout.lock().await, self.stderr.lock().await)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("process still running");
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
    }

    /// Sends SIGKILL: the process dies on the spot, nothing drained or flushed.
    pub fn kill(&self) {
        let pid = self.child.id().expect("process still running");
        let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -KILL {pid} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("process did not exit within {within:?}"))
            .expect("wait for process");
        status.code()
    }
}

/// Runs `binary` with exactly `env` until it exits; returns its exit code and stderr.
pub async fn run_to_exit(binary: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .expect("process exits within 20 s")
        .expect("run process");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Starts `binary` on a migrated SQLite database, opens a call that stays in flight, sends
/// SIGTERM, then completes the call. Asserts that the call finishes with a real answer
/// (NOT_SERVING, since the service is draining) and the process exits 0.
pub async fn assert_sigterm_drains_in_flight_call(
    binary: &str,
    env: &[(&str, String)],
    listening_message: &str,
    service: &str,
) {
    use tonic_health::pb::health_check_response::ServingStatus;

    use crate::{
        database::{Backend, TestDatabase},
        grpc::{HeldCall, wait_for_health},
    };

    // Arrange: a serving process and a call it has started to receive.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let mut env = env.to_vec();
    env.push(("DATABASE_URL", db.url.clone()));
    let mut process = ServiceProcess::spawn(binary, &env);
    let addr = process.address(listening_message, "grpc_addr").await;
    wait_for_health(addr, service, ServingStatus::Serving, Duration::from_secs(20)).await;
    let call = HeldCall::start(addr, service).await;

    // Act: SIGTERM while the call is in flight, then let the call complete.
    process.terminate();
    process.wait_for_log("SIGTERM received, draining", Duration::from_secs(10)).await;
    let (code, status) = call.finish().await;

    // Assert
    assert_eq!(code, 0, "the in-flight call must complete with OK");
    assert_eq!(status, Some(ServingStatus::NotServing), "a draining service reports NOT_SERVING");
    assert_eq!(process.wait_exit(Duration::from_secs(20)).await, Some(0), "clean drain exits 0");
}

/// Runs `binary` with each bad setting and asserts it exits 2 with one line naming
/// the variable.
pub async fn assert_bad_config_is_named(binary: &str, cases: &[(&[(&str, &str)], &str)]) {
    for (env, variable) in cases {
        let (code, stderr) = run_to_exit(binary, env).await;
        assert_eq!(code, Some(2), "exit code for {env:?}; stderr: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line for {env:?}: {stderr}");
        assert!(stderr.contains(variable), "{variable} not named for {env:?}: {stderr}");
    }
}
