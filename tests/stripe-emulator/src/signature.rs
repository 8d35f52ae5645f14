//! Stripe's webhook signature: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed
//! with the UTF-8 bytes of the whole endpoint secret (`whsec_` included).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The `Stripe-Signature` header for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}
