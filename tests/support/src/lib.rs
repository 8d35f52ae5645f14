//! Helpers shared by every test: one place, so tests read as arrange / act / assert.
//!
//! Output stays silent unless `TEST_LOG` is set (then logs go to the test's stderr).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should panic loudly

pub mod database;
pub mod grpc;
pub mod http;
pub mod process;
pub mod tools;

/// Stripe's reference `Stripe-Signature` cases (verdicts from Stripe's own libraries).
pub const SIGNATURE_VECTORS: &str = include_str!("../data/stripe-signature-vectors.json");

/// Installs human-readable logging when `TEST_LOG` is set; otherwise tests stay silent.
pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        caixa_runtime::telemetry::init(caixa_runtime::telemetry::LogFormat::Human);
    }
}

/// Runs each named `async fn(Backend)` as two tests, `NAME::postgres` and `NAME::sqlite`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn postgres() {
                    $crate::init_test_logging();
                    super::$name($crate::database::Backend::Postgres).await;
                }

                #[tokio::test]
                async fn sqlite() {
                    $crate::init_test_logging();
                    super::$name($crate::database::Backend::Sqlite).await;
                }
            }
        )*
    };
}
