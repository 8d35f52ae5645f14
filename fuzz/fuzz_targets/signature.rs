//! The `Stripe-Signature` header parser and verifier: arbitrary headers and payloads
//! never panic, and a payload signed the way Stripe signs it always verifies.
#![no_main]

use billing_service::stripe::signature::verify;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz";
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |n| usize::from(*n)).min(data.len().saturating_sub(1));
    let (header, payload) = data.get(1..).unwrap_or_default().split_at(split.min(data.len().saturating_sub(1)));
    if let Ok(header) = std::str::from_utf8(header) {
        let _ = verify(Some(header), payload, &[SECRET, "whsec_other"], Some(300), NOW);
        let _ = verify(Some(header), payload, &[], None, NOW);
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{NOW}.").as_bytes());
    mac.update(payload);
    let good = format!("t={NOW},v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(verify(Some(&good), payload, &[SECRET], Some(300), NOW), Ok(NOW));
});
