//! Caller authentication and per-method authorization: bearer tokens and mutual TLS,
//! through the real services over real sockets.

use std::{net::SocketAddr, path::Path, time::Duration};

use caixa_integration_tests::{
    certs::{self, TestCa},
    http_get, spawn_billing, spawn_entitlement_with, wait_until,
};
use caixa_proto::{
    billing::v1::{
        GetSubscriptionStatusRequest, WatchRequest, billing_service_client::BillingServiceClient,
        subscription_events_client::SubscriptionEventsClient,
    },
    entitlement::v1::{CheckAccessRequest, entitlement_service_client::EntitlementServiceClient},
};
use caixa_runtime::auth::hash_hex;
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::{channel, wait_for_health},
};
use tonic::{
    Code, Request,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use tonic_health::pb::health_check_response::ServingStatus;

const POLICY: &str = "web = caixa.billing.v1.BillingService/*; \
    reports = caixa.entitlement.v1.EntitlementService/CheckAccess; \
    entitlement = caixa.billing.v1.SubscriptionEvents/*";

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

async fn status_code(addr: SocketAddr, token: Option<&str>) -> Code {
    let mut client = BillingServiceClient::new(channel(addr).await);
    let request = with_token(GetSubscriptionStatusRequest { user_id: "user-ana".to_owned() }, token);
    client.get_subscription_status(request).await.map_or_else(|s| s.code(), |_| Code::Ok)
}

async fn check_code(client: &mut EntitlementServiceClient<Channel>, token: Option<&str>) -> Code {
    let request = CheckAccessRequest {
        user_id: "user-ana".to_owned(),
        feature: "reports".to_owned(),
        consistency: None,
    };
    client.check_access(with_token(request, token)).await.map_or_else(|s| s.code(), |_| Code::Ok)
}

/// How a reflection `list` without credentials fares.
async fn reflection_code(addr: SocketAddr) -> Code {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    match client.server_reflection_info(tokio_stream::iter([request])).await {
        Ok(response) => response.into_inner().message().await.map_or_else(|s| s.code(), |_| Code::Ok),
        Err(status) => status.code(),
    }
}

fn tokens_file(dir: &Path) -> String {
    let text = format!(
        "# caller sha256(token)\nweb {}\nreports {}\nentitlement {}\n",
        hash_hex("t-web"),
        hash_hex("t-reports"),
        hash_hex("t-entitlement")
    );
    certs::write(dir, "tokens", &text).display().to_string()
}

#[tokio::test]
async fn token_callers_reach_only_the_methods_their_policy_grants() {
    caixa_test_support::init_test_logging();
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    let own_token = certs::write(dir.path(), "entitlement-token", "t-entitlement\n").display().to_string();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let auth = [("CALLER_TOKENS_FILE", tokens.as_str()), ("CALLER_POLICY", POLICY)];
    let billing = spawn_billing(&db, &auth).await;
    let mut settings = auth.to_vec();
    settings.push(("BILLING_TOKEN_FILE", own_token.as_str()));
    settings.push(("GRPC_REFLECTION_OPEN", "false"));
    let entitlement = spawn_entitlement_with(&db, billing.grpc_addr, &settings).await;
    let mut checks = EntitlementServiceClient::new(channel(entitlement.grpc_addr).await);

    // Act and assert: billing.
    assert_eq!(status_code(billing.grpc_addr, None).await, Code::Unauthenticated);
    assert_eq!(status_code(billing.grpc_addr, Some("t-guess")).await, Code::Unauthenticated);
    assert_eq!(status_code(billing.grpc_addr, Some("t-web")).await, Code::Ok);
    assert_eq!(status_code(billing.grpc_addr, Some("t-reports")).await, Code::PermissionDenied);
    let mut events = SubscriptionEventsClient::new(channel(billing.grpc_addr).await);
    let watch = events.watch(with_token(WatchRequest { after_revision: 0 }, Some("t-web"))).await;
    assert_eq!(watch.map(|_| ()).unwrap_err().code(), Code::PermissionDenied);

    // Act and assert: the entitlement service.
    assert_eq!(check_code(&mut checks, None).await, Code::Unauthenticated);
    assert_eq!(check_code(&mut checks, Some("t-web")).await, Code::PermissionDenied);
    wait_until("the entitlement service is ready", Duration::from_secs(15), || async {
        check_code(&mut checks.clone(), Some("t-reports")).await == Code::Ok
    })
    .await;

    // Health stays open for probes, and the entitlement service follows billing's Watch
    // as the caller its own token names.
    for addr in [billing.grpc_addr, entitlement.grpc_addr] {
        wait_for_health(addr, "", ServingStatus::Serving, Duration::from_secs(15)).await;
    }
    wait_until("the entitlement service watches as itself", Duration::from_secs(15), || async {
        http_get(billing.http_addr, "/metrics")
            .await
            .1
            .contains(r#"caixa_watch_streams_opened_total{caller="entitlement"}"#)
    })
    .await;
    // Reflection: open on billing (the default), closed to strangers on the entitlement
    // service.
    assert_eq!(reflection_code(billing.grpc_addr).await, Code::Ok);
    assert_eq!(reflection_code(entitlement.grpc_addr).await, Code::Unauthenticated);
    let metrics = http_get(billing.http_addr, "/metrics").await.1;
    assert!(metrics.contains(r#"caixa_auth_refused_total{reason="unauthenticated"}"#), "{metrics}");
    assert!(
        metrics.contains(r#"caixa_auth_refused_total{reason="permission_denied",caller="reports"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains("t-web") && !metrics.contains("t-reports"), "no token in metrics");
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_service_refuses_to_start_in_live_mode_without_authentication() {
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let live = [("STRIPE_LIVE_MODE", "true")];
    let env = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("DATABASE_URL", db.url.clone())];
        pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        caixa_runtime::config::Env::from_pairs(pairs)
    };

    // Act
    let refused = entitlement_service::config::Settings::from_env(&env(&live));
    let allowed = entitlement_service::config::Settings::from_env(&env(&[
        ("STRIPE_LIVE_MODE", "true"),
        ("ALLOW_UNAUTHENTICATED", "true"),
    ]));

    // Assert
    assert_eq!(refused.unwrap_err().variable, "ALLOW_UNAUTHENTICATED");
    assert!(!allowed.unwrap().common.auth.authenticates());
}

async fn tls_channel(addr: SocketAddr, ca: &str, client: Option<&certs::Leaf>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
    if let Some(leaf) = client {
        tls = tls.identity(Identity::from_pem(&leaf.cert, &leaf.key));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|err| format!("{err:?}"))
}

async fn check_over(channel: Result<Channel, String>) -> Result<Code, String> {
    let mut client = EntitlementServiceClient::new(channel?);
    let request = CheckAccessRequest {
        user_id: "user-ana".to_owned(),
        feature: "reports".to_owned(),
        consistency: None,
    };
    Ok(client.check_access(request).await.map_or_else(|s| s.code(), |_| Code::Ok))
}

#[tokio::test]
async fn mutual_tls_names_the_caller_and_a_rotated_certificate_is_served_without_restart() {
    caixa_test_support::init_test_logging();
    // Arrange: the server's certificate comes from `old_ca`; clients carry certificates
    // from `clients_ca`.
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca, clients_ca) = (TestCa::new("old"), TestCa::new("new"), TestCa::new("clients"));
    let server = old_ca.leaf("localhost");
    let cert = certs::write(dir.path(), "tls.crt", &server.cert).display().to_string();
    let key = certs::write(dir.path(), "tls.key", &server.key).display().to_string();
    let client_ca = certs::write(dir.path(), "ca.crt", &clients_ca.pem()).display().to_string();
    let (reports, web) = (clients_ca.leaf("reports"), clients_ca.leaf("web"));
    let outsider = TestCa::new("outsider").leaf("reports");
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[]).await;
    let health_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let health_addr = health_port.to_string();
    let settings = [
        ("GRPC_HEALTH_ADDR", health_addr.as_str()),
        ("GRPC_TLS_CERT_FILE", cert.as_str()),
        ("GRPC_TLS_KEY_FILE", key.as_str()),
        ("GRPC_TLS_CLIENT_CA_FILE", client_ca.as_str()),
        ("CALLER_POLICY", POLICY),
        ("AUTH_RELOAD_SECONDS", "1"),
    ];
    let entitlement = spawn_entitlement_with(&db, billing.grpc_addr, &settings).await;
    let addr = entitlement.grpc_addr;
    wait_until("the entitlement service is ready", Duration::from_secs(15), || async {
        check_over(tls_channel(addr, &old_ca.pem(), Some(&reports)).await).await == Ok(Code::Ok)
    })
    .await;

    // The kubelet's probes cannot speak TLS: health alone is served in plaintext.
    wait_for_health(
        health_port,
        "caixa.entitlement.v1.EntitlementService",
        ServingStatus::Serving,
        Duration::from_secs(15),
    )
    .await;

    // Act and assert: the certificate names the caller; the policy applies to it.
    assert_eq!(
        check_over(tls_channel(addr, &old_ca.pem(), Some(&web)).await).await,
        Ok(Code::PermissionDenied)
    );
    assert!(check_over(tls_channel(addr, &old_ca.pem(), None).await).await != Ok(Code::Ok), "no certificate");
    assert!(
        check_over(tls_channel(addr, &old_ca.pem(), Some(&outsider)).await).await != Ok(Code::Ok),
        "a certificate from another CA"
    );
    assert!(tls_channel(addr, &new_ca.pem(), Some(&reports)).await.is_err(), "not yet rotated");

    // Act: the Secret rotates to a certificate from `new_ca`.
    let rotated = new_ca.leaf("localhost");
    certs::write(dir.path(), "tls.key", &rotated.key);
    certs::write(dir.path(), "tls.crt", &rotated.cert);

    // Assert: new connections get it, without a restart.
    wait_until("the rotated certificate is served", Duration::from_secs(15), || async {
        check_over(tls_channel(addr, &new_ca.pem(), Some(&reports)).await).await == Ok(Code::Ok)
    })
    .await;
    assert!(tls_channel(addr, &old_ca.pem(), Some(&reports)).await.is_err(), "the old certificate is gone");
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn the_entitlement_service_follows_billing_over_mutual_tls_as_itself() {
    caixa_test_support::init_test_logging();
    // Arrange: billing serves TLS and accepts only certificates from `clients_ca`; the
    // entitlement service holds one naming it.
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, clients_ca) = (TestCa::new("servers"), TestCa::new("clients"));
    let server = server_ca.leaf("localhost");
    let own = clients_ca.leaf("entitlement");
    let path = |name: &str, text: &str| certs::write(dir.path(), name, text).display().to_string();
    let (cert, key, client_ca) =
        (path("tls.crt", &server.cert), path("tls.key", &server.key), path("clients.crt", &clients_ca.pem()));
    let (server_ca_file, own_cert, own_key) =
        (path("servers.crt", &server_ca.pem()), path("own.crt", &own.cert), path("own.key", &own.key));
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(
        &db,
        &[
            ("GRPC_TLS_CERT_FILE", cert.as_str()),
            ("GRPC_TLS_KEY_FILE", key.as_str()),
            ("GRPC_TLS_CLIENT_CA_FILE", client_ca.as_str()),
            ("CALLER_POLICY", POLICY),
        ],
    )
    .await;
    let billing_url = format!("https://{}", billing.grpc_addr);

    // Act
    let entitlement = spawn_entitlement_with(
        &db,
        billing.grpc_addr,
        &[
            ("BILLING_URL", billing_url.as_str()),
            ("BILLING_TLS_CA_FILE", server_ca_file.as_str()),
            ("BILLING_TLS_DOMAIN", "localhost"),
            ("BILLING_TLS_CERT_FILE", own_cert.as_str()),
            ("BILLING_TLS_KEY_FILE", own_key.as_str()),
        ],
    )
    .await;

    // Assert: billing saw the Watch come from the caller its certificate names.
    wait_until("the entitlement service watches over mutual TLS", Duration::from_secs(15), || async {
        http_get(billing.http_addr, "/metrics")
            .await
            .1
            .contains(r#"caixa_watch_streams_opened_total{caller="entitlement"}"#)
    })
    .await;
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}
