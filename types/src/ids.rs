//! Identifiers parsed once, where a request enters: past that point a [`UserId`] or a
//! Stripe id is known to follow its rules, and a function taking one cannot be handed
//! an email, a raw field or the wrong kind of Stripe id.

use std::fmt;

use crate::input::{self, InvalidInput, shown};

/// An application's user id, by the rules every service shares ([`input::user_id`]):
/// trimmed, non-empty, at most 255 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// The id a caller sent, or why it cannot be one (naming `user_id`).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        input::user_id(raw).map(|id| Self(id.to_owned()))
    }

    /// The id as stored and looked up.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

/// Longest Stripe id accepted, in bytes (the database columns' length).
pub const MAX_STRIPE_ID_BYTES: usize = 255;

/// Whether `raw` is a Stripe id with `prefix`: the prefix, then at least one of
/// `A-Z a-z 0-9 _`, at most [`MAX_STRIPE_ID_BYTES`] in all.
fn stripe_id(raw: &str, prefix: &str, field: &'static str, what: &str) -> Result<String, InvalidInput> {
    let ok = raw.len() <= MAX_STRIPE_ID_BYTES
        && raw.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(InvalidInput { field, reason: format!("{} is not {what} ({prefix}...)", shown(raw)) })
    }
}

/// A Stripe id type: its prefix, the request field it arrives in, and what it names.
macro_rules! stripe_ids {
    ($($(#[$doc:meta])* $name:ident = $prefix:literal, $field:literal, $what:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The id a caller sent in its field, or why it cannot be one.
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                stripe_id(raw, $prefix, $field, $what).map(Self)
            }

            /// The id as Stripe spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

stripe_ids! {
    /// `price_...`: what a checkout sells.
    PriceId = "price_", "price_id", "a Stripe price id";
    /// `cs_...`: a Checkout Session.
    SessionId = "cs_", "session_id", "a Checkout Session id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_id_is_parsed_by_the_shared_rules() {
        assert_eq!(UserId::parse("  user-7 ").map(|u| u.to_string()), Ok("user-7".to_owned()));
        assert_eq!(UserId::parse(" ").unwrap_err().field, "user_id");
    }

    #[test]
    fn stripe_ids_need_their_prefix_and_stripe_s_characters() {
        assert_eq!(
            PriceId::parse("price_1Abc_9").map(|p| p.as_str().to_owned()),
            Ok("price_1Abc_9".to_owned())
        );
        assert_eq!(SessionId::parse("cs_test_a1").map(|s| s.to_string()), Ok("cs_test_a1".to_owned()));
        for bad in ["prod_1", "price_", "price_a b", "price_a-b", " price_a", "PRICE_a"] {
            let err = PriceId::parse(bad).unwrap_err();
            assert_eq!(err.field, "price_id", "{bad}");
            assert!(err.reason.contains("not a Stripe price id (price_...)"), "{bad}: {err}");
        }
        assert_eq!(SessionId::parse("price_1").unwrap_err().field, "session_id");
        let longest = format!("cs_{}", "a".repeat(MAX_STRIPE_ID_BYTES - 3));
        assert!(SessionId::parse(&longest).is_ok());
        assert!(SessionId::parse(&format!("{longest}a")).is_err(), "one byte past the limit");
    }
}
