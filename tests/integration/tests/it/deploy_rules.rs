//! What the production overlay needs to run as written, read from the rendered objects:
//! one certificate per workload whose identity the caller policy names, scraping and
//! traces that the NetworkPolicies let through, HTTPS for Stripe's deliveries, every
//! setting a checkout needs, a migration Job that runs again for each release, replica
//! counts left to the autoscaler, the namespace itself; and a dev overlay that a local
//! cluster without operators can apply.

use serde_json::Value;

use crate::deploy::name;

fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    objects.iter().filter(move |o| o["kind"] == kind)
}

fn named<'a>(objects: &'a [Value], kind: &'a str, wanted: &str) -> &'a Value {
    of_kind(objects, kind)
        .find(|o| o["metadata"]["name"] == wanted)
        .unwrap_or_else(|| panic!("{kind}/{wanted}"))
}

/// The autoscaler's floor for `deployment`, when one manages it.
pub fn min_replicas(objects: &[Value], deployment: &Value) -> Option<i64> {
    of_kind(objects, "HorizontalPodAutoscaler")
        .find(|h| h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"])
        .and_then(|h| h["spec"]["minReplicas"].as_i64())
}

fn tls_secret(deployment: &Value) -> String {
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    let tls = volumes.iter().find(|v| v["name"] == "tls").expect("a tls volume");
    tls["secret"]["secretName"].as_str().unwrap().to_owned()
}

fn certificate_for<'a>(objects: &'a [Value], secret: &str) -> &'a Value {
    of_kind(objects, "Certificate")
        .find(|c| c["spec"]["secretName"] == secret)
        .unwrap_or_else(|| panic!("no Certificate makes {secret}"))
}

pub fn check_prod(objects: &[Value], settings: &std::collections::HashMap<String, String>) {
    // One certificate per workload, named as the policy and the callers expect.
    let billing = named(objects, "Deployment", "caixa-billing");
    let entitlement = named(objects, "Deployment", "caixa-entitlement");
    let (billing_secret, entitlement_secret) = (tls_secret(billing), tls_secret(entitlement));
    assert_ne!(billing_secret, entitlement_secret, "each workload holds only its own key");
    let billing_names = &certificate_for(objects, &billing_secret)["spec"]["dnsNames"];
    assert!(billing_names.as_array().unwrap().iter().any(|n| n == settings["BILLING_TLS_DOMAIN"].as_str()));
    let entitlement_cert = &certificate_for(objects, &entitlement_secret)["spec"];
    let identity = entitlement_cert["dnsNames"][0].as_str().unwrap();
    let watch_granted = settings["CALLER_POLICY"].split(';').any(|rule| {
        rule.split_once('=')
            .is_some_and(|(who, what)| who.trim() == identity && what.contains("SubscriptionEvents"))
    });
    assert!(watch_granted, "the policy must let {identity} (the entitlement certificate's identity) Watch");
    assert!(entitlement_cert["usages"].as_array().unwrap().iter().any(|u| u == "client auth"));

    // Scraped and traced as shipped.
    let monitors: Vec<&Value> = of_kind(objects, "PodMonitor").collect();
    for deployment in [billing, entitlement] {
        let app = &deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"];
        let monitor =
            monitors.iter().find(|m| &m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == app);
        let monitor = monitor.unwrap_or_else(|| panic!("no PodMonitor for {}", name(deployment)));
        assert!(
            monitor["metadata"]["labels"]["release"].is_string(),
            "{}: no label to select it",
            name(monitor)
        );
        let port_name = &monitor["spec"]["podMetricsEndpoints"][0]["port"];
        let ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"].as_array().unwrap();
        let port = ports.iter().find(|p| &p["name"] == port_name).expect("the scraped port").clone();
        assert!(
            allowed_from_monitoring(objects, port["containerPort"].as_i64().unwrap()),
            "{}: scrape blocked",
            name(deployment)
        );
    }
    assert!(of_kind(objects, "PrometheusRule").all(|r| r["metadata"]["labels"]["release"].is_string()));
    let traces = of_kind(objects, "NetworkPolicy").any(|p| {
        p["spec"]["egress"].as_array().into_iter().flatten().any(|e| e["ports"].to_string().contains("4317"))
    });
    assert!(traces, "no egress to an OTLP collector");

    // Stripe's deliveries over HTTPS; a checkout's price; a Job per release; the
    // autoscaler's replicas; the namespace.
    let ingress = named(objects, "Ingress", "caixa-webhooks");
    let host = &ingress["spec"]["rules"][0]["host"];
    assert!(
        ingress["spec"]["tls"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["hosts"].as_array().unwrap().contains(host))
    );
    assert!(settings.get("STRIPE_DEFAULT_PRICE_ID").is_some_and(|p| p.starts_with("price_")));
    let job = of_kind(objects, "Job").next().unwrap();
    let image = job["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap();
    let tag = image.rsplit(':').next().unwrap().replace('.', "-");
    assert!(
        job["metadata"]["name"].as_str().unwrap().ends_with(&tag),
        "{} must be named for {image}",
        name(job)
    );
    for deployment in of_kind(objects, "Deployment") {
        if min_replicas(objects, deployment).is_some() {
            assert!(
                deployment["spec"]["replicas"].is_null(),
                "{}: the autoscaler owns replicas",
                name(deployment)
            );
        }
    }
    assert!(of_kind(objects, "Namespace").any(|n| n["metadata"]["name"] == billing["metadata"]["namespace"]));
}

fn allowed_from_monitoring(objects: &[Value], port: i64) -> bool {
    of_kind(objects, "NetworkPolicy").any(|p| {
        p["spec"]["ingress"].as_array().into_iter().flatten().any(|rule| {
            rule["from"].to_string().contains("monitoring")
                && rule["ports"].as_array().into_iter().flatten().any(|p| p["port"] == port)
        })
    })
}

pub fn check_dev(objects: &[Value]) {
    for kind in ["PrometheusRule", "PodMonitor", "Certificate"] {
        assert!(of_kind(objects, kind).next().is_none(), "a local cluster has no {kind} kind");
    }
    for workload in objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "Job"))) {
        let container = &workload["spec"]["template"]["spec"]["containers"][0];
        if container["image"].as_str().unwrap().starts_with("caixa") {
            assert_eq!(
                container["imagePullPolicy"],
                "IfNotPresent",
                "{}: a loaded image is used",
                name(workload)
            );
            assert!(!container["image"].as_str().unwrap().ends_with(":latest"), "{}", name(workload));
        }
    }
    assert!(of_kind(objects, "Namespace").any(|n| n["metadata"]["name"] == "caixa-dev"));
}
