//! Memory for the replica's index that the kernel is asked to back with huge pages. A
//! million users' index is 16 MiB of slots read at random; in 4 KiB pages nearly every
//! read also misses the TLB, and on a virtual machine the page walk that follows costs
//! nearly as much as the miss itself (measured on the benchmark host: 215–270 ns a
//! dependent read at random in 128 MiB, 165 ns with huge pages).

use memmap2::MmapMut;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A fixed number of `T`, all zeroes at first.
pub(super) struct Pages<T> {
    map: MmapMut,
    kind: std::marker::PhantomData<T>,
}

impl<T: FromBytes + IntoBytes + KnownLayout + Immutable> Pages<T> {
    /// `count` zeroed values.
    pub(super) fn zeroed(count: usize) -> Self {
        let bytes = count.max(1) * size_of::<T>();
        let map = MmapMut::map_anon(bytes)
            .unwrap_or_else(|error| panic!("cannot map {bytes} bytes for the replica's index: {error}"));
        // A hint: where the kernel has no huge pages to give, 4 KiB pages still work.
        #[cfg(target_os = "linux")]
        map.advise(memmap2::Advice::HugePage).ok();
        Self { map, kind: std::marker::PhantomData }
    }

    /// Every value.
    #[inline]
    pub(super) fn get(&self) -> &[T] {
        // Page-aligned and a whole number of values, so this always succeeds.
        <[T]>::ref_from_bytes(&self.map).unwrap_or_default()
    }

    /// Every value, to change.
    pub(super) fn get_mut(&mut self) -> &mut [T] {
        <[T]>::mut_from_bytes(&mut self.map).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Pages;

    #[test]
    fn values_start_zeroed_and_keep_what_is_written() {
        let mut pages = Pages::<u64>::zeroed(1_000);
        assert_eq!(pages.get().len(), 1_000);
        assert!(pages.get().iter().all(|&v| v == 0));
        pages.get_mut()[999] = 7;
        pages.get_mut()[0] = u64::MAX;
        assert_eq!((pages.get()[0], pages.get()[1], pages.get()[999]), (u64::MAX, 0, 7));
    }
}
