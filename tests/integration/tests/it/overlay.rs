//! Each overlay as a test: it is rendered, and both services start as processes with
//! exactly the environment its Deployments give them: the ConfigMap's values, each
//! Secret key written as the file its volume would hold (a CA, each workload's
//! certificate with the overlay's names, the token files), each secret reference's value.
//! Only listen addresses and billing's URL change, since both run on one host. Then the
//! entitlement service must follow billing through Watch (not the database fallback), a
//! caller named as the overlay's policy names it must reach CheckAccess through
//! caixa-client while a caller it does not name is refused, and the probe ports answer.

use std::{collections::HashMap, path::Path, time::Duration};

use caixa_client::{ClientConfig, ClientError, EntitlementClient};
use caixa_integration_tests::{certs, certs::TestCa, http_get, wait_until};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::wait_for_health,
    process::ServiceProcess,
};
use serde_json::Value;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use tonic_health::pb::health_check_response::ServingStatus;

const BILLING: &str = env!("CARGO_BIN_EXE_billing-process");
const ENTITLEMENT: &str = env!("CARGO_BIN_EXE_entitlement-process");

/// The Secrets the overlay references, as files in `dir/<secret>/<key>` and as values.
struct Secrets {
    values: HashMap<(String, String), String>,
}

impl Secrets {
    fn make(dir: &Path, objects: &[Value], ca: &TestCa, database_url: &str) -> Self {
        let mut values = HashMap::new();
        for cert in objects.iter().filter(|o| o["kind"] == "Certificate") {
            let names: Vec<&str> =
                cert["spec"]["dnsNames"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
            let leaf = ca.leaf_for(&names);
            let secret = cert["spec"]["secretName"].as_str().unwrap();
            for (key, text) in [("tls.crt", leaf.cert), ("tls.key", leaf.key), ("ca.crt", ca.pem())] {
                values.insert((secret.to_owned(), key.to_owned()), text);
            }
        }
        let token = "t-entitlement-own";
        let tokens = format!("caixa-entitlement {}\n", caixa_runtime::auth::hash_hex(token));
        values.insert(("caixa-caller-tokens".into(), "tokens".into()), tokens);
        values.insert(("caixa-entitlement-token".into(), "token".into()), token.into());
        values.insert(("caixa-database".into(), "url".into()), database_url.into());
        for ((secret, key), text) in &values {
            std::fs::create_dir_all(dir.join(secret)).unwrap();
            certs::write(&dir.join(secret), key, text);
        }
        Self { values }
    }
}

fn free_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()
}

/// The environment `deployment`'s container gets, with mounted paths moved under `dir`
/// and `addresses` in place of the listen addresses.
fn pod_env(
    objects: &[Value],
    deployment: &str,
    dir: &Path,
    secrets: &Secrets,
    addresses: &[(&str, String)],
) -> Vec<(String, String)> {
    let object =
        objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == deployment).unwrap();
    let pod = &object["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let map = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    let mut env: HashMap<String, String> = serde_json::from_value(map["data"].clone()).unwrap();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_owned();
        match (&var["value"], &var["valueFrom"]["secretKeyRef"]) {
            (Value::String(value), _) => drop(env.insert(name, value.clone())),
            (_, reference) => {
                let key = (
                    reference["name"].as_str().unwrap().to_owned(),
                    reference["key"].as_str().unwrap().to_owned(),
                );
                match secrets.values.get(&key) {
                    Some(value) => drop(env.insert(name, value.clone())),
                    None => assert_eq!(reference["optional"], true, "{deployment}: no Secret {key:?}"),
                }
            }
        }
    }
    let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
        let path = mount["mountPath"].as_str().unwrap();
        // A Secret's files, or a scratch directory of the pod's own.
        let local = match volume["secret"]["secretName"].as_str() {
            Some(secret) => dir.join(secret),
            None => {
                assert!(volume["emptyDir"].is_object(), "{deployment}: a volume neither Secret nor emptyDir");
                let scratch = dir.join(format!("{deployment}-{}", volume["name"].as_str().unwrap()));
                std::fs::create_dir_all(&scratch).unwrap();
                scratch
            }
        };
        let local = local.display().to_string();
        for value in env.values_mut().filter(|v| v.starts_with(path)) {
            *value = value.replacen(path, &local, 1);
        }
    }
    env.extend(addresses.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env.into_iter().collect()
}

