//! Interior kernel of a KxK convolution with at most 8 output channels (MobileNet 0.25's
//! first layer has 8), on AVX-512 and AVX2.
//!
//! The general path (the matrix product, `kernels/f32/gemm/`) puts output channels across the
//! vector lanes, so with 8 channels half of every AVX-512 multiply-add is wasted on zero
//! weights, and on AVX2 every multiply-add needs its own input broadcast, more loads than the
//! core can issue. Here each vector holds two reduction steps instead: lanes `2c` and `2c + 1`
//! accumulate channel `c` for steps `k` and `k + 1`. Each step pair is one 64-bit broadcast of
//! two adjacent inputs (a plain load, like a 32-bit one) against weights packed as `[w[k][c],
//! w[k + 1][c]]` per channel, so every lane does useful work and one broadcast serves two
//! steps. Pairs are taken inside each kernel row, whose `KW * CIN` inputs are contiguous in
//! NHWC; an odd row length ends with one single step whose odd lanes hold zero weights. At the
//! end, adjacent lanes are added.
//!
//! The packed layout is 16 floats (8 channel slots x 2 steps) per step pair: one AVX-512
//! vector (`pairs_avx512.rs`) or two AVX2 ones (`pairs_avx2.rs`). Slot `s` holds channel
//! [`PairsKernel::slots`]`[s]`, which each kernel declares: in order on AVX-512; on AVX2 the
//! order its final horizontal add leaves in channel order, so no cross-lane permute follows
//! it.
//!
//! This file is the part every instruction set shares (the packing, the call's set-up); an
//! instruction set with such a kernel declares a [`PairsKernel`] in a file of its own.

use crate::aligned::AlignedBuf;
use crate::kernels::activation::Clamp;
use crate::kernels::f32::gemm::ukernel::Seg;

/// Widest output this kernel serves: 8 channels x 2 steps per 16 packed floats.
pub(crate) const MAX_CHANNELS: usize = 8;

/// Most kernel rows this kernel serves, so that a call's runs fit in an array on the stack.
const MAX_ROWS: usize = 16;

/// One kernel row of a pixel, as the tiles walk it: inputs from `a` floats after the pixel's
/// first, against the packed step pairs at `w`.
// Read only by the x86 kernels; a build without them packs nothing in this layout.
#[cfg_attr(not(x86_simd), allow(dead_code))]
#[derive(Clone, Copy)]
pub(crate) struct Run {
    /// Offset of the row's first input from the pixel's first.
    pub a: usize,
    /// The row's first packed step pair.
    pub w: *const f32,
}

/// One call's pixels, as every path's tiles read them (see [`conv_pairs`]).
// Read only by the x86 kernels; a build without them packs nothing in this layout.
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(crate) struct Pixels<'a> {
    /// First input of the first pixel.
    pub a: *const f32,
    /// Floats between adjacent pixels' first inputs.
    pub lda: usize,
    /// First output of the first pixel.
    pub c: *mut f32,
    /// Floats between adjacent pixels' outputs.
    pub ldc: usize,
    /// Pixels to compute.
    pub rows: usize,
    /// The pixel's kernel rows, resolved to their weights.
    pub runs: &'a [Run],
    /// Weights and bias.
    pub w: &'a PairedWeights,
    /// The activation, applied before the store.
    pub clamp: Clamp,
}

/// A paired-step kernel of one instruction set, as its file declares it.
#[derive(Debug)]
pub(crate) struct PairsKernel {
    /// The channel each of the 8 slots of a step pair holds (see the module docs).
    pub slots: [usize; MAX_CHANNELS],
    /// Computes the pixels of one call.
    ///
    /// # Safety
    /// The CPU must run the kernel's instruction set; otherwise the contract of
    /// [`conv_pairs`], the runs resolved into the weights.
    pub run: unsafe fn(&Pixels),
}

/// Weights and bias of a narrow convolution in the paired layout (see the module docs), for
/// one path.
// Read only by the x86 kernels; a build without them packs nothing in this layout.
#[cfg_attr(not(x86_simd), allow(dead_code))]
#[derive(Clone, Debug)]
pub(crate) struct PairedWeights {
    /// The kernel the weights were packed for.
    kernel: &'static PairsKernel,
    /// `[KH][ceil(row / 2)][16]` with `row = KW * CIN`, channels in the kernel's slots,
    /// 64-byte aligned.
    data: AlignedBuf,
    /// Reduction steps per kernel row (`KW * CIN`).
    row: usize,
    /// Bias in the even lanes (by the kernel's slots), zeros in the odd ones: the initial
    /// accumulator.
    bias: [f32; 16],
    /// Output channels (at most [`MAX_CHANNELS`]).
    n: usize,
}

