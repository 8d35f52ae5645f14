use serde_json::json;

use super::*;

fn event(kind: &str, object: Value) -> StripeEvent {
    let body = json!({ "id": "evt_1", "object": "event", "type": kind, "livemode": false, "created": 1_700_000_000,
                       "api_version": "2026-09-30.endive", "data": { "object": object } });
    StripeEvent::parse(body.to_string().as_bytes()).unwrap()
}

#[test]
fn every_kind_round_trips_through_its_name_and_names_are_unique() {
    let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
    for kind in EventKind::ALL {
        assert_eq!(EventKind::parse(kind.name()), Some(*kind));
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EventKind::ALL.len());
}

#[test]
fn every_kind_has_a_target() {
    for kind in EventKind::ALL {
        let object = json!({ "id": "x_1", "object": "x", "customer": "cus_1", "subscription": "sub_1" });
        assert!(
            event(kind.name(), object).target(&UserKeys::default()).is_some(),
            "{} has no target",
            kind.name()
        );
    }
}

#[test]
fn the_envelope_is_read_once() {
    let e = event(
        "customer.subscription.updated",
        json!({ "id": "sub_9", "object": "subscription", "customer": "cus_9" }),
    );
    assert_eq!((e.id.as_str(), e.kind), ("evt_1", Some(EventKind::SubscriptionUpdated)));
    assert_eq!(e.created.map(|t| t.timestamp()), Some(1_700_000_000));
    assert_eq!(e.api_version.as_deref(), Some("2026-09-30.endive"));
    assert_eq!((e.object_id().as_deref(), e.customer().as_deref()), (Some("sub_9"), Some("cus_9")));
    assert_eq!(
        e.target(&UserKeys::default()),
        Some(Target::Subscription { id: "sub_9".into(), payload_usable: true })
    );
}

#[test]
fn a_customer_routes_by_its_own_id() {
    let e = event("customer.updated", json!({ "id": "cus_7", "object": "customer" }));
    assert_eq!(e.customer().as_deref(), Some("cus_7"));
    assert_eq!(e.target(&UserKeys::default()), Some(Target::Customer("cus_7".into())));
}

#[test]
fn invoices_refetch_their_subscription_in_either_api_shape() {
    let current = json!({ "id": "in_1", "object": "invoice", "customer": "cus_1",
                          "parent": { "subscription_details": { "subscription": "sub_new" } } });
    let older = json!({ "id": "in_2", "object": "invoice", "customer": "cus_1", "subscription": "sub_old" });
    let none = json!({ "id": "in_3", "object": "invoice", "customer": "cus_1" });
    let target = |o| event("invoice.paid", o).target(&UserKeys::default());
    assert_eq!(target(current), Some(Target::Subscription { id: "sub_new".into(), payload_usable: false }));
    assert_eq!(target(older), Some(Target::Subscription { id: "sub_old".into(), payload_usable: false }));
    assert_eq!(target(none), None, "an invoice of no subscription changes no access");
}

#[test]
fn a_deleted_customer_is_taken_from_the_payload() {
    let e = event("customer.deleted", json!({ "id": "cus_5", "object": "customer", "livemode": false }));
    match e.target(&UserKeys::default()) {
        Some(Target::DeletedCustomer(c)) => assert!(c.deleted && c.id == "cus_5"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn kinds_billing_does_not_act_on_have_no_target() {
    let e = event("radar.early_fraud_warning.created", json!({ "id": "issfr_1" }));
    assert_eq!((e.kind, e.target(&UserKeys::default())), (None, None));
    assert_eq!(e.type_name, "radar.early_fraud_warning.created");
}

#[test]
fn bad_payloads_say_what_is_wrong() {
    assert!(matches!(StripeEvent::parse(b"not json"), Err(EventError::NotJson(_))));
    assert!(matches!(StripeEvent::parse(br#"{"type":"x"}"#), Err(EventError::Missing("id"))));
    assert!(matches!(StripeEvent::parse(br#"{"id":"evt_1"}"#), Err(EventError::Missing("type"))));
}

#[test]
fn data_that_is_not_an_object_is_no_object_rather_than_a_panic() {
    for data in [r#""price_1""#, "[1, 2]", "7", "null", r#"{"object": "cus_1"}"#] {
        let payload = format!(r#"{{"id": "evt_1", "type": "product.updated", "data": {data}}}"#);
        let event = StripeEvent::parse(payload.as_bytes()).expect("an id and a type");
        let expected =
            if data.starts_with('{') { serde_json::json!("cus_1") } else { serde_json::Value::Null };
        assert_eq!(event.object, expected, "{data}");
    }
}

#[test]
fn events_naming_one_object_share_a_key_and_the_usable_payload_stands_for_them() {
    let own = Target::Subscription { id: "sub_1".into(), payload_usable: true };
    let invoice = Target::Subscription { id: "sub_1".into(), payload_usable: false };
    assert_eq!(own.key(), invoice.key(), "one object, one refetch");
    assert_ne!(own.key(), Target::Subscription { id: "sub_2".into(), payload_usable: true }.key());
    assert_ne!(Target::Customer("x".into()).key(), Target::Product("x".into()).key(), "kinds apart");
    assert_eq!(Target::Subscribers("cus_1".into()).key(), None, "applied from each payload");
    // A later event stands for the object unless only the earlier one's payload could.
    assert!(own.yields_to(&own.clone()));
    assert!(!own.yields_to(&invoice));
    assert!(invoice.yields_to(&own));
    assert!(invoice.yields_to(&invoice.clone()));
}