fn as_refs(env: &[(String, String)]) -> Vec<(&str, String)> {
    env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

async fn check_as(caller: &str, ca: &TestCa, entitlement: &str) -> Result<(), ClientError> {
    let leaf = ca.leaf(caller);
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("caixa-entitlement")
        .identity(Identity::from_pem(&leaf.cert, &leaf.key));
    let config = ClientConfig { tls: Some(tls), ..ClientConfig::default() };
    let client = EntitlementClient::new(&[&format!("https://{entitlement}")], config)?;
    client.check("user-1", "").await.map(drop)
}

#[tokio::test]
async fn the_prod_overlay_runs_as_written() {
    run_overlay("prod").await;
}

#[tokio::test]
async fn the_dev_overlay_runs_as_written() {
    run_overlay("dev").await;
}

async fn run_overlay(overlay: &str) {
    caixa_test_support::init_test_logging();
    // Arrange: the rendered overlay, its Secrets as files, both services as processes.
    let objects = crate::deploy::render(overlay);
    let settings = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap()["data"].clone();
    let scheme = if settings["GRPC_TLS_CERT_FILE"].is_string() { "https" } else { "http" };
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("caixa-ca");
    let secrets = Secrets::make(dir.path(), &objects, &ca, &db.url);
    let (billing_grpc, billing_http, billing_health) = (free_addr(), free_addr(), free_addr());
    let (entitlement_grpc, entitlement_http, entitlement_health) = (free_addr(), free_addr(), free_addr());
    let billing_env = pod_env(
        &objects,
        "caixa-billing",
        dir.path(),
        &secrets,
        &[
            ("BILLING_GRPC_ADDR", billing_grpc.clone()),
            ("BILLING_HTTP_ADDR", billing_http.clone()),
            ("GRPC_HEALTH_ADDR", billing_health.clone()),
        ],
    );
    let entitlement_env = pod_env(
        &objects,
        "caixa-entitlement",
        dir.path(),
        &secrets,
        &[
            ("ENTITLEMENT_GRPC_ADDR", entitlement_grpc.clone()),
            ("ENTITLEMENT_HTTP_ADDR", entitlement_http.clone()),
            ("GRPC_HEALTH_ADDR", entitlement_health.clone()),
            ("BILLING_URL", format!("{scheme}://{billing_grpc}")),
        ],
    );
    let billing = ServiceProcess::spawn(BILLING, &as_refs(&billing_env));
    let entitlement = ServiceProcess::spawn(ENTITLEMENT, &as_refs(&entitlement_env));

    // Assert: the probe ports answer.
    let within = Duration::from_secs(30);
    billing.wait_for_log("billing service listening", within).await;
    entitlement.wait_for_log("entitlement service listening", within).await;
    wait_for_health(billing_health.parse().unwrap(), "", ServingStatus::Serving, within).await;
    wait_for_health(
        entitlement_health.parse().unwrap(),
        "caixa.entitlement.v1.EntitlementService",
        ServingStatus::Serving,
        within,
    )
    .await;
    assert_eq!(
        http_get(billing_http.parse().unwrap(), "/healthz").await.0,
        200,
        "{}",
        billing.output().await
    );

    // Assert: the entitlement service follows billing through Watch.
    let metrics = entitlement_http.parse().unwrap();
    wait_until("the entitlement service follows billing's Watch", within, || async {
        http_get(metrics, "/metrics").await.1.contains("caixa_follower_source{source=\"billing\"} 1")
    })
    .await;

    // Assert: the policy's caller reaches CheckAccess; one it does not name is refused.
    // Without authentication (dev), any caller does.
    if scheme == "http" {
        let client =
            EntitlementClient::new(&[&format!("http://{entitlement_grpc}")], ClientConfig::default());
        let answer = client.unwrap().check("user-1", "").await;
        assert!(answer.is_ok(), "{answer:?}\n{}", entitlement.output().await);
        return;
    }
    let internal = check_as("internal", &ca, &entitlement_grpc).await;
    assert!(internal.is_ok(), "{internal:?}\n{}", entitlement.output().await);
    let web = check_as("web", &ca, &entitlement_grpc).await;
    assert!(
        matches!(&web, Err(err) if err.to_string().contains("PERMISSION_DENIED") || format!("{err:?}").contains("PermissionDenied")),
        "{web:?}"
    );
}