// Read only by the x86 kernels; a build without them packs nothing in this layout.
#[cfg_attr(not(x86_simd), allow(dead_code))]
impl PairedWeights {
    /// Packs `n` channels of a reduction of `rows * row` steps (kernel rows of `row` steps
    /// each) for `kernel`; `at(c, k)` is the weight of channel `c` at step `k`. `None` where
    /// the kernel does not apply: more than [`MAX_CHANNELS`] channels or [`MAX_ROWS`] kernel
    /// rows, or kernel rows of a single step.
    pub(crate) fn new(
        kernel: &'static PairsKernel,
        rows: usize,
        row: usize,
        n: usize,
        at: &dyn Fn(usize, usize) -> f32,
        bias: &[f32],
    ) -> Option<Self> {
        if !(1..=MAX_CHANNELS).contains(&n) || rows > MAX_ROWS || row < 2 {
            return None;
        }
        assert_eq!(bias.len(), n);
        let vecs = row.div_ceil(2);
        // Slots of channels this layer lacks keep zero weights and bias.
        let slots: Vec<(usize, usize)> = kernel.slots.into_iter().enumerate().filter(|&(_, c)| c < n).collect();
        let mut data = AlignedBuf::zeroed(rows * vecs * 16);
        for r in 0..rows {
            for j in 0..vecs {
                let v = (r * vecs + j) * 16;
                for &(slot, c) in &slots {
                    let k = r * row + 2 * j;
                    data[v + 2 * slot] = at(c, k);
                    if 2 * j + 1 < row {
                        data[v + 2 * slot + 1] = at(c, k + 1);
                    }
                }
            }
        }
        let mut b = [0.0; 16];
        for &(slot, c) in &slots {
            b[2 * slot] = bias[c];
        }
        Some(PairedWeights {
            kernel,
            data,
            row,
            bias: b,
            n,
        })
    }

    /// Reduction steps per kernel row.
    pub(crate) fn row(&self) -> usize {
        self.row
    }

    /// The initial accumulator: bias in the even lanes.
    pub(crate) fn bias(&self) -> &[f32; 16] {
        &self.bias
    }

    /// Output channels stored.
    pub(crate) fn channels(&self) -> usize {
        self.n
    }
}

/// `rows` output pixels (rows of `a` `lda` floats apart, outputs `ldc` apart from `c`), each
/// the sum over runs `segs` of full kernel rows: run `g` reads `g.len == w.row()` inputs from
/// `a + g.a` against kernel row `g.k0 / w.row()`. Bias and activation `clamp` are applied and
/// the `w.channels()` channels stored.
///
/// Not generic: compiled once, with this crate, for every shape and activation (see
/// `gemm_raw` in `kernels/f32/gemm/`).
///
/// # Safety
/// For every pixel `r < rows` and run `g`, `a` must be readable at `r * lda + g.a .. + g.len`
/// and `c` writable at `r * ldc .. + w.channels()` with nothing else accessing it; every run
/// must be a whole kernel row of `w` (`g.k0` a multiple of `w.row()` below the packed rows,
/// `g.len == w.row()`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn conv_pairs(
    clamp: Clamp,
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    segs: &[Seg],
    w: &PairedWeights,
) {
    debug_assert!(segs.iter().all(|g| g.len == w.row && g.k0.is_multiple_of(w.row)));
    // Resolved once per call: per tile, the division and the buffer access cost as much as
    // a kernel row's arithmetic.
    let pairs = w.row.div_ceil(2) * 16;
    let mut runs = [Run {
        a: 0,
        w: w.data.as_ptr(),
    }; MAX_ROWS];
    for (run, g) in runs.iter_mut().zip(segs) {
        *run = Run {
            a: g.a,
            w: w.data[g.k0 / w.row * pairs..].as_ptr(),
        };
    }
    let p = Pixels {
        a,
        lda,
        c,
        ldc,
        rows,
        runs: &runs[..segs.len()],
        w,
        clamp,
    };
    // SAFETY: `PairedWeights` are packed only for a kernel that the config of a path this
    // CPU runs holds (`ConvParams::new_for`); the runs point into `w` at whole kernel rows,
    // and the rest is forwarded.
    unsafe { (w.kernel.run)(&p) }
}
