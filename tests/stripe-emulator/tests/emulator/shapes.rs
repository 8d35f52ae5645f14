//! Every response type parses with async-stripe's own models, which are strict: a
//! field Stripe always sends that the emulator forgot fails the parse.

use crate::client::Api;

fn parse<T: miniserde::Deserialize>(what: &str, body: &str) -> T {
    miniserde::json::from_str(body).unwrap_or_else(|_| panic!("async-stripe cannot parse {what}: {body}"))
}

#[tokio::test]
async fn every_response_parses_with_async_stripe_models() {
    let api = Api::start().await;

    // Catalogue: product, price, feature, product feature.
    let (_, body) = api
        .raw("POST", "/v1/products", &[("name", "Caixa Pro"), ("metadata[features]", "reports")], &[])
        .await;
    let product: stripe_shared::Product = parse("product", &body);
    let product_id = product.id.as_str().to_owned();
    let (_, body) = api
        .raw(
            "POST",
            "/v1/prices",
            &[
                ("product", &product_id),
                ("currency", "brl"),
                ("unit_amount", "4990"),
                ("recurring[interval]", "month"),
            ],
            &[],
        )
        .await;
    let price: stripe_shared::Price = parse("price", &body);
    let (_, body) = api
        .raw("POST", "/v1/entitlements/features", &[("name", "Reports"), ("lookup_key", "reports")], &[])
        .await;
    let feature: stripe_shared::EntitlementsFeature = parse("feature", &body);
    let path = format!("/v1/products/{product_id}/features");
    let (_, body) = api.raw("POST", &path, &[("entitlement_feature", feature.id.as_str())], &[]).await;
    let _: stripe_product::ProductFeature = parse("product feature", &body);
    let (_, body) = api.raw("GET", &path, &[], &[]).await;
    let _: stripe_types::List<stripe_product::ProductFeature> = parse("product feature list", &body);
    let (_, body) = api.raw("GET", "/v1/prices?active=true&expand[]=data.product", &[], &[]).await;
    let prices: stripe_types::List<stripe_shared::Price> = parse("price list", &body);
    assert!(matches!(prices.data[0].product, stripe_types::Expandable::Object(_)), "data.product expanded");

    // Customer and its list.
    let (_, body) = api
        .raw("POST", "/v1/customers", &[("email", "bia@example.com"), ("metadata[user_id]", "7")], &[])
        .await;
    let customer: stripe_shared::Customer = parse("customer", &body);
    let (_, body) = api.raw("GET", "/v1/customers?email=bia@example.com", &[], &[]).await;
    let customers: stripe_types::List<stripe_shared::Customer> = parse("customer list", &body);
    assert_eq!(customers.data.len(), 1);

    // Checkout, completed into a subscription with an invoice.
    let session = api.checkout(price.id.as_str(), "14").await;
    let session_id = session["id"].as_str().unwrap();
    let (_, body) = api.raw("GET", &format!("/v1/checkout/sessions/{session_id}"), &[], &[]).await;
    let _: stripe_shared::CheckoutSession = parse("open checkout session", &body);
    let (status, _) = api.post(&format!("/_emulator/checkout/sessions/{session_id}/complete"), &[]).await;
    assert_eq!(status, 200);
    let (_, body) =
        api.raw("GET", &format!("/v1/checkout/sessions/{session_id}?expand[]=subscription"), &[], &[]).await;
    let completed: stripe_shared::CheckoutSession = parse("completed checkout session", &body);
    let Some(stripe_types::Expandable::Object(subscription)) = completed.subscription else {
        panic!("subscription expanded")
    };
    assert_eq!(subscription.status, stripe_shared::SubscriptionStatus::Trialing);
    let (_, body) =
        api.raw("GET", &format!("/v1/subscriptions/{}", subscription.id.as_str()), &[], &[]).await;
    let _: stripe_shared::Subscription = parse("subscription", &body);
    let (_, body) = api.raw("GET", "/v1/subscriptions?status=all", &[], &[]).await;
    let _: stripe_types::List<stripe_shared::Subscription> = parse("subscription list", &body);
    let invoice_id = subscription
        .latest_invoice
        .as_ref()
        .and_then(|i| i.id().as_ref())
        .map(|id| id.as_str().to_owned())
        .expect("latest invoice");
    let (_, body) = api.raw("GET", &format!("/v1/invoices/{invoice_id}"), &[], &[]).await;
    let _: stripe_shared::Invoice = parse("invoice", &body);
    let customer_of_sub = subscription.customer.id().as_str().to_owned();
    let (_, body) = api
        .raw("GET", &format!("/v1/entitlements/active_entitlements?customer={customer_of_sub}"), &[], &[])
        .await;
    let active: stripe_types::List<stripe_misc::EntitlementsActiveEntitlement> =
        parse("active entitlements", &body);
    assert_eq!(active.data.len(), 1, "trialing subscriber is entitled to the product's feature");

    // Portal, webhook endpoint, events, deletion.
    let (_, body) =
        api.raw("POST", "/v1/billing_portal/sessions", &[("customer", customer.id.as_str())], &[]).await;
    let _: stripe_billing::BillingPortalSession = parse("portal session", &body);
    let (_, body) = api
        .raw(
            "POST",
            "/v1/webhook_endpoints",
            &[("url", "http://127.0.0.1:9/hook"), ("enabled_events[]", "*")],
            &[],
        )
        .await;
    let endpoint: stripe_misc::WebhookEndpoint = parse("webhook endpoint", &body);
    assert!(endpoint.secret.is_some_and(|s| s.starts_with("whsec_")));
    let (_, body) = api.raw("GET", "/v1/webhook_endpoints", &[], &[]).await;
    let _: stripe_types::List<stripe_misc::WebhookEndpoint> = parse("endpoint list", &body);
    let (_, body) = api.raw("GET", "/v1/events?limit=100", &[], &[]).await;
    let events: stripe_types::List<stripe_shared::Event> = parse("event list", &body);
    assert!(events.data.len() >= 6, "events recorded: {}", events.data.len());
    let (_, body) = api.raw("DELETE", &format!("/v1/customers/{}", customer.id.as_str()), &[], &[]).await;
    let _: stripe_shared::DeletedCustomer = parse("deleted customer", &body);
    let (_, body) =
        api.raw("DELETE", &format!("/v1/webhook_endpoints/{}", endpoint.id.as_str()), &[], &[]).await;
    let _: stripe_misc::DeletedWebhookEndpoint = parse("deleted endpoint", &body);
}
