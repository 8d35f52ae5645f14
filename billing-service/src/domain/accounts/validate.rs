//! Input checks that name the field at fault.

use caixa_types::{UserId, input::shown};
use url::Url;

use crate::error::BillingError;

fn invalid(field: &'static str, reason: impl Into<String>) -> BillingError {
    BillingError::InvalidArgument { field, reason: reason.into() }
}

/// A user id, by the rules every service shares (`caixa_types::input`).
pub fn user_id(raw: &str) -> Result<UserId, BillingError> {
    let user = UserId::parse(raw)?;
    // The call's span names its user (never an email).
    caixa_runtime::telemetry::trace::record_user(user.as_str());
    Ok(user)
}

/// An email address: `local@domain.tld`, no spaces, at most 254 characters.
pub fn email(raw: &str) -> Result<&str, BillingError> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if email.is_empty() {
        return Err(invalid("email", "is required"));
    }
    if !valid {
        return Err(invalid("email", format!("{} is not an email address", shown(email))));
    }
    Ok(email)
}

/// An absolute http(s) URL, or the default when not given.
pub fn url(field: &'static str, raw: Option<&str>, default: Url) -> Result<String, BillingError> {
    let Some(raw) = raw else { return Ok(default.to_string()) };
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(raw.to_owned()),
        _ => Err(invalid(field, format!("{} is not an absolute http(s) URL", shown(raw)))),
    }
}

/// The most seats one checkout buys.
pub const MAX_QUANTITY: u32 = 10_000;

/// Seats to buy: 1 when not given, else 1 to [`MAX_QUANTITY`].
pub fn quantity(raw: Option<u32>) -> Result<u32, BillingError> {
    match raw {
        None => Ok(1),
        Some(n) if (1..=MAX_QUANTITY).contains(&n) => Ok(n),
        Some(n) => Err(invalid("quantity", format!("{n} is not between 1 and {MAX_QUANTITY}"))),
    }
}
