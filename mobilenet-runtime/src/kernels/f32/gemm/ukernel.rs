//! The contract between the matrix-product driver (`driver.rs`) and its micro-kernels (one
//! file per instruction set: `scalar.rs`, `avx2.rs`, `avx512.rs`): what one micro-kernel call
//! computes ([`Sweep`], [`Seg`]) and what each instruction set declares about its kernels
//! ([`GemmConfig`]: the functions, the panel widths they expect, their tile sizes).
//!
//! Nothing here names an instruction set; the driver reads a [`GemmConfig`] and never asks
//! which path it runs.

use crate::kernels::activation::Clamp;
use std::cell::Cell;

/// One contiguous run of the reduction: `len` steps reading `a` at `row + a + j` against
/// weight rows `k0 + j` (`j < len`). A pointwise layer is one run over all of `k`; a KxK
/// convolution reads each row of its window as one run, straight from the input image, so it
/// needs no im2col copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    /// Float offset from the start of a row of `a`.
    pub a: usize,
    /// First weight row (reduction index).
    pub k0: usize,
    pub len: usize,
}

/// One panel over a block of rows: what every path's `sweep` computes.
///
/// The SIMD sweeps prefetch, during their first register tile, the same weight rows of the
/// next panel (the panels lie back to back), so that a layer whose weights do not fit in L2
/// streams them from memory while it computes instead of stalling at every panel's start.
// Only the SIMD sweeps read every field.
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(crate) struct Sweep<'a> {
    /// First row of `a`.
    pub a: *const f32,
    pub lda: usize,
    /// Row 0, channel 0 of the panel in `c`.
    pub c: *mut f32,
    pub ldc: usize,
    pub rows: usize,
    /// Full reduction length (weight rows of the panel).
    pub k: usize,
    /// The runs of the reduction this call computes.
    pub segs: &'a [Seg],
    /// The panel, `[k][width]`.
    pub w: &'a [f32],
    /// `width` bias values, zero-padded.
    pub bias: &'a [f32],
    /// Channels to store, `<= width`.
    pub n: usize,
    /// What is left of this thread's `prefetch_ahead` request (`driver.rs`), `(cursor, end)`
    /// addresses; sweeps that prefetch advance the cursor.
    pub ahead: &'a Cell<(usize, usize)>,
    /// Start from the partial sums in `c` instead of the bias (a later block of a reduction
    /// split in blocks; only [`WidePanels`] are).
    pub from_c: bool,
    /// The activation to apply before the store; none on a block of a split reduction before
    /// the last.
    pub clamp: Clamp,
}

/// Sweeps one panel over `s.rows` rows (see [`Sweep`]).
///
/// # Safety
/// The CPU must run the instruction set of the [`GemmConfig`] this came from; `s` must
/// satisfy the contract of the driver's `gemm_raw` for its rows and panel, and its panel be
/// as wide as the config packs (`s.bias.len()` floats).
pub(crate) type SweepFn = unsafe fn(s: &Sweep);

/// One row `a` (`k` floats, the whole reduction) against [`Gemv::panels`] adjacent full
/// panels from `w` (each [`Gemv::width`] wide and `width * k` floats long, bias `bias`), with
/// activation `clamp`, into `c` (`panels * width` floats).
///
/// # Safety
/// The CPU must run the config's instruction set; `a` readable for `k` floats, `w` for
/// `panels * width * k`, `bias` for `panels * width`, and `c` writable for `panels * width`
/// with nothing else accessing it.
pub(crate) type GemvFn = unsafe fn(clamp: Clamp, a: *const f32, w: *const f32, bias: *const f32, k: usize, c: *mut f32);

/// A kernel for one row against several panels at once (fc at batch 1): one row is bound by
/// streaming the weights, and reading several panels side by side keeps several streams and
/// FMA chains in flight where the one-row tile of a sweep has one.
pub(crate) struct Gemv {
    /// Panel width the kernel takes; panels of another width go to the sweeps.
    pub width: usize,
    /// Full panels per call.
    pub panels: usize,
    pub run: GemvFn,
}

/// Panels wider than [`GemmConfig::nr`] for products that can use them, swept over long
/// reductions in blocks of [`WidePanels::kc`] weight rows that stay in L1 (the partial sums
/// wait in `c`, see [`Sweep::from_c`]).
pub(crate) struct WidePanels {
    /// Their width; a product takes them only when every panel can be that wide.
    pub nr: usize,
    /// Reduction rows per block.
    pub kc: usize,
    /// Fewest rows of a product whose reduction is longer than `kc` to take them: each block
    /// of weights must serve enough rows.
    pub min_rows: usize,
}

/// What one instruction set brings to the matrix product: its micro-kernels and the panel
/// layout they read. Chosen once per CPU (`f32/config.rs`), stored with the packed weights,
/// read by the driver on every call.
pub(crate) struct GemmConfig {
    /// Width of every panel but the last.
    pub nr: usize,
    /// Floats per vector: the last panel is its channels rounded up to this.
    pub lanes: usize,
    /// Wider panels where they pay, if the instruction set has them.
    pub wide: Option<WidePanels>,
    /// The micro-kernel: one panel over a block of rows.
    pub sweep: SweepFn,
    /// One row against several panels, if the instruction set has such a kernel.
    pub gemv: Option<Gemv>,
    /// Whether the sweeps follow a `prefetch_ahead` request (tests check that they use it up).
    // Declared by each path beside its kernels, read only by the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub prefetches_ahead: bool,
}
