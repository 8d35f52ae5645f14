//! Compact forms shared by every in-memory copy of users' subscriptions (the entitlement
//! service's table and a caller's replica): a million users must fit in a few hundred
//! megabytes and be read without chasing pointers.
//!
//! Stripe ids are kept inline. A subscription id is 28 bytes (`sub_` and 24 more), longer
//! than the 23 a `SmolStr` keeps inline, so each would otherwise cost an allocation and,
//! worse, a cache miss on every answer that names it.

use std::fmt;

/// Longest id kept inline.
const INLINE: usize = 30;

/// An id of up to 30 bytes inline, a longer one boxed; 32 bytes either way.
#[derive(Clone, PartialEq, Eq)]
pub enum StripeId {
    /// Up to [`INLINE`] bytes of UTF-8, and how many are used.
    Inline(u8, [u8; INLINE]),
    /// Anything longer.
    Boxed(Box<str>),
}

impl StripeId {
    /// Keeps `id`.
    pub fn new(id: &str) -> Self {
        if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            Self::Inline(u8::try_from(id.len()).unwrap_or(0), bytes)
        } else {
            Self::Boxed(Box::from(id))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        match self {
            // Always a whole UTF-8 string: it was copied from one, boundaries included.
            Self::Inline(len, bytes) => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Self::Boxed(id) => id,
        }
    }
}

impl std::ops::Deref for StripeId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for StripeId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl PartialEq<str> for StripeId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StripeId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for StripeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for StripeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unix seconds in 32 bits, 0 meaning none. Stripe's times fall between 1970 and 2106;
/// anything outside saturates to those bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp(u32);

impl Stamp {
    /// Keeps `seconds`.
    pub fn new(seconds: Option<i64>) -> Self {
        Self(seconds.map_or(0, |s| u32::try_from(s.clamp(1, i64::from(u32::MAX))).unwrap_or(u32::MAX)))
    }

    /// The time kept.
    pub fn get(self) -> Option<i64> {
        (self.0 != 0).then_some(i64::from(self.0))
    }

    /// The time kept, as the contracts carry it.
    pub fn proto(self) -> Option<prost_types::Timestamp> {
        self.get().map(|seconds| prost_types::Timestamp { seconds, nanos: 0 })
    }
}
