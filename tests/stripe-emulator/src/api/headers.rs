//! What the API reads from and writes to headers: the key's mode, the API version, the
//! request id every answer carries.

use axum::{
    http::{HeaderMap, HeaderValue},
    response::Response,
};

use crate::error::{ApiResult, StripeError};

/// Every answer carries a `Request-Id`, errors included, as Stripe's do.
pub fn with_request_id(mut response: Response) -> Response {
    if !response.headers().contains_key("request-id")
        && let Ok(value) = HeaderValue::from_str(&new_request_id())
    {
        response.headers_mut().insert("request-id", value);
    }
    response
}

pub fn new_request_id() -> String {
    format!("req_{}", &uuid::Uuid::new_v4().simple().to_string()[..14])
}

/// Test or live mode from the secret key, sent as Bearer or Basic auth (`curl -u key:`);
/// 401 without one, as Stripe answers.
pub fn mode_of(headers: &HeaderMap) -> ApiResult<bool> {
    use base64::Engine;
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let basic = auth
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|user| user.split(':').next().unwrap_or_default().to_owned());
    let key = basic.as_deref().or_else(|| auth.strip_prefix("Bearer ")).unwrap_or_default().trim();
    if key.is_empty() {
        return Err(StripeError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    }
    match key.split('_').take(2).collect::<Vec<_>>().as_slice() {
        ["sk" | "rk", "test"] => Ok(false),
        ["sk" | "rk", "live"] => Ok(true),
        _ => Err(StripeError::unauthorized(
            "Invalid API Key provided: the key must start with sk_test_, sk_live_, rk_test_ or rk_live_.",
        )),
    }
}

/// `YYYY-MM-DD` with an optional release name (`2026-09-30.endive`), as Stripe's API
/// versions are spelt.
pub fn is_api_version(version: &str) -> bool {
    let (date, name) = version.split_once('.').unwrap_or((version, "x"));
    let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = date.split('-').collect();
    matches!(parts.as_slice(), [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2))
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase())
}
