//! Where the emulator once answered otherwise than Stripe: unknown parameters, a reused
//! idempotency key, retry advice, unknown routes, request ids, the API version, the
//! request an event names, Checkout's `ui_mode`.

use serde_json::Value;

use crate::client::Api;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

#[tokio::test]
async fn an_unknown_parameter_is_refused_by_name() {
    let api = Api::start().await;

    let (status, body) = api.post("/v1/customers", &[("email", "a@example.com"), ("emial", "x")]).await;
    let (nested, _) = api.post("/v1/customers", &[("metadata[anything]", "is fine")]).await;
    let (list, _) = api.get("/v1/customers?limit=3&expand[]=data.default_source").await;
    let (unknown_query, query_body) = api.get("/v1/customers?colour=blue").await;

    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (400, Some("parameter_unknown"), Some("emial"))
    );
    assert_eq!(body["error"]["message"], "Received unknown parameter: emial");
    assert_eq!((nested, list), (200, 200), "metadata's keys and a list's paging are known");
    assert_eq!((unknown_query, query_body["error"]["param"].as_str()), (400, Some("colour")));
}

#[tokio::test]
async fn a_reused_idempotency_key_is_a_400_not_to_be_retried() {
    let api = Api::start().await;
    let key = [("idempotency-key", "k-1")];
    api.send("POST", "/v1/customers", &[("email", "a@example.com")], &key).await;

    let (status, headers, body) =
        api.exchange("POST", "/v1/customers", &[("email", "b@example.com")], &key).await;

    assert_eq!((status, json(&body)["error"]["type"].as_str()), (400, Some("idempotency_error")));
    assert_eq!(headers["stripe-should-retry"], "false");
    assert!(headers.contains_key("request-id"));
}

#[tokio::test]
async fn a_rate_limit_says_retry_and_every_answer_has_a_request_id() {
    let api = Api::start().await;
    api.post("/_emulator/rate_limit", &[("count", "1")]).await;

    let (limited, limited_headers, _) = api.exchange("GET", "/v1/customers", &[], &[]).await;
    let (refused, refused_headers, _) = api.with_key("").exchange("GET", "/v1/customers", &[], &[]).await;
    let (ok, ok_headers, _) = api.exchange("GET", "/v1/customers", &[], &[]).await;

    assert_eq!((limited, refused, ok), (429, 401, 200));
    assert_eq!(limited_headers["stripe-should-retry"], "true");
    for headers in [&limited_headers, &refused_headers, &ok_headers] {
        let id = headers["request-id"].to_str().unwrap();
        assert!(id.starts_with("req_") && id.len() > 10, "{id}");
    }
    assert_ne!(limited_headers["request-id"], ok_headers["request-id"]);
    assert!(!ok_headers.contains_key("stripe-should-retry"), "no advice where none is due");
}

#[tokio::test]
async fn an_unknown_route_answers_stripe_s_404() {
    let api = Api::start().await;

    let (status, headers, body) = api.exchange("GET", "/v1/customerz", &[], &[]).await;

    let error = &json(&body)["error"];
    assert_eq!((status, error["type"].as_str()), (404, Some("invalid_request_error")));
    assert!(error["message"].as_str().unwrap().starts_with("Unrecognized request URL (GET: /v1/customerz)"));
    assert!(headers.contains_key("request-id"));
}

#[tokio::test]
async fn the_api_version_is_checked_and_answered() {
    let api = Api::start().await;

    let (bad, _, body) = api.exchange("GET", "/v1/customers", &[], &[("stripe-version", "yesterday")]).await;
    let (good, headers, _) =
        api.exchange("GET", "/v1/customers", &[], &[("stripe-version", "2025-09-30.clover")]).await;
    let (dated, _, _) = api.exchange("GET", "/v1/customers", &[], &[("stripe-version", "2020-08-27")]).await;

    assert_eq!(
        (bad, json(&body)["error"]["message"].as_str()),
        (400, Some("Invalid Stripe API version: yesterday"))
    );
    assert_eq!((good, dated), (200, 200));
    assert_eq!(headers["stripe-version"], stripe_emulator::DEFAULT_API_VERSION);
}

#[tokio::test]
async fn an_event_names_the_request_that_caused_it() {
    let api = Api::start().await;

    let (_, headers, _) = api
        .exchange("POST", "/v1/customers", &[("email", "a@example.com")], &[("idempotency-key", "k-ev")])
        .await;
    api.post("/_emulator/clock/advance", &[("seconds", "1")]).await;
    let (_, events) = api.get("/v1/events?type=customer.created").await;

    let request = &events["data"][0]["request"];
    assert_eq!(request["id"].as_str(), headers["request-id"].to_str().ok());
    assert_eq!(request["idempotency_key"], "k-ev");
}

#[tokio::test]
async fn checkout_is_hosted_as_today_s_api_names_it() {
    let api = Api::start().await;
    let price = api.monthly_price("4990").await;

    let session = api.checkout(&price, "0").await;

    assert_eq!(session["ui_mode"], "hosted_page");
}

#[tokio::test]
async fn stripe_s_rate_limits_hold_per_mode_and_kind() {
    let api = Api::start().await;
    let (status, limits) = api.post("/_emulator/rate_limit", &[("read", "5"), ("write", "2")]).await;
    assert_eq!((status, &limits["limits"]["test"]["read"]), (200, &serde_json::json!(5.0)));

    let mut reads = Vec::new();
    for _ in 0..12 {
        reads.push(api.exchange("GET", "/v1/customers", &[], &[]).await);
    }
    let writes = [
        api.post("/v1/customers", &[]).await.0,
        api.post("/v1/customers", &[]).await.0,
        api.post("/v1/customers", &[]).await.0,
    ];
    let live = api.with_key("sk_live_emulator").get("/v1/customers").await.0;

    let granted = reads.iter().filter(|(status, _, _)| *status == 200).count();
    assert!((5..=6).contains(&granted), "a second's burst of 5, and at most one refilled: {granted}");
    let (_, headers, body) = reads.iter().find(|(status, _, _)| *status == 429).expect("a refused read");
    assert_eq!(json(body)["error"]["code"], "rate_limit");
    assert_eq!(headers["stripe-should-retry"], "true");
    assert_eq!(writes, [200, 200, 429], "writes have their own bucket");
    assert_eq!(live, 200, "live mode has its own limits");
    let (_, stats) = api.get("/_emulator/stats").await;
    assert_eq!(stats["rate_limited"].as_u64(), Some(reads.len() as u64 - granted as u64 + 1));
}
