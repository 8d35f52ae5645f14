//! Webhook ingest, offered by an outside load generator: wrk posts distinct, pre-signed
//! `customer.subscription.updated` events (Stripe's own example subscription, about
//! 5 KB each) to the billing service's bridge, in its own process on its own core, with
//! PostgreSQL behind it and the inbox worker off, so that what is measured is the
//! acknowledgement: verify, store durably, answer. Beside it: the HTTP floor (wrk on
//! `/healthz`, same server) and good deliveries alone and beside a flood of forged ones.

use std::{fmt, net::SocketAddr, path::Path, time::Duration};

use caixa_test_support::{database::TestDatabase, process::ServiceProcess};
use serde_json::{Value, json};

const SECRET: &str = "whsec_bench_ingest";

/// What wrk printed, read back.
pub struct Wrk {
    /// Requests a second.
    pub rate: f64,
    /// Median latency, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, in milliseconds.
    pub p99_ms: f64,
    /// Answers other than 2xx or 3xx.
    pub refused: u64,
}

impl fmt::Display for Wrk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms", self.rate, self.p50_ms, self.p99_ms)?;
        if self.refused > 0 {
            write!(f, ", {} not 2xx", self.refused)?;
        }
        Ok(())
    }
}

/// The billing service serving the bridge, in its own process.
pub struct Billing {
    process: ServiceProcess,
    /// Its HTTP bridge.
    pub http_addr: SocketAddr,
    /// The registered endpoint's path.
    pub path: String,
}

