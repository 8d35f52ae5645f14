//! Stripe's error JSON and HTTP codes, idempotency keys and modes.

use crate::client::Api;

#[tokio::test]
async fn errors_have_stripes_shape_and_status() {
    let api = Api::start().await;

    let (status, body) = api.with_key("").get("/v1/customers").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let (status, _) = api
        .with_key("")
        .send("GET", "/v1/customers", &[], &[("authorization", "Basic c2tfdGVzdF94Og==")])
        .await;
    assert_eq!(status, 200, "Basic auth with the key as user, as `curl -u sk_test_x:` sends");

    let (status, body) = api.get("/v1/customers/cus_missing").await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (404, Some("resource_missing"), Some("id"))
    );

    let (status, body) = api.post("/v1/prices", &[("currency", "brl"), ("unit_amount", "10")]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (400, Some("parameter_missing"), Some("product"))
    );

    let (status, body) = api
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", "price_nope"),
                ("success_url", "http://x/ok"),
            ],
        )
        .await;
    assert_eq!((status, body["error"]["param"].as_str()), (404, Some("line_items[0][price]")));

    api.post("/_emulator/rate_limit", &[("count", "1")]).await;
    let (status, body) = api.get("/v1/customers").await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limit")));
    assert_eq!(api.get("/v1/customers").await.0, 200, "only the next request is limited");
}

#[tokio::test]
async fn a_declined_card_fails_checkout_with_402() {
    let api = Api::start().await;
    let price = api.monthly_price("4990").await;
    let session = api.checkout(&price, "0").await;
    api.post("/_emulator/payments/fail_next", &[]).await;

    let (status, body) = api
        .post(&format!("/_emulator/checkout/sessions/{}/complete", session["id"].as_str().unwrap()), &[])
        .await;

    assert_eq!(
        (status, body["error"]["type"].as_str(), body["error"]["code"].as_str()),
        (402, Some("card_error"), Some("card_declined"))
    );
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_parameters() {
    let api = Api::start().await;
    let key = [("idempotency-key", "create-user-42")];

    let (s1, first) = api.send("POST", "/v1/customers", &[("email", "a@example.com")], &key).await;
    let (s2, second) = api.send("POST", "/v1/customers", &[("email", "a@example.com")], &key).await;
    let (s3, conflict) = api.send("POST", "/v1/customers", &[("email", "b@example.com")], &key).await;

    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["id"], second["id"], "a replay returns the first result");
    assert_eq!(api.get("/v1/customers").await.1["data"].as_array().unwrap().len(), 1);
    assert_eq!((s3, conflict["error"]["type"].as_str()), (400, Some("idempotency_error")));
}

#[tokio::test]
async fn test_and_live_keys_see_separate_data() {
    let api = Api::start().await;
    let live = api.with_key("sk_live_emulator");

    let (_, test_customer) = api.post("/v1/customers", &[("email", "t@example.com")]).await;
    let (_, live_customer) = live.post("/v1/customers", &[("email", "l@example.com")]).await;

    assert_eq!(test_customer["livemode"], false);
    assert_eq!(live_customer["livemode"], true);
    assert_eq!(live.get(&format!("/v1/customers/{}", test_customer["id"].as_str().unwrap())).await.0, 404);
    assert_eq!(live.get("/v1/customers").await.1["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn api_latency_is_added_to_every_api_request_until_turned_off() {
    let api = Api::start().await;
    let set = api.post("/_emulator/latency", &[("fixed_ms", "1500"), ("jitter_ms", "0")]).await;
    assert_eq!((set.0, set.1["fixed_ms"].as_u64()), (200, Some(1500)));

    let at = std::time::Instant::now();
    assert_eq!(api.get("/v1/customers").await.0, 200);
    let slow = at.elapsed();
    api.post("/_emulator/latency", &[("fixed_ms", "0")]).await;
    let at = std::time::Instant::now();
    assert_eq!(api.get("/v1/customers").await.0, 200);
    let fast = at.elapsed();

    assert!(slow >= std::time::Duration::from_millis(1500), "the API waited {slow:?}");
    assert!(fast < std::time::Duration::from_millis(1500), "turned off, it still waited {fast:?}");
}
