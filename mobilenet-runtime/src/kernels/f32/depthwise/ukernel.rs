//! The contract between the depthwise driver (`mod.rs`) and the 3x3 kernels of the
//! instruction sets that have them (`avx2.rs`, `avx512.rs`): the shape of a call as runtime
//! values ([`Shape`]), the kernel's signature ([`RowsFn`]) and how an instruction set picks
//! its kernel for a shape ([`Pick3x3`]).

use crate::kernels::activation::Clamp;
use std::ops::Range;

/// Shapes of one depthwise 3x3 call, as runtime values (the const-generic entry point
/// `depthwise()` fills them in).
#[derive(Clone, Copy, Debug)]
// Only the SIMD kernels read every field.
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(crate) struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub ow: usize,
    pub s: usize,
    pub pt: usize,
    pub pl: usize,
    /// The activation. A value rather than a const parameter, so that the kernel is compiled
    /// once for all activations: it is read once per group of outputs, a branch that always
    /// goes the same way.
    pub clamp: Clamp,
}

#[cfg(x86_simd)]
impl Shape {
    /// Valid taps `[lo, hi)` of output position `o` along an axis of `n` inputs with `p`
    /// leading zeros (3 taps, stride `s`).
    #[inline(always)]
    pub(crate) fn taps(o: usize, n: usize, s: usize, p: usize) -> (usize, usize) {
        crate::kernels::geometry::taps(o, n, 3, s, p)
    }
}

/// Output rows `rows` of a depthwise 3x3 convolution of shape `sh` (top/left padding at most
/// 1), from `input` with tap-major `[3][3][c]` weights `weight` and bias `bias`.
///
/// # Safety
/// The CPU must run the kernel's instruction set. `input` must be readable for `h * w * c`
/// floats, `weight` for `9 * c`, `bias` for `c`, and `output` writable for output rows `rows`
/// (`ow * c` floats each) with nothing else accessing them during the call.
pub(crate) type RowsFn =
    unsafe fn(input: *const f32, weight: *const f32, bias: *const f32, output: *mut f32, sh: Shape, rows: Range<usize>);

/// An instruction set's choice of 3x3 kernel for a shape (some kernels serve only some
/// channel counts or strides); made once per layer call, before any row runs.
pub(crate) type Pick3x3 = fn(sh: &Shape) -> RowsFn;
