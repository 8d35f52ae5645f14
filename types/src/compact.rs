//! Compact forms shared by every in-memory copy of users' subscriptions (the entitlement
//! service's table and a caller's replica): a million users must fit in a few hundred
//! megabytes and be read without chasing pointers.
//!
//! Stripe ids are kept inline. A subscription id is 28 bytes (`sub_` and 24 more), longer
//! than the 23 a `SmolStr` keeps inline, so each would otherwise cost an allocation and,
//! worse, a cache miss on every answer that names it.

use std::{fmt, num::NonZeroU8};

/// Longest id kept inline.
const INLINE: usize = 30;

/// An id of up to 30 bytes inline, a longer one boxed; 32 bytes either way.
#[derive(Clone, PartialEq, Eq)]
pub enum StripeId {
    /// Up to [`INLINE`] bytes of UTF-8.
    Inline(InlineId),
    /// Anything longer.
    Boxed(Box<str>),
}

/// An inline id: the bytes, then their count plus one. Aligned to eight so that copying
/// one (into every answer) moves whole words; the count is never zero, which leaves the
/// zero for [`StripeId`] to mark a boxed id in the same 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct InlineId {
    bytes: [u8; INLINE],
    len: NonZeroU8,
}

const _: () = assert!(size_of::<StripeId>() == 32);

impl StripeId {
    /// Keeps `id`.
    pub fn new(id: &str) -> Self {
        match u8::try_from(id.len() + 1).ok().and_then(NonZeroU8::new) {
            Some(len) if id.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                Self::Inline(InlineId { bytes, len })
            }
            _ => Self::Boxed(Box::from(id)),
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        match self {
            // Always a whole UTF-8 string: it was copied from one, boundaries included.
            Self::Inline(id) => {
                std::str::from_utf8(&id.bytes[..usize::from(id.len.get() - 1)]).unwrap_or_default()
            }
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
        same(self.as_str(), other)
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

/// Whether two short strings (user ids, feature keys) are equal, compared eight bytes
/// at a time in registers. `==` on strings calls the C library's `memcmp`, whose setup
/// costs more than comparing an id of a dozen bytes: it was a fifth of a replica's
/// batched check.
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let words = x.by_ref().zip(y.by_ref()).all(|(p, q)| word(p) == word(q));
    words && x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

fn word(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_ne_bytes)
}

/// Asks for the cache line holding `value` without waiting for it. A batch of lookups
/// asks for every user's next line before it reads any, so that their misses overlap;
/// a plain read would hold its place in the reorder buffer until the line arrived.
/// Where the instruction is missing the batch still works, its misses queueing.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
    let _ = value;
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
        self.get().map(caixa_proto::timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn same_agrees_with_string_equality_at_every_length_and_position() {
        for len in 0..40 {
            let a: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(same(&a, &a.clone()), "equal at {len}");
            assert!(!same(&a, &format!("{a}x")), "longer at {len}");
            for at in 0..len {
                let mut b = a.clone().into_bytes();
                b[at] = b'Z';
                let b = String::from_utf8(b).unwrap_or_default();
                assert!(!same(&a, &b), "differs at {at} of {len}");
            }
        }
        assert!(same("é-ü", "é-ü") && !same("é-ü", "é-u\u{308}"));
    }
}
