//! Settings a service cannot start with stop it before it binds a port, with exit 2 and
//! the variable named: here, a tokens file that is missing, while the service's own port
//! is held by someone else (binding first would fail on the port instead).

use std::process::Command;

const BILLING: &str = env!("CARGO_BIN_EXE_billing-process");
const ENTITLEMENT: &str = env!("CARGO_BIN_EXE_entitlement-process");

#[test]
fn a_missing_tokens_file_stops_either_service_before_it_binds() {
    for (program, addr_var) in [(BILLING, "BILLING_GRPC_ADDR"), (ENTITLEMENT, "ENTITLEMENT_GRPC_ADDR")] {
        // Arrange: the port the service would bind is taken.
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("tokens");

        // Act
        let output = Command::new(program)
            .env_clear()
            .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display()))
            .env(addr_var, &addr)
            .env("BILLING_HTTP_ADDR", "127.0.0.1:0")
            .env("BILLING_URL", "http://127.0.0.1:9")
            .env("CALLER_TOKENS_FILE", &missing)
            .output()
            .unwrap();

        // Assert
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{program}: {stderr}");
        assert!(stderr.contains("CALLER_TOKENS_FILE") && stderr.contains("tokens"), "{program}: {stderr}");
        assert!(!stderr.contains("address"), "{program} bound its port first: {stderr}");
    }
}
