//! The deployment as shipped: the Dockerfile passes hadolint, each kustomize overlay
//! renders objects that pass Kubernetes' schemas, and the rendered objects keep our rules
//! (probes, limits, non-root, read-only root, no secret values, auth on in production,
//! and what production needs to run as written: `deploy_rules`).

use std::{collections::HashMap, process::Command};

use caixa_test_support::tools::{python_tools, run, workspace_root};

use crate::deploy_rules;
use serde_json::Value;

/// Kinds from operators whose schemas are not among Kubernetes' own; checked by our rules.
const CUSTOM_KINDS: [&str; 3] = ["PrometheusRule", "PodMonitor", "Certificate"];

/// Renders an overlay and validates it against the schemas; returns the objects.
pub(crate) fn render(overlay: &str) -> Vec<Value> {
    let (bin, root) = (python_tools(), workspace_root());
    let yaml = run(
        Command::new(bin.join("kubectl")).args(["kustomize"]).arg(root.join("k8s/overlays").join(overlay)),
        &format!("kubectl kustomize {overlay}"),
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &yaml).unwrap();
    let json = run(
        Command::new(bin.join("python"))
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            ])
            .arg(file.path()),
        "YAML to JSON",
    );
    let objects: Vec<Value> = serde_json::from_str(&json).unwrap();
    // JSON documents are YAML documents.
    let standard: Vec<String> = objects
        .iter()
        .filter(|o| !CUSTOM_KINDS.contains(&o["kind"].as_str().unwrap_or_default()))
        .map(Value::to_string)
        .collect();
    std::fs::write(file.path(), standard.join("\n---\n")).unwrap();
    run(
        Command::new(bin.join("kubernetes-validate")).args(["--strict", "--quiet"]).arg(file.path()),
        &format!("kubernetes-validate of {overlay}"),
    );
    objects
}

/// Every alert has a summary and a runbook, and names only series the services export
/// (a renamed metric would otherwise leave an alert that can never fire).
fn check_alerts(objects: &[Value]) {
    let rule = objects.iter().find(|o| o["kind"] == "PrometheusRule").expect("the alerts");
    let sources: String = ["billing-service/src", "entitlement-service/src", "runtime/src"]
        .iter()
        .flat_map(|dir| walk(&workspace_root().join(dir)))
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .collect();
    let mut alerts = 0;
    for rule in rule["spec"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap())
    {
        alerts += 1;
        let alert = rule["alert"].as_str().unwrap();
        assert!(
            rule["annotations"]["summary"].is_string() && rule["annotations"]["runbook"].is_string(),
            "{alert}"
        );
        let expr = rule["expr"].as_str().unwrap();
        let series = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("caixa_"));
        for name in series {
            assert!(
                sources.contains(&format!("\"{name}\"")),
                "{alert} uses {name}, which no service exports"
            );
        }
    }
    assert!(alerts >= 8, "{alerts} alerts");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
    entries.flat_map(|path| if path.is_dir() { walk(&path) } else { vec![path] }).collect()
}

