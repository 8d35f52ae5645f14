//! The webhook bridge's HTTP handling, through its real router over a migrated SQLite
//! database: arbitrary methods, paths, signature headers and bodies. No answer is a
//! success without a valid signature, none is a server error other than 503, and no
//! refusal is longer than 200 bytes (nothing sent is echoed back whole).
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::{Router, body::Body, http::Request};
use billing_service::{
    config::Settings,
    http::{Committer, EndpointCache, webhook::WebhookState},
};
use caixa_runtime::config::Env;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use sea_orm_migration::MigratorTrait;
use tower::ServiceExt;

const SECRET: &str = "whsec_fuzz_bridge";

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = std::env::temp_dir().join(format!("caixa-fuzz-bridge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.join("bridge.sqlite").display());
        let router = runtime.block_on(async {
            let db = caixa_runtime::database::connect_lazy(&url).await.expect("database");
            caixa_migrations::Migrator::up(&db, None).await.expect("migrations");
            let settings = Settings::from_env(&Env::from_pairs([("STRIPE_WEBHOOK_SECRET", SECRET)]))
                .expect("settings");
            let (health, _) = caixa_runtime::grpc::standard_routes(&[]).await.expect("health");
            let webhook = WebhookState {
                committer: Committer::start(db.clone()),
                settings: settings.webhook.clone(),
                live_mode: false,
                config_secret: settings.stripe.webhook_secret.clone(),
                endpoints: Arc::new(EndpointCache::new(db, settings.webhook.endpoints_refresh)),
                wakeup: Arc::default(),
                slots: Arc::new(tokio::sync::Semaphore::new(4)),
            };
            billing_service::http::router(health, webhook, None)
        });
        App { runtime, router }
    })
}

// `data`: a flags byte, then the path and the signature header and the body, separated
// by the first two `\n`.
fuzz_target!(|data: &[u8]| {
    let Some((flags, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let (path, header, body) = (parts.next().unwrap_or_default(), parts.next(), parts.next().unwrap_or_default());
    let path = match flags & 3 {
        0 => format!("/stripe/webhook/00000000-0000-0000-0000-000000000000{}", String::from_utf8_lossy(path)),
        1 => format!("/stripe/webhook/{}", String::from_utf8_lossy(path)),
        _ => String::from_utf8_lossy(path).into_owned(),
    };
    let signed = flags & 4 != 0;
    let method = if flags & 8 == 0 { "POST" } else { "GET" };
    let mut request = Request::builder().method(method).uri(path.as_str());
    if signed {
        let now = chrono::Utc::now().timestamp();
        request = request.header("stripe-signature", sign(now, body));
    } else if let Some(header) = header {
        request = request.header("stripe-signature", header);
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return };
    let app = app();
    let (status, text) = app.runtime.block_on(async {
        let response = app.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (status, bytes)
    });
    assert!(status.is_success() <= signed || path.starts_with("/healthz") || path.starts_with("/readyz") || path.starts_with("/metrics"), "{status} for {path:?} unsigned");
    assert!(!status.is_server_error() || status.as_u16() == 503, "{status} for {path:?}");
    assert!(status.is_success() || text.len() <= 200, "{status}: {} bytes", text.len());
});

fn sign(at: i64, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{at}.").as_bytes());
    mac.update(body);
    format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()))
}
