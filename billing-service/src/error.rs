//! The errors the API can answer with, and their one mapping to gRPC status codes.

use tonic::{Code, Status};

use crate::{domain::apply::ApplyError, store::StoreError, stripe::StripeCallError};

/// An API failure, classified by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; `field` names the culprit.
    #[error("{field}: {reason}")]
    InvalidArgument {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Stripe refused a parameter; `param` is Stripe's name for it (its wording is
    /// logged, never answered).
    #[error("{param}: refused by Stripe")]
    StripeInvalid {
        /// Stripe's parameter name.
        param: String,
    },
    /// The thing asked about does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the system is not in a state to serve it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Something the call depends on is down; retrying later may succeed. The message is
    /// the caller's to read: it never carries a cause.
    #[error("{0}")]
    Unavailable(String),
    /// A dependency failed. `what` is answered; `cause` (database, SQL or Stripe
    /// transport text) goes only to the log, under the request id the caller is given.
    #[error("{what} failed: {cause}")]
    Dependency {
        /// What failed, in the caller's words ("the database", "Stripe").
        what: &'static str,
        /// Why, for the log.
        cause: String,
    },
    /// A position the caller asked for no longer exists (a pruned revision).
    #[error("{0}")]
    OutOfRange(String),
    /// The RPC is part of the contract but not served by this version.
    #[error("{0} is not implemented by this version of the billing service")]
    Unimplemented(&'static str),
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        if let ApiError::Dependency { what, cause } = &err {
            return dependency_status(what, cause);
        }
        let code = match &err {
            ApiError::InvalidArgument { .. } | ApiError::StripeInvalid { .. } => Code::InvalidArgument,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::Unavailable(_) | ApiError::Dependency { .. } => Code::Unavailable,
            ApiError::OutOfRange(_) => Code::OutOfRange,
            ApiError::Unimplemented(_) => Code::Unimplemented,
        };
        Status::new(code, err.to_string())
    }
}

/// UNAVAILABLE with a stable message and a request id; the cause is logged under that id.
pub fn dependency_status(what: &str, cause: &str) -> Status {
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(request_id = %id, what, cause, "call failed");
    let mut status = Status::unavailable(format!("{what} is unavailable; retry (request id {id})"));
    if let Ok(value) = id.parse() {
        status.metadata_mut().insert("x-request-id", value);
    }
    status
}

impl From<StripeCallError> for ApiError {
    /// Stripe's own wording stays in the log: a caller gets a fixed message naming at most
    /// Stripe's parameter, so nothing Stripe says (about keys, accounts, other objects)
    /// reaches it.
    fn from(err: StripeCallError) -> Self {
        match err {
            StripeCallError::NotConfigured(_) => Self::FailedPrecondition(err.to_string()),
            StripeCallError::Unreachable(_) => Self::Dependency { what: "Stripe", cause: err.to_string() },
            StripeCallError::NotFound(message) => {
                tracing::warn!(stripe_message = %message, "Stripe has no such object");
                Self::NotFound("Stripe has no such object".to_owned())
            }
            StripeCallError::Rejected { status, kind, param, message } => {
                tracing::warn!(status, %kind, ?param, stripe_message = %message, "Stripe refused the request");
                match (status, param) {
                    (402, _) => Self::FailedPrecondition("Stripe declined the payment".to_owned()),
                    (401 | 403, _) => {
                        Self::FailedPrecondition("Stripe refused billing's credentials".to_owned())
                    }
                    (_, Some(param)) if kind.contains("invalid") => Self::StripeInvalid { param },
                    (status, _) => Self::FailedPrecondition(format!("Stripe refused the request ({status})")),
                }
            }
        }
    }
}

impl From<caixa_policy::input::InvalidInput> for ApiError {
    fn from(err: caixa_policy::input::InvalidInput) -> Self {
        Self::InvalidArgument { field: err.field, reason: err.reason }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::Dependency { what: "the database", cause: err.to_string() }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        StoreError::Db(err).into()
    }
}

impl From<crate::domain::sessions::SessionCheckError> for ApiError {
    fn from(err: crate::domain::sessions::SessionCheckError) -> Self {
        match err {
            crate::domain::sessions::SessionCheckError::Stripe(stripe) => stripe.into(),
            crate::domain::sessions::SessionCheckError::Apply(apply) => apply.into(),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::Store(store) => store.into(),
            other => Self::Dependency { what: "applying Stripe's data", cause: other.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_s_wording_never_reaches_the_caller() {
        let said = "No such customer: 'cus_x'; a similar object exists in live mode, but a test mode key was used (sk_test_...abcd)";
        let rejected = |status: u16, param: Option<&str>, kind: &str| StripeCallError::Rejected {
            status,
            kind: kind.to_owned(),
            param: param.map(str::to_owned),
            message: said.to_owned(),
        };
        let cases = [
            (rejected(400, Some("line_items[0][price]"), "invalid_request_error"), Code::InvalidArgument),
            (rejected(401, None, "invalid_request_error"), Code::FailedPrecondition),
            (rejected(402, None, "card_error"), Code::FailedPrecondition),
            (rejected(409, None, "idempotency_error"), Code::FailedPrecondition),
            (StripeCallError::NotFound(said.to_owned()), Code::NotFound),
        ];
        for (err, code) in cases {
            let status = Status::from(ApiError::from(err));
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(
                !status.message().contains("No such") && !status.message().contains("sk_"),
                "{}",
                status.message()
            );
        }
        let named = Status::from(ApiError::from(rejected(
            400,
            Some("line_items[0][price]"),
            "invalid_request_error",
        )));
        assert_eq!(named.message(), "line_items[0][price]: refused by Stripe");
    }
}
