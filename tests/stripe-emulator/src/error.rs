//! Errors in Stripe's shape: `{"error": {"type", "code", "param", "message"}}` with
//! Stripe's HTTP status codes.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An API error as Stripe reports it.
#[derive(Debug, Clone)]
pub struct StripeError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub message: String,
}

pub type ApiResult<T> = Result<T, StripeError>;

impl StripeError {
    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: Some("parameter_invalid"),
            param: Some(param.to_owned()),
            message: message.into(),
        }
    }

    /// 400 `parameter_missing`.
    pub fn missing(param: &str) -> Self {
        Self {
            code: Some("parameter_missing"),
            ..Self::invalid(param, format!("Missing required param: {param}."))
        }
    }

    /// 404 `resource_missing`.
    pub fn no_such(kind: &str, id: &str, param: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            param: Some(param.to_owned()),
            message: format!("No such {kind}: '{id}'"),
        }
    }

    /// 401 without a usable key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: message.into(),
        }
    }

    /// 402 card error.
    pub fn card_declined() -> Self {
        Self {
            status: StatusCode::PAYMENT_REQUIRED,
            kind: "card_error",
            code: Some("card_declined"),
            param: None,
            message: "Your card was declined.".to_owned(),
        }
    }

    /// 400 idempotency key reused with other parameters.
    pub fn idempotency_mismatch(key: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "idempotency_error",
            code: None,
            param: None,
            message: format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            ),
        }
    }

    /// 429 rate limit.
    pub fn rate_limited() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "invalid_request_error",
            code: Some("rate_limit"),
            param: None,
            message: "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.".to_owned(),
        }
    }

    /// 400 for a parameter the endpoint does not take.
    pub fn unknown_parameter(param: &str) -> Self {
        Self {
            code: Some("parameter_unknown"),
            ..Self::invalid(param, format!("Received unknown parameter: {param}"))
        }
    }

    /// 404 for a path no endpoint answers.
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
            ),
        }
    }

    /// 400 for a `Stripe-Version` that names no API version.
    pub fn invalid_version(version: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: format!("Invalid Stripe API version: {version}"),
        }
    }

    /// Whether another try may succeed, as Stripe says in `Stripe-Should-Retry`: yes
    /// after a rate limit, never after an idempotency error; unsaid otherwise.
    fn should_retry(&self) -> Option<&'static str> {
        match (self.status, self.kind) {
            (StatusCode::TOO_MANY_REQUESTS, _) => Some("true"),
            (_, "idempotency_error") => Some("false"),
            _ => None,
        }
    }

    /// The error body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": {
            "type": self.kind,
            "code": self.code,
            "param": self.param,
            "message": self.message,
            "doc_url": self.code.map(|c| format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-"))),
        }})
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(advice) = self.should_retry() {
            response
                .headers_mut()
                .insert("stripe-should-retry", axum::http::HeaderValue::from_static(advice));
        }
        response
    }
}
