//! A position in the change log. The database numbers revisions with a signed 64-bit
//! sequence and the contracts carry them unsigned: each side converts here, once, and a
//! value the other side cannot hold is an error, never revision 0.

/// A revision of the change log: 0 before the first change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(u64);

/// A revision one side cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevisionError {
    /// The database gave a negative number.
    #[error("revision {0} is negative")]
    Negative(i64),
    /// A caller gave a number past what the database can number.
    #[error("revision {0} is beyond the log's range")]
    TooLarge(u64),
}

impl Revision {
    /// A revision as the contracts carry it.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The number, as the contracts carry it.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A revision the database numbered.
    pub fn from_db(value: i64) -> Result<Self, RevisionError> {
        u64::try_from(value).map(Self).map_err(|_| RevisionError::Negative(value))
    }

    /// The number, as the database numbers it.
    pub fn to_db(self) -> Result<i64, RevisionError> {
        i64::try_from(self.0).map_err(|_| RevisionError::TooLarge(self.0))
    }
}

/// A revision as the contracts carry it, so a caller passes the number an answer gave.
impl From<u64> for Revision {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_s_range_is_kept_and_the_rest_refused() {
        assert_eq!(Revision::from_db(42).map(Revision::get), Ok(42));
        assert_eq!(Revision::from_db(-1), Err(RevisionError::Negative(-1)));
        assert_eq!(Revision::new(7).to_db(), Ok(7));
        assert_eq!(Revision::new(u64::MAX).to_db(), Err(RevisionError::TooLarge(u64::MAX)));
        assert!(Revision::new(3) > Revision::new(2));
        assert_eq!(Revision::new(12).to_string(), "12");
        assert_eq!(Revision::from(5), Revision::new(5));
    }
}
