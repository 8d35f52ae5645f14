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
    /// Stripe refused a parameter; `param` is Stripe's name for it.
    #[error("Stripe refused {param}: {message}")]
    StripeInvalid {
        /// Stripe's parameter name.
        param: String,
        /// Stripe's message.
        message: String,
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
    fn from(err: StripeCallError) -> Self {
        match err {
            StripeCallError::NotConfigured(_) => Self::FailedPrecondition(err.to_string()),
            StripeCallError::Unreachable(_) => Self::Dependency { what: "Stripe", cause: err.to_string() },
            StripeCallError::NotFound(message) => Self::NotFound(message),
            StripeCallError::Rejected { status: 402, message, .. } => Self::FailedPrecondition(message),
            StripeCallError::Rejected { param: Some(param), message, kind, .. }
                if kind.contains("invalid") =>
            {
                Self::StripeInvalid { param, message }
            }
            StripeCallError::Rejected { message, .. } => Self::FailedPrecondition(message),
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
