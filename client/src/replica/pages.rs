//! Memory for the replica's index that the kernel is asked to back with huge pages. A
//! million users' index is 16 MiB of slots read at random; in 4 KiB pages nearly every
//! read also misses the TLB, and on a virtual machine the page walk that follows costs
//! nearly as much as the miss itself (measured on the benchmark host: 215–270 ns a
//! dependent read at random in 128 MiB, 165 ns with huge pages).
//!
//! The words are atomics: the one writer stores into them while checks read them, and
//! neither ever waits for the other.

use std::sync::atomic::AtomicU64;

use memmap2::MmapMut;
use self_cell::{MutBorrow, self_cell};
use zerocopy::FromBytes;

type Words<'a> = &'a [AtomicU64];

self_cell!(
    /// A fixed number of atomic words over an anonymous mapping, all zero at first.
    pub(super) struct Pages {
        owner: MutBorrow<MmapMut>,

        #[covariant]
        dependent: Words,
    }
);

impl Pages {
    /// `count` zeroed words.
    pub(super) fn zeroed(count: usize) -> Self {
        let bytes = count.max(1) * size_of::<u64>();
        let map = MmapMut::map_anon(bytes)
            .unwrap_or_else(|error| panic!("cannot map {bytes} bytes for the replica's index: {error}"));
        // A hint: where the kernel has no huge pages to give, 4 KiB pages still work.
        #[cfg(target_os = "linux")]
        map.advise(memmap2::Advice::HugePage).ok();
        Self::new(MutBorrow::new(map), |map| {
            // Page-aligned and a whole number of words, so this always succeeds.
            let words: &[AtomicU64] =
                <[AtomicU64]>::mut_from_bytes(&mut map.borrow_mut()[..]).map_or(&[], |w| w);
            words
        })
    }

    /// Every word.
    #[inline]
    pub(super) fn get(&self) -> &[AtomicU64] {
        self.borrow_dependent()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::Pages;

    #[test]
    fn words_start_zeroed_and_keep_what_is_stored_across_threads() {
        let pages = Pages::zeroed(1_000);
        assert_eq!(pages.get().len(), 1_000);
        assert!(pages.get().iter().all(|w| w.load(Relaxed) == 0));
        std::thread::scope(|scope| {
            scope.spawn(|| pages.get()[999].store(7, Relaxed));
            scope.spawn(|| pages.get()[0].store(u64::MAX, Relaxed));
        });
        let read = |at: usize| pages.get()[at].load(Relaxed);
        assert_eq!((read(0), read(1), read(999)), (u64::MAX, 0, 7));
    }
}