impl Billing {
    /// Registers an endpoint in `db` and starts billing on it, on `core` when given.
    pub async fn start(db: &TestDatabase, core: Option<usize>, role: (&str, String)) -> anyhow::Result<Self> {
        use billing_service::store::endpoints;
        let id = uuid::Uuid::new_v4();
        let endpoint = endpoints::NewEndpoint {
            id,
            stripe_id: None,
            livemode: false,
            url: format!("https://bench.example/stripe/webhook/{id}"),
            api_version: None,
            secret: SECRET,
            enabled_events: vec!["*"],
        };
        endpoints::insert(&db.connect().await, endpoint).await?;
        let mut env = vec![
            role,
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("BILLING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("INBOX_WORKER", "false".to_owned()),
            ("RECONCILE_INTERVAL_SECONDS", "0".to_owned()),
            // wrk keeps its connections full; the bridge's own limit is not what is measured.
            ("WEBHOOK_MAX_CONCURRENT", "1024".to_owned()),
        ];
        env.extend(core.map(|core| (crate::server::SERVE_CORE, core.to_string())));
        let exe = std::env::current_exe()?;
        let process = ServiceProcess::spawn(&exe.to_string_lossy(), &env);
        let http_addr = process.address("billing service listening", "http_addr").await;
        Ok(Self { process, http_addr, path: format!("/stripe/webhook/{id}") })
    }

    /// Stops it with SIGTERM.
    pub async fn stop(mut self) {
        self.process.terminate();
        self.process.wait_exit(Duration::from_secs(30)).await;
    }
}

/// Writes `count` distinct signed events (ids from `first`) as `signature<TAB>body` lines.
pub fn write_events(path: &Path, first: usize, count: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let fixtures: Value =
        serde_json::from_str(include_str!("../../tests/stripe-emulator/fixtures/fixtures3.json"))?;
    let template = &fixtures["resources"]["subscription"];
    let now = chrono::Utc::now().timestamp();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for n in first..first + count {
        let mut subscription = template.clone();
        subscription["id"] = json!(format!("sub_bench{n:08}"));
        subscription["customer"] = json!(format!("cus_bench{n:08}"));
        let event = json!({
            "id": format!("evt_bench{n:08}"), "object": "event", "api_version": "2024-06-20",
            "created": now, "livemode": false, "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": "customer.subscription.updated",
            "data": { "object": subscription, "previous_attributes": { "status": "trialing" } },
        })
        .to_string();
        writeln!(out, "{}\t{event}", stripe_emulator::sign(SECRET, now, &event))?;
    }
    out.flush()?;
    Ok(())
}

/// Posts each line of the file given after `--` once per request, in turn.
const GOOD: &str = r#"
local events, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    events[#events + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
end
function request()
  i = i % #events + 1
  local e = events[i]
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Stripe-Signature"] = e[1] }, e[2])
end
"#;

/// The same body every time, signed with a secret the endpoint does not have.
fn forged(events: &Path) -> anyhow::Result<String> {
    let line = std::fs::read_to_string(events)?.lines().next().unwrap_or_default().to_owned();
    let body = line.split_once('\t').map(|(_, body)| body).unwrap_or_default();
    let signature = stripe_emulator::sign("whsec_not_ours", chrono::Utc::now().timestamp(), body);
    Ok(format!(
        "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Stripe-Signature\"] = {signature:?}\n"
    ))
}

/// Runs wrk with one thread and `connections` for `step`.
pub async fn wrk(url: &str, connections: usize, step: Duration, script: Option<(&Path, &[&Path])>) -> Wrk {
    let mut command = tokio::process::Command::new("wrk");
    command.args(["-t1", "-c", &connections.to_string(), "-d", &format!("{}s", step.as_secs()), "--latency"]);
    if let Some((script, _)) = script {
        command.arg("-s").arg(script);
    }
    command.arg(url);
    if let Some((_, args)) = script {
        command.arg("--").args(args.iter().copied());
    }
    let output = command.output().await.expect("wrk runs (Debian package wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    parse(&text)
}

fn parse(text: &str) -> Wrk {
    let after = |prefix: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix)).map(|rest| rest.trim().to_owned())
    };
    let millis = |quantile: &str| after(quantile).map_or(f64::NAN, |v| duration_ms(&v));
    Wrk {
        rate: after("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
        p50_ms: millis("50%"),
        p99_ms: millis("99%"),
        refused: after("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
    }
}

/// wrk's `1.23ms`, `456.00us`, `1.01s`, `2.00m` in milliseconds.
fn duration_ms(value: &str) -> f64 {
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len());
    let number: f64 = value[..split].parse().unwrap_or(f64::NAN);
    match &value[split..] {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => f64::NAN,
    }
}

/// The ingest step's rows: floor, ingest, good deliveries alone and beside a flood.
pub async fn run(
    db: &TestDatabase,
    core: Option<usize>,
    step: Duration,
    role: (&str, String),
) -> Vec<(String, String)> {
    let billing = Billing::start(db, core, role).await.expect("billing starts");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let per_run = std::env::var("BENCH_INGEST_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(60_000);
    let files: Vec<_> = (0..3).map(|n| dir.path().join(format!("events-{n}.txt"))).collect();
    for (n, file) in files.iter().enumerate() {
        write_events(file, n * per_run, per_run).expect("events written");
    }
    let good = dir.path().join("good.lua");
    std::fs::write(&good, GOOD).expect("script written");
    let flood = dir.path().join("flood.lua");
    std::fs::write(&flood, forged(&files[0]).expect("a forged delivery")).expect("script written");
    let base = format!("http://{}", billing.http_addr);
    let url = format!("{base}{}", billing.path);

    let mut rows = Vec::new();
    let floor = wrk(&format!("{base}/healthz"), 16, step, None).await;
    rows.push((
        "webhook bridge transport floor: wrk GET /healthz, 16 connections".to_owned(),
        floor.to_string(),
    ));
    let ingest = wrk(&url, 16, step, Some((&good, &[&files[0]]))).await;
    rows.push((
        format!("webhook ingest: distinct signed events, 16 connections (≤ {per_run} distinct)"),
        ingest.to_string(),
    ));
    rows.push(("webhook ingest ÷ HTTP floor".to_owned(), format!("{:.2}", ingest.rate / floor.rate)));
    let alone = wrk(&url, 4, step, Some((&good, &[&files[1]]))).await;
    rows.push(("good deliveries, 4 connections, alone".to_owned(), alone.to_string()));
    let third = [files[2].as_path()];
    let (beside, forged) =
        tokio::join!(wrk(&url, 4, step, Some((&good, &third))), wrk(&url, 64, step, Some((&flood, &[]))),);
    rows.push(("good deliveries, 4 connections, beside the flood".to_owned(), beside.to_string()));
    rows.push(("the flood: forged signatures, 64 connections".to_owned(), forged.to_string()));
    billing.stop().await;
    rows
}