pub(crate) fn name(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Our rules for every workload: each container has limits and a hardened security
/// context, long-running ones have probes, and no secret travels as a literal value.
fn check_workloads(objects: &[Value], settings: &HashMap<String, String>) {
    let grace: i64 = settings["SHUTDOWN_GRACE_SECONDS"].parse().unwrap();
    let workloads = objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "Job")));
    for workload in workloads {
        let pod = &workload["spec"]["template"]["spec"];
        let what = name(workload);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}: runAsNonRoot");
        if workload["kind"] == "Deployment" && what.contains("caixa-") && !what.contains("postgres") {
            let termination = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
            assert!(
                termination > grace,
                "{what}: terminationGracePeriodSeconds {termination} ≤ drain grace {grace}"
            );
        }
        for container in pod["containers"].as_array().unwrap() {
            let limits = &container["resources"]["limits"];
            assert!(limits["cpu"].is_string() && limits["memory"].is_string(), "{what}: limits");
            let security = &container["securityContext"];
            assert_eq!(security["allowPrivilegeEscalation"], false, "{what}: privilege escalation");
            assert_eq!(security["readOnlyRootFilesystem"], true, "{what}: read-only root");
            assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]), "{what}: capabilities");
            if workload["kind"] == "Deployment" {
                assert!(container["readinessProbe"].is_object(), "{what}: readiness probe");
                assert!(container["livenessProbe"].is_object(), "{what}: liveness probe");
            }
            for env in container["env"].as_array().into_iter().flatten() {
                let variable = env["name"].as_str().unwrap();
                let secret =
                    variable == "DATABASE_URL" || variable.contains("SECRET") || variable.contains("KEY");
                assert!(
                    !secret || env["valueFrom"]["secretKeyRef"].is_object(),
                    "{what}: {variable} must come from a Secret reference"
                );
            }
        }
    }
    assert!(
        objects.iter().all(|o| o["kind"] != "Secret"),
        "no Secret is shipped: values are created in the cluster, never kept here"
    );
}

fn settings(objects: &[Value]) -> HashMap<String, String> {
    let map = objects.iter().find(|o| o["kind"] == "ConfigMap").expect("the settings ConfigMap");
    serde_json::from_value(map["data"].clone()).unwrap()
}

#[test]
fn the_image_and_both_overlays_pass_their_linters_and_our_rules() {
    // Arrange
    let bin = python_tools();

    // Act and assert: the Dockerfile.
    run(Command::new(bin.join("hadolint")).arg(workspace_root().join("Dockerfile")), "hadolint Dockerfile");

    // The production overlay: replicas spread over nodes, callers authenticated.
    let prod = render("prod");
    let prod_settings = settings(&prod);
    check_workloads(&prod, &prod_settings);
    for deployment in prod.iter().filter(|o| o["kind"] == "Deployment") {
        let replicas =
            deployment["spec"]["replicas"].as_i64().or_else(|| deploy_rules::min_replicas(&prod, deployment));
        assert!(replicas.unwrap_or(1) >= 2, "{}", name(deployment));
        assert!(
            deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].is_object(),
            "{}",
            name(deployment)
        );
    }
    assert_eq!(prod_settings["STRIPE_LIVE_MODE"], "true");
    for required in ["GRPC_TLS_CLIENT_CA_FILE", "CALLER_TOKENS_FILE", "CALLER_POLICY"] {
        assert!(prod_settings.contains_key(required), "production without {required}");
    }
    let kinds: Vec<String> = prod.iter().map(name).collect();
    for expected in [
        "Job/caixa-migrate-0-1-0",
        "HorizontalPodAutoscaler/caixa-entitlement",
        "PodDisruptionBudget/caixa-billing",
        "NetworkPolicy/caixa-default-deny",
        "Ingress/caixa-webhooks",
    ] {
        assert!(kinds.iter().any(|k| k == expected), "{expected} missing from {kinds:?}");
    }
    check_alerts(&prod);
    let ingress = prod.iter().find(|o| o["kind"] == "Ingress").unwrap();
    let paths = &ingress["spec"]["rules"][0]["http"]["paths"];
    assert_eq!(paths.as_array().unwrap().len(), 1);
    assert_eq!(paths[0]["path"], "/stripe/webhook/", "only the webhook path is exposed");

    deploy_rules::check_prod(&prod, &prod_settings);

    // The dev overlay: one replica each, its own PostgreSQL, what a local cluster has.
    let dev = render("dev");
    check_workloads(&dev, &settings(&dev));
    assert!(dev.iter().any(|o| name(o) == "Deployment/caixa-postgres"));
    let replicas = |d: &&Value| d["spec"]["replicas"] == 1 || d["spec"]["replicas"].is_null();
    assert!(dev.iter().filter(|o| o["kind"] == "Deployment").all(|d| replicas(&d)));
    deploy_rules::check_dev(&dev);
}
