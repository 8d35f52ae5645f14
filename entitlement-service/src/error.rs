//! The errors the API can answer with, and their one mapping to gRPC status codes.

use tonic::{Code, Status};

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
    /// The answer cannot be given yet (for example a freshness not reached in time).
    #[error("{0}")]
    Unavailable(String),
    /// The request asks for what cannot come soon (a revision far beyond the head).
    #[error("{0}")]
    OutOfRange(String),
    /// The RPC is part of the contract but not served by this version.
    #[error("{0} is not implemented by this version of the entitlement service")]
    Unimplemented(&'static str),
}

impl From<caixa_types::input::InvalidInput> for ApiError {
    fn from(err: caixa_types::input::InvalidInput) -> Self {
        Self::InvalidArgument { field: err.field, reason: err.reason }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let code = match &err {
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::OutOfRange(_) => Code::OutOfRange,
            ApiError::Unimplemented(_) => Code::Unimplemented,
        };
        Status::new(code, err.to_string())
    }
}
