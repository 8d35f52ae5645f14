//! Where the replica's entries live: segments of a fixed size, addressed by position.

use super::table::Entry;

/// Users per arena segment.
pub(super) const SEGMENT: usize = 4096;

/// Entries in segments of a fixed size: an entry never moves once placed (users are
/// never removed, only replaced), growing copies nothing, and at most one segment is
/// partly empty, so memory follows the user count instead of doubling past it.
#[derive(Default)]
pub(super) struct Arena {
    segments: Vec<Vec<Entry>>,
}

impl Arena {
    #[inline]
    pub(super) fn get(&self, at: usize) -> &Entry {
        &self.segments[at / SEGMENT][at % SEGMENT]
    }

    pub(super) fn get_mut(&mut self, at: usize) -> &mut Entry {
        &mut self.segments[at / SEGMENT][at % SEGMENT]
    }

    /// Places `entry`; returns its position.
    pub(super) fn push(&mut self, entry: Entry) -> usize {
        let full = self.segments.last().is_none_or(|s| s.len() == SEGMENT);
        if full {
            self.segments.push(Vec::with_capacity(SEGMENT));
        }
        let segment = self.segments.len() - 1;
        let at = segment * SEGMENT + self.segments[segment].len();
        self.segments[segment].push(entry);
        at
    }
}
