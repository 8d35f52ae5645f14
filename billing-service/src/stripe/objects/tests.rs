use caixa_types::Limit;
use serde_json::json;

use super::*;

#[test]
fn ids_may_be_expanded_objects() {
    assert_eq!(id_of(&json!("cus_1")).as_deref(), Some("cus_1"));
    assert_eq!(id_of(&json!({ "id": "cus_2", "object": "customer" })).as_deref(), Some("cus_2"));
    assert_eq!(id_of(&json!("")), None);
    assert_eq!(id_of(&Value::Null), None);
}

#[test]
fn a_subscription_is_read_from_its_first_item() {
    let sub = Subscription::from_json(&json!({
        "id": "sub_1", "object": "subscription", "customer": { "id": "cus_1" }, "status": "past_due",
        "livemode": true, "cancel_at_period_end": true, "trial_start": 100, "metadata": { "user_id": "u_1" },
        "items": { "data": [{ "quantity": 3, "current_period_start": 200, "current_period_end": 300,
                              "price": { "id": "price_1", "product": "prod_1" } }] }
    }));
    assert_eq!((sub.id.as_str(), sub.customer_id.as_str(), sub.status), ("sub_1", "cus_1", Status::PastDue));
    assert_eq!((sub.price_id.as_deref(), sub.product_id.as_deref()), (Some("price_1"), Some("prod_1")));
    assert_eq!(sub.quantity, 3);
    assert_eq!(sub.current_period_start.map(|t| t.timestamp()), Some(200));
    assert_eq!(sub.current_period_end.map(|t| t.timestamp()), Some(300));
    assert_eq!(sub.trial_start.map(|t| t.timestamp()), Some(100));
    assert!(sub.livemode && sub.cancel_at_period_end);
    assert_eq!(sub.user_id.as_deref(), Some("u_1"));
}

#[test]
fn older_api_versions_keep_periods_on_the_subscription() {
    let sub = Subscription::from_json(&json!({ "id": "sub_1", "status": "active",
        "current_period_start": 10, "current_period_end": 20, "items": { "data": [] } }));
    assert_eq!(sub.current_period_start.map(|t| t.timestamp()), Some(10));
    assert_eq!(sub.current_period_end.map(|t| t.timestamp()), Some(20));
    assert_eq!(sub.quantity, 1);
}

#[test]
fn a_missing_or_unknown_status_grants_nothing() {
    assert_eq!(Subscription::from_json(&json!({ "id": "sub_1" })).status, Status::Incomplete);
    assert_eq!(
        Subscription::from_json(&json!({ "id": "sub_1", "status": "frozen" })).status,
        Status::Incomplete
    );
}

#[test]
fn product_features_come_from_metadata_and_entitlements_sorted_and_unique() {
    let product = Product::from_json(&json!({ "id": "prod_1", "name": "Pro",
        "metadata": { "features": "reports, export api  reports" } }));
    assert_eq!(product.features, ["api", "export", "reports"]);
    let list = json!({ "data": [ { "entitlement_feature": { "lookup_key": "sso" } },
                                 { "entitlement_feature": { "lookup_key": "api" } } ] });
    let product = product.with_features(entitlement_features(&list));
    assert_eq!(product.features, ["api", "export", "reports", "sso"]);
    assert!(product.active, "a product is active unless Stripe says otherwise");
}

#[test]
fn limits_come_from_product_metadata_first_then_the_entitlements_features_own() {
    // Arrange: `limits.projects` on the product (which also grants it), a bad value, and
    // two Entitlements features with a `limit` in their metadata.
    let product = Product::from_json(&json!({ "id": "prod_1", "name": "Team",
        "metadata": { "features": "app", "limits.projects": "10", "limits.seats_x": "lots",
                      "limits.storage": "Unlimited" } }));
    let list = json!({ "data": [
        { "entitlement_feature": { "id": "feat_1", "lookup_key": "projects", "metadata": { "limit": "99" } } },
        { "entitlement_feature": { "id": "feat_2", "lookup_key": "api", "metadata": { "limit": "1000" } } },
        { "entitlement_feature": { "id": "feat_3", "lookup_key": "sso", "metadata": {} } } ] });

    // Act
    let product = product.with_features(entitlement_features(&list));

    // Assert
    assert_eq!(product.features, ["api", "app", "projects", "sso", "storage"]);
    let limits: Vec<(&str, Limit)> = product.limits.iter().map(|(f, l)| (f.as_str(), *l)).collect();
    assert_eq!(
        limits,
        [("api", Limit::Count(1_000)), ("projects", Limit::Count(10)), ("storage", Limit::Unlimited)],
        "the product's own number wins; a value that is not a number is left out"
    );
}

#[test]
fn a_price_knows_whether_it_recurs() {
    let monthly = Price::from_json(&json!({ "id": "price_1", "product": "prod_1", "currency": "eur",
        "unit_amount": 900, "recurring": { "interval": "month", "interval_count": 1 } }));
    assert_eq!(monthly.recurring_interval.as_deref(), Some("month"));
    assert_eq!((monthly.recurring_interval_count, monthly.unit_amount), (Some(1), Some(900)));
    let once =
        Price::from_json(&json!({ "id": "price_2", "product": { "id": "prod_1" }, "recurring": null }));
    assert_eq!((once.recurring_interval, once.product_id.as_str()), (None, "prod_1"));
}

#[test]
fn a_session_names_its_user_and_carries_its_expanded_subscription() {
    let session =
        CheckoutSession::from_json(&json!({ "id": "cs_1", "status": "complete", "customer": "cus_1",
        "metadata": { "user_id": "u_meta" }, "customer_details": { "email": "A@x.io" },
        "subscription": { "id": "sub_1", "status": "trialing", "customer": "cus_1" } }));
    assert_eq!(session.status, Some(SessionStatus::Complete));
    assert_eq!(session.user_id.as_deref(), Some("u_meta"));
    assert_eq!(session.email.as_deref(), Some("A@x.io"));
    assert_eq!(session.subscription_id.as_deref(), Some("sub_1"));
    assert_eq!(session.subscription.map(|s| s.status), Some(Status::Trialing));

    let by_reference = CheckoutSession::from_json(&json!({ "id": "cs_2", "status": "open",
        "client_reference_id": "u_ref", "metadata": { "user_id": "u_meta" }, "subscription": "sub_2",
        "customer_email": "b@x.io" }));
    assert_eq!(by_reference.user_id.as_deref(), Some("u_ref"), "client_reference_id wins");
    assert_eq!((by_reference.subscription, by_reference.email.as_deref()), (None, Some("b@x.io")));
}
