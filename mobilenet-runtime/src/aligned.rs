//! Float buffers that start on a cache-line boundary.
//!
//! The heap gives large buffers 16-byte alignment (glibc puts its chunk header in front of a
//! page), so without this every other 32-byte vector of an activation or a packed weight row
//! straddles two cache lines, and every 64-byte one does. On an AMD EPYC (AVX2), depthwise 3x3
//! convolutions of MobileNet's shapes (64x64x8 to 7x7x1024) ran 12-45% slower on such buffers
//! than on aligned ones.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Alignment of every [`AlignedBuf`], in bytes: a cache line, and one AVX-512 vector.
pub const ALIGN_BYTES: usize = 64;

/// Floats per [`ALIGN_BYTES`].
const ALIGN_FLOATS: usize = ALIGN_BYTES / size_of::<f32>();

/// A fixed-length heap buffer of `f32` whose first element is [`ALIGN_BYTES`]-aligned; it
/// dereferences to `[f32]`.
///
/// It over-allocates by up to one cache line and starts at the first aligned element, so it
/// needs no unsafe code; a clone is aligned anew.
pub struct AlignedBuf {
    /// The allocation; the buffer is `data[start..start + len]`.
    data: Box<[f32]>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        let data = vec![0.0f32; len + ALIGN_FLOATS - 1].into_boxed_slice();
        // `align_offset` may give up (`usize::MAX`) only for types whose size does not divide
        // the alignment; for f32 it always answers, and below ALIGN_FLOATS.
        let start = data.as_ptr().align_offset(ALIGN_BYTES).min(ALIGN_FLOATS - 1);
        Self { data, start, len }
    }

    /// `len` zeros, or an [`AllocError`] if the system refuses the memory (where
    /// [`AlignedBuf::zeroed`] would abort the process): for the arenas, whose size a spec sets.
    ///
    /// # Errors
    /// [`AllocError`] naming the size asked for.
    pub fn try_zeroed(len: usize) -> Result<Self, AllocError> {
        let refused = AllocError { floats: len };
        let total = len.checked_add(ALIGN_FLOATS - 1).ok_or(refused)?;
        let mut data = Vec::new();
        data.try_reserve_exact(total).map_err(|_| refused)?;
        data.resize(total, 0.0f32);
        let data = data.into_boxed_slice();
        let start = data.as_ptr().align_offset(ALIGN_BYTES).min(ALIGN_FLOATS - 1);
        Ok(Self { data, start, len })
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> Self {
        let mut buf = Self::zeroed(values.len());
        buf.copy_from_slice(values);
        buf
    }
}

/// The system refused memory for an [`AlignedBuf`]: a model's activation arena, typically,
/// when a spec's shapes ask for more than the machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot allocate {floats} f32 activations ({:.1} GiB): the system refused the memory",
    *floats as f64 * 4.0 / f64::from(1u32 << 30)
)]
pub struct AllocError {
    /// How many floats were asked for.
    pub floats: usize,
}

impl Deref for AlignedBuf {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.data[self.start..self.start + self.len]
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[self.start..self.start + self.len]
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

/// An empty buffer, without allocating (it has no first element to align).
impl Default for AlignedBuf {
    fn default() -> Self {
        Self {
            data: Box::default(),
            start: 0,
            len: 0,
        }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_buffer_and_its_clone_start_on_a_cache_line() {
        // Many sizes, so that the allocator hands out both small and mmapped chunks. Miri has
        // an allocator of its own (no mmapped chunks), and the three buffers of 2^18 floats
        // took it over three minutes: 2^12 there.
        let big = if cfg!(miri) { 1 << 12 } else { 1 << 18 };
        for len in [0, 1, 3, 15, 16, 17, 1000, big] {
            let mut b = AlignedBuf::zeroed(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % ALIGN_BYTES, 0, "len {len}");
            assert!(b.iter().all(|&x| x == 0.0));
            if let Some(last) = b.last_mut() {
                *last = 2.5;
            }
            let c = b.clone();
            assert_eq!(c.as_ptr() as usize % ALIGN_BYTES, 0, "clone, len {len}");
            assert_eq!(&*c, &*b);
        }
        assert!(AlignedBuf::default().is_empty());
        for len in [0, 5, big] {
            let b = AlignedBuf::try_zeroed(len).unwrap();
            assert_eq!((b.len(), b.as_ptr() as usize % ALIGN_BYTES), (len, 0));
            assert!(b.iter().all(|&x| x == 0.0));
        }
        let v = [1.0, 2.0, 3.0];
        assert_eq!(&*AlignedBuf::from_slice(&v), &v);
    }

    /// Sizes no machine holds are an error, not an abort: past the address space, and an
    /// arena of 2^60 floats (the 960 PB of issue 24's wrapped spec, about). Under Miri only
    /// the first two, which are refused before anything is asked of the allocator: Miri stops
    /// at an allocation it cannot make with an error of its own.
    #[test]
    fn impossible_sizes_are_refused() {
        let sizes: &[usize] = if cfg!(miri) {
            &[usize::MAX, usize::MAX / 4]
        } else {
            // 2^60 on 64-bit targets; a 32-bit one (tools/test_armv7.sh) cannot name it.
            &[
                usize::MAX,
                usize::MAX / 4,
                1usize.checked_shl(60).unwrap_or(usize::MAX / 8),
            ]
        };
        for &len in sizes {
            let e = AlignedBuf::try_zeroed(len).unwrap_err();
            assert_eq!(e.floats, len);
            assert!(e.to_string().contains("cannot allocate"), "{e}");
        }
    }
}
