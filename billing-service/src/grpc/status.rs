//! The one mapping from billing's errors to gRPC statuses.

use tonic::{Code, Status};

use crate::error::BillingError;

impl From<BillingError> for Status {
    fn from(err: BillingError) -> Self {
        let code = match &err {
            BillingError::Dependency { what, source } => return dependency_status(what, source.as_ref()),
            BillingError::InvalidArgument { .. } | BillingError::StripeInvalid { .. } => {
                Code::InvalidArgument
            }
            BillingError::NotFound(_) => Code::NotFound,
            BillingError::FailedPrecondition(_) => Code::FailedPrecondition,
            BillingError::Unavailable(_) => Code::Unavailable,
            BillingError::OutOfRange(_) => Code::OutOfRange,
        };
        Status::new(code, err.to_string())
    }
}

/// UNAVAILABLE with a stable message and a request id; the cause, with every source it
/// has, is logged under that id.
pub fn dependency_status(what: &str, cause: &(dyn std::error::Error + 'static)) -> Status {
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(request_id = %id, what, cause = %chain(cause), "call failed");
    let mut status = Status::unavailable(format!("{what} is unavailable; retry (request id {id})"));
    if let Ok(value) = id.parse() {
        status.metadata_mut().insert("x-request-id", value);
    }
    status
}

/// `err` and its sources, outermost first.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::StripeCallError;

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
            let status = Status::from(BillingError::from(err));
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(
                !status.message().contains("No such") && !status.message().contains("sk_"),
                "{}",
                status.message()
            );
        }
        let named = Status::from(BillingError::from(rejected(
            400,
            Some("line_items[0][price]"),
            "invalid_request_error",
        )));
        assert_eq!(named.message(), "line_items[0][price]: refused by Stripe");
    }

    #[test]
    fn a_dependency_keeps_its_sources_for_the_log_and_answers_none_of_them() {
        let db = sea_orm::DbErr::Custom("connection refused by 10.0.0.7:5432".to_owned());
        let err = BillingError::from(db);
        let source = std::error::Error::source(&err).expect("the store error is kept");
        assert!(chain(source).contains("10.0.0.7"), "{}", chain(source));
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.7"), "{}", status.message());
    }
}
