//! The webhook verifier agrees with Stripe's own libraries on every reference vector,
//! and enforces the timestamp tolerance in both directions.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use billing_service::stripe::signature::{SignatureError, verify};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let all: Value = serde_json::from_str(caixa_test_support::SIGNATURE_VECTORS).unwrap();
    all["vectors"].as_array().unwrap().clone()
}

#[test]
fn agrees_with_every_reference_vector() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 30);
    for vector in vectors {
        // Arrange
        let secret = vector["secret"].as_str().unwrap();
        let payload = vector["payload"].as_str().unwrap().as_bytes();
        let header = vector["header"].as_str();
        let expected = vector["valid_ignoring_tolerance"].as_bool().unwrap();

        // Act: no tolerance, as the reference verdicts were computed.
        let verdict = verify(header, payload, &[secret], None, 0);

        // Assert
        assert_eq!(verdict.is_ok(), expected, "{}: {verdict:?}", vector["name"]);
    }
}

#[test]
fn tolerance_refuses_old_and_future_timestamps() {
    let vector = vectors().into_iter().find(|v| v["name"] == "valid-0").unwrap();
    let (secret, payload) =
        (vector["secret"].as_str().unwrap(), vector["payload"].as_str().unwrap().as_bytes());
    let (header, t) = (vector["header"].as_str(), vector["timestamp"].as_i64().unwrap());

    assert_eq!(verify(header, payload, &[secret], Some(300), t + 300), Ok(t), "at the edge");
    assert_eq!(verify(header, payload, &[secret], Some(300), t - 300), Ok(t), "at the edge, clock behind");
    assert_eq!(verify(header, payload, &[secret], Some(300), t + 301), Err(SignatureError::Stale), "too old");
    assert_eq!(
        verify(header, payload, &[secret], Some(300), t - 301),
        Err(SignatureError::Stale),
        "from the future"
    );
}

#[test]
fn rotation_accepts_either_secret_and_names_each_failure() {
    let vector = vectors().into_iter().find(|v| v["name"] == "valid-0").unwrap();
    let (secret, payload) =
        (vector["secret"].as_str().unwrap(), vector["payload"].as_str().unwrap().as_bytes());
    let (header, t) = (vector["header"].as_str(), vector["timestamp"].as_i64().unwrap());

    assert!(
        verify(header, payload, &["whsec_new", secret], Some(300), t).is_ok(),
        "previous secret still accepted"
    );
    assert_eq!(verify(header, payload, &["whsec_new"], Some(300), t), Err(SignatureError::Mismatch));
    assert_eq!(verify(None, payload, &[secret], Some(300), t), Err(SignatureError::Missing));
    assert_eq!(verify(Some("v1=abc"), payload, &[secret], Some(300), t), Err(SignatureError::NoTimestamp));
    assert_eq!(verify(Some("t=1,v0=abc"), payload, &[secret], Some(300), t), Err(SignatureError::NoV1));
}
