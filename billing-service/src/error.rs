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
    /// Something the call depends on is down; retrying later may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A position the caller asked for no longer exists (a pruned revision).
    #[error("{0}")]
    OutOfRange(String),
    /// The RPC is part of the contract but not served by this version.
    #[error("{0} is not implemented by this version of the billing service")]
    Unimplemented(&'static str),
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let code = match &err {
            ApiError::InvalidArgument { .. } | ApiError::StripeInvalid { .. } => Code::InvalidArgument,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::OutOfRange(_) => Code::OutOfRange,
            ApiError::Unimplemented(_) => Code::Unimplemented,
        };
        Status::new(code, err.to_string())
    }
}

impl From<StripeCallError> for ApiError {
    fn from(err: StripeCallError) -> Self {
        match err {
            StripeCallError::NotConfigured(_) => Self::FailedPrecondition(err.to_string()),
            StripeCallError::Unreachable(_) => Self::Unavailable(err.to_string()),
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
        // The cause goes to the log, not to the caller.
        tracing::error!(error = %err, "database failure");
        Self::Unavailable("the database is unavailable; retry".to_owned())
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
            other => Self::Unavailable(other.to_string()),
        }
    }
}
