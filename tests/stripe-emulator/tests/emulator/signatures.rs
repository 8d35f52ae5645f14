//! The emulator signs as Stripe does: it reproduces every valid signature in the
//! reference vectors (computed by Stripe's own libraries).

#[test]
fn signing_agrees_with_the_reference_vectors() {
    let vectors: serde_json::Value = serde_json::from_str(caixa_test_support::SIGNATURE_VECTORS).unwrap();
    let mut checked = 0;
    for vector in vectors["vectors"].as_array().unwrap() {
        if vector["valid_ignoring_tolerance"] != true {
            continue;
        }
        let header = vector["header"].as_str().unwrap();
        let timestamp = vector["timestamp"].as_i64().unwrap();
        let ours = stripe_emulator::sign(
            vector["secret"].as_str().unwrap(),
            timestamp,
            vector["payload"].as_str().unwrap(),
        );
        let v1 = ours.split_once(",v1=").unwrap().1;
        assert!(header.contains(&format!("v1={v1}")), "{}: {ours} not in {header}", vector["name"]);
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} valid vectors checked");
}
