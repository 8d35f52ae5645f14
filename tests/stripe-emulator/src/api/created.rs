//! Stripe's `created` list filter: an exact Unix time, or a range of `gt`, `gte`, `lt`
//! and `lte` bounds. Events, customers and subscriptions take it.

use serde_json::Value;

use crate::{error::ApiResult, form::Params};

/// The `created` filter of one list request.
pub struct Created {
    exact: Option<i64>,
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
}

impl Created {
    /// Reads `created` / `created[gt]` … from `params`; a bound that is not an integer is
    /// Stripe's `invalid_request_error` naming it.
    pub fn from_params(params: &Params) -> ApiResult<Self> {
        Ok(Self {
            // `created=N` decodes to a string, `created[gte]=N` to an object (no exact time).
            exact: params.int("created")?,
            gt: params.int("created.gt")?,
            gte: params.int("created.gte")?,
            lt: params.int("created.lt")?,
            lte: params.int("created.lte")?,
        })
    }

    /// Whether an object whose `created` is this passes.
    pub fn keeps(&self, object: &Value) -> bool {
        let created = object["created"].as_i64().unwrap_or(0);
        self.exact.is_none_or(|at| created == at)
            && self.gt.is_none_or(|b| created > b)
            && self.gte.is_none_or(|b| created >= b)
            && self.lt.is_none_or(|b| created < b)
            && self.lte.is_none_or(|b| created <= b)
    }
}
