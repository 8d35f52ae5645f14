//! A number a plan sets on a feature (projects allowed, say), or no bound at all. One
//! form for every copy of the state: billing parses it from Stripe's metadata, the stored
//! JSON and the contract carry it, and the policy takes the largest.

use std::{fmt, str::FromStr};

use caixa_proto::billing::v1 as proto;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The word that sets no bound, in metadata and in the stored JSON.
pub const UNLIMITED: &str = "unlimited";

/// A feature's limit. Ordered so that the larger grant is the greater: any count is
/// below [`Limit::Unlimited`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// At most this many.
    Count(u64),
    /// No bound.
    Unlimited,
}

/// A limit that is neither a whole number nor `unlimited`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("limit {0:?} is neither a whole number nor \"unlimited\"")]
pub struct LimitError(pub String);

impl FromStr for Limit {
    type Err = LimitError;

    /// `10`, ` 10 `, `unlimited` (any case); nothing else.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case(UNLIMITED) {
            return Ok(Self::Unlimited);
        }
        text.parse::<u64>().map(Self::Count).map_err(|_| LimitError(text.to_owned()))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Unlimited => f.write_str(UNLIMITED),
        }
    }
}

impl Limit {
    /// The contract's form.
    pub fn to_proto(self) -> proto::Limit {
        match self {
            Self::Count(value) => proto::Limit { value, unlimited: false },
            Self::Unlimited => proto::Limit { value: 0, unlimited: true },
        }
    }

    /// From the contract's form.
    pub fn from_proto(limit: &proto::Limit) -> Self {
        if limit.unlimited { Self::Unlimited } else { Self::Count(limit.value) }
    }

    /// The features of a contract's list that carry a limit, each with it, in order.
    pub fn of_features(list: &[proto::FeatureLimit]) -> impl Iterator<Item = (&str, Self)> + Clone {
        list.iter().filter_map(|l| Some((l.feature.as_str(), Self::from_proto(l.limit.as_ref()?))))
    }

    /// One feature's limit in the contract's form.
    pub fn feature(feature: &str, limit: Self) -> proto::FeatureLimit {
        proto::FeatureLimit { feature: feature.to_owned(), limit: Some(limit.to_proto()) }
    }
}

/// Stored as a JSON number, or the string `"unlimited"`.
impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => serializer.serialize_u64(*n),
            Self::Unlimited => serializer.serialize_str(UNLIMITED),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or \"unlimited\"")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Limit, E> {
                Ok(Limit::Count(n))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Limit, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
