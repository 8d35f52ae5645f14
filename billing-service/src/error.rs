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
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::OutOfRange(_) => Code::OutOfRange,
            ApiError::Unimplemented(_) => Code::Unimplemented,
        };
        Status::new(code, err.to_string())
    }
}
