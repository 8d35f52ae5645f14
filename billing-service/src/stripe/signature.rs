//! Stripe's webhook signature scheme: the `Stripe-Signature` header carries `t=<unix>`
//! and one or more `v1=<hex>` HMAC-SHA256 signatures of `"<t>.<raw body>"`, keyed with the
//! UTF-8 bytes of the whole endpoint secret. Any matching `v1` is accepted (Stripe sends
//! one per active secret during a rotation); other schemes (`v0`) are ignored.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a signature was refused. The reasons go into the 400 body, the log line and the
/// metric label; none of them contains a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("missing Stripe-Signature header")]
    Missing,
    /// The header has no usable `t=` timestamp.
    #[error("malformed Stripe-Signature header: no timestamp")]
    NoTimestamp,
    /// The header has no `v1=` signature.
    #[error("no v1 signature in Stripe-Signature header")]
    NoV1,
    /// No `v1` signature matches any accepted secret.
    #[error("signature does not match")]
    Mismatch,
    /// The timestamp is further from now than the tolerance.
    #[error("timestamp outside the tolerance")]
    Stale,
}

impl SignatureError {
    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::NoTimestamp => "no_timestamp",
            Self::NoV1 => "no_v1",
            Self::Mismatch => "mismatch",
            Self::Stale => "stale",
        }
    }
}

/// Checks `header` against `payload` with each of `secrets`. With `tolerance` (seconds),
/// a timestamp further than that from `now`, in either direction, is refused.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[&str],
    tolerance: Option<i64>,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    // Parsed as Stripe's libraries do: items split on `,`, keys matched exactly (so
    // `, v1=` is not a v1 signature), values cut at a further `=`.
    for item in header.split(',') {
        let mut parts = item.split('=');
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else { continue };
        match key {
            "t" => timestamp = value.trim().parse::<i64>().ok(),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoV1);
    }
    let matches = secrets.iter().any(|secret| {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else { return false };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // Stripe compares the lowercase hex text, so `ABC…` is not `abc…`.
        let expected = hex::encode(mac.finalize().into_bytes());
        signatures.iter().any(|candidate| bool::from(expected.as_bytes().ct_eq(candidate.as_bytes())))
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if tolerance.is_some_and(|tolerance| (now - timestamp).abs() > tolerance) {
        return Err(SignatureError::Stale);
    }
    Ok(timestamp)
}
