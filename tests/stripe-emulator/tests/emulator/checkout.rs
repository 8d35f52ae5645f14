//! Checkout options: seats bought as the item's quantity, and promotion codes redeemed only
//! where the session allows them.

use crate::client::Api;

async fn session(api: &Api, price: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("mode", "subscription"),
        ("line_items[0][price]", price),
        ("success_url", "https://app.example.com/ok"),
    ];
    form.extend_from_slice(extra);
    let (status, session) = api.post("/v1/checkout/sessions", &form).await;
    assert_eq!(status, 200, "{session}");
    session["id"].as_str().unwrap().to_owned()
}

async fn complete(api: &Api, session: &str, code: &[(&str, &str)]) -> (u16, serde_json::Value) {
    api.post(&format!("/_emulator/checkout/sessions/{session}/complete"), code).await
}

#[tokio::test]
async fn seats_become_the_items_quantity_and_the_invoice_charges_each() {
    // Arrange
    let api = Api::start().await;
    let price = api.monthly_price("1000").await;
    let id = session(&api, &price, &[("line_items[0][quantity]", "5")]).await;

    // Act
    let (status, completed) = complete(&api, &id, &[]).await;
    let (_, sub) =
        api.get(&format!("/v1/subscriptions/{}", completed["subscription"].as_str().unwrap())).await;
    let (_, more) = api
        .post(&format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap()), &[("items[0][quantity]", "7")])
        .await;

    // Assert
    assert_eq!(status, 200, "{completed}");
    assert_eq!(sub["items"]["data"][0]["quantity"], 5);
    assert_eq!(completed["amount_total"], 5_000);
    assert_eq!(more["items"]["data"][0]["quantity"], 7);
    let (status, refused) = api
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "0"),
                ("success_url", "https://a.example/ok"),
            ],
        )
        .await;
    assert_eq!((status, refused["error"]["param"].as_str()), (400, Some("line_items[0][quantity]")));
}

#[tokio::test]
async fn a_promotion_code_takes_its_coupon_off_only_where_the_session_allows_codes() {
    // Arrange: 20 % off as the code LAUNCH; one session allowing codes, one not.
    let api = Api::start().await;
    let price = api.monthly_price("5000").await;
    let (_, coupon) = api.post("/v1/coupons", &[("percent_off", "20"), ("duration", "once")]).await;
    let (status, promo) = api
        .post(
            "/v1/promotion_codes",
            &[
                ("promotion[type]", "coupon"),
                ("promotion[coupon]", coupon["id"].as_str().unwrap()),
                ("code", "LAUNCH"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{promo}");
    let allowing = session(&api, &price, &[("allow_promotion_codes", "true")]).await;
    let plain = session(&api, &price, &[]).await;

    // Act
    let (refused_status, refused) = complete(&api, &plain, &[("promotion_code", "LAUNCH")]).await;
    let (unknown_status, unknown) = complete(&api, &allowing, &[("promotion_code", "NOPE")]).await;
    let (status, completed) = complete(&api, &allowing, &[("promotion_code", "launch")]).await;

    // Assert
    assert_eq!(refused_status, 400);
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("does not allow promotion codes"),
        "{refused}"
    );
    assert_eq!(unknown_status, 400, "{unknown}");
    let (_, still_open) = api.get(&format!("/v1/checkout/sessions/{allowing}")).await;
    assert_eq!(still_open["allow_promotion_codes"], true);
    assert_eq!(status, 200, "{completed}");
    assert_eq!(completed["total_details"]["amount_discount"], 1_000);
    assert_eq!(completed["amount_total"], 4_000);
    assert_eq!(completed["discounts"][0]["promotion_code"], promo["id"]);
    let (_, listed) = api.get("/v1/promotion_codes?code=LAUNCH").await;
    assert_eq!(listed["data"][0]["times_redeemed"], 1);
}
