//! Stripe ids kept inline. A subscription id is 28 bytes (`sub_` and 24 more), longer
//! than the 23 a `SmolStr` keeps inline, so each would otherwise cost an allocation and,
//! worse, a cache miss on every answer that names it.

/// Longest id kept inline.
const INLINE: usize = 30;

/// An id of up to 30 bytes inline, a longer one boxed; 32 bytes either way.
#[derive(Clone, Debug, PartialEq, Eq)]
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
