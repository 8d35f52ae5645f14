//! The metadata keys that name a customer's user. Billing writes `user_id`; an account
//! that dj-stripe made links its customers through `djstripe_subscriber` (dj-stripe's
//! `DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY`), and other apps use keys of their own.

use std::sync::Arc;

use serde_json::Value;

/// The key billing itself writes, and the one every other key is copied to.
pub const PRIMARY: &str = "user_id";

/// The default list: billing's own key, then dj-stripe's.
pub const DEFAULT: [&str; 2] = [PRIMARY, "djstripe_subscriber"];

/// `STRIPE_CUSTOMER_USER_KEYS`: the metadata keys that name a customer's user, the first
/// one set winning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserKeys(Arc<[String]>);

impl Default for UserKeys {
    fn default() -> Self {
        Self(DEFAULT.iter().map(|k| (*k).to_owned()).collect())
    }
}

/// Why a key list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct KeysError(String);

impl UserKeys {
    /// Parses a comma-separated list; each key must be a Stripe metadata key (1 to 40
    /// characters, no square brackets), named once.
    pub fn parse(list: &str) -> Result<Self, KeysError> {
        let mut keys: Vec<String> = Vec::new();
        for key in list.split(',').map(str::trim) {
            if key.is_empty() || key.chars().count() > 40 || key.contains(['[', ']']) {
                return Err(KeysError(format!(
                    "{key:?} is not a Stripe metadata key (1 to 40 characters, no square brackets)"
                )));
            }
            if keys.iter().any(|k| k == key) {
                return Err(KeysError(format!("{key:?} is named twice")));
            }
            keys.push(key.to_owned());
        }
        Ok(Self(keys.into()))
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// The user the first key set in `metadata` names, with that key.
    pub fn user_of<'k>(&'k self, metadata: &Value) -> Option<(String, &'k str)> {
        self.0.iter().find_map(|key| {
            let value = match &metadata[key.as_str()] {
                Value::String(text) => text.trim().to_owned(),
                Value::Number(number) => number.to_string(),
                _ => return None,
            };
            (!value.is_empty()).then_some((value, key.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_key_set_names_the_user() {
        let keys = UserKeys::default();
        let both = json!({ "djstripe_subscriber": "42", "user_id": "u-7" });
        assert_eq!(keys.user_of(&both), Some(("u-7".to_owned(), "user_id")));
        let legacy = json!({ "djstripe_subscriber": "42" });
        assert_eq!(keys.user_of(&legacy), Some(("42".to_owned(), "djstripe_subscriber")));
        let blank = json!({ "user_id": "  ", "djstripe_subscriber": "9" });
        assert_eq!(keys.user_of(&blank), Some(("9".to_owned(), "djstripe_subscriber")), "blank is unset");
        assert_eq!(keys.user_of(&json!({ "other": "1" })), None);
        assert_eq!(keys.user_of(&Value::Null), None);
        let only_ours = UserKeys::parse("user_id").unwrap();
        assert_eq!(only_ours.user_of(&legacy), None, "a key not listed links nothing");
    }

    #[test]
    fn a_bad_list_is_refused_naming_the_key() {
        assert_eq!(UserKeys::parse(" user_id , djstripe_subscriber ").unwrap(), UserKeys::default());
        for (list, named) in [("user_id,", "\"\""), ("a[b]", "a[b]"), ("x,x", "twice")] {
            let err = UserKeys::parse(list).unwrap_err().to_string();
            assert!(err.contains(named), "{list}: {err}");
        }
        assert!(UserKeys::parse(&"k".repeat(41)).is_err());
    }
}
