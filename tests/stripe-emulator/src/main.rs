//! `stripe-emulator`: serves the emulator on `STRIPE_EMULATOR_ADDR`
//! (default `127.0.0.1:12111`) until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use caixa_runtime::{config::Env, shutdown, telemetry};
use stripe_emulator::{Emulator, EmulatorConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let env = Env::from_process();
    let addr = match env.socket_addr("STRIPE_EMULATOR_ADDR", "127.0.0.1:12111") {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("stripe-emulator: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(telemetry::LogFormat::Human);
    let emulator = match Emulator::start(addr, EmulatorConfig::default()).await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("stripe-emulator: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("Stripe emulator on {} (use any sk_test_ key)", emulator.url());
    shutdown::signal().await;
    ExitCode::SUCCESS
}
