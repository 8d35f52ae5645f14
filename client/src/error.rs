//! What can go wrong calling the services.

/// A call that got no answer, or an answer that was a refusal of the call itself (not a
/// denial of access: that is an [`crate::Access`] with `allowed == false`).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An endpoint URL that cannot be used.
    #[error("invalid endpoint {url}: {reason}")]
    Endpoint {
        /// The URL given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The request was refused as malformed (INVALID_ARGUMENT and the like).
    #[error("{0}")]
    Rejected(tonic::Status),
    /// No answer within the deadline, or the service is unreachable or overloaded.
    #[error("the service is unavailable: {0}")]
    Unavailable(tonic::Status),
    /// The service refused these credentials.
    #[error("the service refused the credentials: {0}")]
    Unauthorized(tonic::Status),
}

impl ClientError {
    pub(crate) fn from_status(status: tonic::Status) -> Self {
        use tonic::Code::*;
        match status.code() {
            Unavailable | DeadlineExceeded | ResourceExhausted | Cancelled | Unknown | Internal | Aborted => {
                Self::Unavailable(status)
            }
            Unauthenticated | PermissionDenied => Self::Unauthorized(status),
            _ => Self::Rejected(status),
        }
    }

    /// Whether the service could not be asked (the guard's fail mode applies).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
