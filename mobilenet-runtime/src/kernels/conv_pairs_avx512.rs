//! AVX-512 kernel for the interior of a KxK convolution with at most 8 output channels
//! (MobileNet 0.25's first layer has 8).
//!
//! The general path ([`super::gemm_avx512`]) puts output channels across the 16 lanes, so with
//! 8 channels half of every multiply-add is wasted on zero weights. Here each vector holds two
//! reduction steps instead: lanes `2c` and `2c + 1` accumulate channel `c` for steps `k` and
//! `k + 1`. Each step pair is one 64-bit broadcast of two adjacent inputs (a plain load, like
//! a 32-bit one) against a weight vector packed as `[w[k][c], w[k + 1][c]]` per channel, so
//! every lane does useful work. Pairs are taken inside each kernel row, whose `KW * CIN`
//! inputs are contiguous in NHWC; an odd row length ends with one single step whose odd
//! lanes hold zero weights. At the end, adjacent lanes are added and the even lanes gathered
//! into the channel order.

#![cfg(target_arch = "x86_64")]

use super::gemm::Seg;
use super::gemm_avx512::activate;
use crate::aligned::AlignedBuf;
use std::arch::x86_64::*;

/// Widest output this kernel serves: two reduction steps per 16-lane vector.
pub(crate) const MAX_CHANNELS: usize = 8;

/// Pixels per register tile: 16 accumulators, the weight vector and the broadcasts fit in the
/// 32 registers with room for the loads to run ahead.
const MR: usize = 16;

/// Weights and bias of a narrow convolution in the paired layout (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct PairedWeights {
    /// `[KH][ceil(row / 2)][16]` with `row = KW * CIN`, 64-byte aligned.
    data: AlignedBuf,
    /// Reduction steps per kernel row (`KW * CIN`).
    row: usize,
    /// Bias in the even lanes, zeros in the odd ones: the initial accumulator.
    bias: [f32; 16],
    /// Output channels (at most [`MAX_CHANNELS`]).
    n: usize,
}

impl PairedWeights {
    /// Packs `n <= 8` channels of a reduction of `rows * row` steps (kernel rows of `row`
    /// steps each); `at(c, k)` is the weight of channel `c` at step `k`.
    pub(crate) fn new(rows: usize, row: usize, n: usize, at: impl Fn(usize, usize) -> f32, bias: &[f32]) -> Self {
        assert!((1..=MAX_CHANNELS).contains(&n) && bias.len() == n);
        let vecs = row.div_ceil(2);
        let mut data = AlignedBuf::zeroed(rows * vecs * 16);
        for r in 0..rows {
            for j in 0..vecs {
                let v = (r * vecs + j) * 16;
                for c in 0..n {
                    let k = r * row + 2 * j;
                    data[v + 2 * c] = at(c, k);
                    if 2 * j + 1 < row {
                        data[v + 2 * c + 1] = at(c, k + 1);
                    }
                }
            }
        }
        let mut b = [0.0; 16];
        for (c, &x) in bias.iter().enumerate() {
            b[2 * c] = x;
        }
        PairedWeights { data, row, bias: b, n }
    }
}

/// `rows` output pixels (rows of `a` `lda` floats apart, outputs `ldc` apart from `c`), each
/// the sum over runs `segs` of full kernel rows: run `g` reads `g.len == w.row` inputs from
/// `a + g.a` against kernel row `g.k0 / w.row`. Bias and activation `ACT` are applied and the
/// `w.n` channels stored.
///
/// # Safety
/// The CPU must support AVX-512F. For every pixel `r < rows` and run `g`, `a` must be readable
/// at `r * lda + g.a .. + g.len` and `c` writable at `r * ldc .. + w.n` with nothing else
/// accessing it; every run must be a whole kernel row of `w` (`g.k0` a multiple of `w.row`
/// below the packed rows, `g.len == w.row`).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn conv_pairs<const ACT: u8>(
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    segs: &[Seg],
    w: &PairedWeights,
) {
    debug_assert!(segs.iter().all(|g| g.len == w.row && g.k0.is_multiple_of(w.row)));
    let mut r = 0;
    // SAFETY (whole function): each tile reads and writes only pixels `r .. r + R < rows`,
    // which the caller's contract covers.
    unsafe {
        while r + MR <= rows {
            tile::<MR, ACT>(a, lda, c, ldc, r, segs, w);
            r += MR;
        }
        macro_rules! tail {
            ($($n:literal)*) => {
                match rows - r {
                    $($n => tile::<$n, ACT>(a, lda, c, ldc, r, segs, w),)*
                    _ => {}
                }
            };
        }
        tail!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    }
}

/// Pixels `r0 .. r0 + R` of [`conv_pairs`].
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile<const R: usize, const ACT: u8>(
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    r0: usize,
    segs: &[Seg],
    w: &PairedWeights,
) {
    // SAFETY (whole function): the caller's contract covers pixels `r0 .. r0 + R`; the packed
    // rows hold `ceil(row / 2)` vectors each, and a run reads inputs `g.a .. g.a + row` of
    // its pixel, pairs `2j, 2j + 1` with `2j + 1 < row` and the last single one.
    unsafe {
        let mut acc = [_mm512_loadu_ps(w.bias.as_ptr()); R];
        let a = a.add(r0 * lda);
        let pairs = w.row / 2;
        let vecs = w.row.div_ceil(2);
        for g in segs {
            let x = a.add(g.a);
            let mut wp = w.data.as_ptr().add(g.k0 / w.row * vecs * 16);
            for j in 0..pairs {
                let wv = _mm512_load_ps(wp);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let two = x.add(i * lda + 2 * j).cast::<f64>().read_unaligned();
                    *acc = _mm512_fmadd_ps(_mm512_castpd_ps(_mm512_set1_pd(two)), wv, *acc);
                }
                wp = wp.add(16);
            }
            if w.row % 2 == 1 {
                let wv = _mm512_load_ps(wp);
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*x.add(i * lda + w.row - 1)), wv, *acc);
                }
            }
        }
        // Lane 2c + 1 onto lane 2c, then the even lanes into lanes 0..8.
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
        let mask = ((1u32 << w.n) - 1) as __mmask16;
        for (i, &v) in acc.iter().enumerate() {
            let sums = _mm512_add_ps(v, _mm512_permute_ps::<0b1011_0001>(v));
            let y = activate::<ACT>(_mm512_permutexvar_ps(evens, sums));
            _mm512_mask_storeu_ps(c.add((r0 + i) * ldc), mask, y);
        }
    }
}
