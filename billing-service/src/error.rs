//! What billing's work can fail with, classified by what the caller can do about it.
//! The domain returns these; `grpc::status` maps them to gRPC codes, in one place.

use crate::{store::StoreError, stripe::StripeCallError};

/// Any error, kept whole as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failure of billing's work.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
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
    /// A dependency failed. `what` is answered; the source (database, SQL or Stripe
    /// transport text) goes only to the log, under the request id the caller is given.
    #[error("{what} failed")]
    Dependency {
        /// What failed, in the caller's words ("the database", "Stripe").
        what: &'static str,
        /// Why, for the log.
        #[source]
        source: BoxError,
    },
    /// A position the caller asked for no longer exists (a pruned revision).
    #[error("{0}")]
    OutOfRange(String),
}

impl BillingError {
    /// A failure of `what`, caused by `source`.
    pub fn dependency(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Dependency { what, source: source.into() }
    }
}

impl From<StripeCallError> for BillingError {
    /// Stripe's own wording stays in the log: a caller gets a fixed message naming at most
    /// Stripe's parameter, so nothing Stripe says (about keys, accounts, other objects)
    /// reaches it.
    fn from(err: StripeCallError) -> Self {
        match err {
            StripeCallError::NotConfigured(_) => Self::FailedPrecondition(err.to_string()),
            StripeCallError::Unreachable(_) => Self::dependency("Stripe", err),
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

impl From<caixa_types::input::InvalidInput> for BillingError {
    fn from(err: caixa_types::input::InvalidInput) -> Self {
        Self::InvalidArgument { field: err.field, reason: err.reason }
    }
}

impl From<StoreError> for BillingError {
    fn from(err: StoreError) -> Self {
        Self::dependency("the database", err)
    }
}

impl From<sea_orm::DbErr> for BillingError {
    fn from(err: sea_orm::DbErr) -> Self {
        StoreError::Db(err).into()
    }
}
