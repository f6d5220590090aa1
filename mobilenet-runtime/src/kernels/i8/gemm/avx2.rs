//! The AVX2 int8 micro-kernel: 4 x 16 tiles (4 pixels, 16 channels in 2 vectors of `i32`),
//! two reduction steps per `vpmaddwd`.
//!
//! Panels are `[k / 2][16][2]` `i16` ([`Layout::Pairs`]): one vector holds 8 channels'
//! weights for steps `2p` and `2p + 1`. Per block of 8 steps each row's 8 inputs are
//! sign-extended to `i16` and copied into both 128-bit halves; `vpshufd` then broadcasts one
//! pair of steps, and `vpmaddwd` against a weight vector gives 8 channels'
//! `x[2p] * w[2p] + x[2p+1] * w[2p+1]`, exact in `i32` (inputs `-128..=127`, weights
//! `-255..=255`: no product pair comes near `vpmaddwd`'s one overflow, `-32768 * -32768`
//! twice). `vpmaddubsw`, which saturates to `i16`, is not used. The epilogue is
//! `x86::avx2::requantize`, bit for bit the scalar one.
//!
//! 8 accumulators, 4 row vectors, 2 weights and a broadcast: 15 of 16 `ymm`.

use super::ukernel::{GemmConfig, Layout, Sweep};
use crate::kernels::x86::avx2::{pack_i8, requantize};
use std::arch::x86_64::*;

/// Rows per tile.
const MR: usize = 4;

/// The AVX2 kernels: 16-wide pair panels (the last one 8 wide if it has 8 channels or
/// fewer), the reduction padded to blocks of 8.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    nr: 16,
    lanes: 8,
    kr: 8,
    layout: Layout::Pairs,
    sweep,
};

/// The AVX2 sweep (see [`super::ukernel::SweepFn`]).
///
/// # Safety
/// The CPU runs AVX2; the contract of [`super::ukernel::SweepFn`], with a panel of this
/// config (8 or 16 wide).
unsafe fn sweep(s: &Sweep) {
    // SAFETY: forwarded contract.
    unsafe {
        match s.bias.len() {
            16 => rows::<2>(s),
            8 => rows::<1>(s),
            w => unreachable!("AVX2 int8 panels are 8 or 16 wide, not {w}"),
        }
    }
}

/// All rows of the sweep, `MR` at a time, then the 1-3 left.
///
/// # Safety
/// As [`sweep`], with `NV` vectors of 8 channels per panel.
#[target_feature(enable = "avx2")]
unsafe fn rows<const NV: usize>(s: &Sweep) {
    let mut r = 0;
    // SAFETY: for every call, rows `r..r + R` lie below `s.rows`; the rest is the caller's
    // contract.
    unsafe {
        while r + MR <= s.rows {
            tile::<MR, NV>(s, r);
            r += MR;
        }
        match s.rows - r {
            3 => tile::<3, NV>(s, r),
            2 => tile::<2, NV>(s, r),
            1 => tile::<1, NV>(s, r),
            _ => {}
        }
    }
}

/// Inputs `k0..k0 + 8` of row `row` (of `k`), sign-extended to `i16` in both 128-bit halves;
/// steps past `k` read as 0 (their weights are 0 too).
///
/// # Safety
/// `row` readable for `k` bytes, `k0 < k`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn inputs(row: *const i8, k0: usize, k: usize) -> __m256i {
    let bytes = if k0 + 8 <= k {
        // SAFETY: 8 bytes inside the row.
        unsafe { _mm_loadl_epi64(row.add(k0).cast()) }
    } else {
        let mut tail = [0i8; 8];
        // SAFETY: the row's last `k - k0` bytes.
        unsafe { std::ptr::copy_nonoverlapping(row.add(k0), tail.as_mut_ptr(), k - k0) };
        // SAFETY: a local array of 8 bytes.
        unsafe { _mm_loadl_epi64(tail.as_ptr().cast()) }
    };
    _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(bytes))
}

/// One pair of reduction steps (`PAIR` selects it among the 4 in `x`, as a `vpshufd`
/// immediate) for every row and channel vector of a tile.
#[target_feature(enable = "avx2")]
#[inline]
fn pair_step<const PAIR: i32, const R: usize, const NV: usize>(
    acc: &mut [[__m256i; NV]; R],
    x: &[__m256i; R],
    w: &[__m256i; NV],
) {
    for (acc, &x) in acc.iter_mut().zip(x) {
        let b = _mm256_shuffle_epi32::<PAIR>(x);
        for (a, &w) in acc.iter_mut().zip(w) {
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(b, w));
        }
    }
}

/// Rows `r0..r0 + R` of the panel: the whole reduction in registers, then the epilogue.
///
/// # Safety
/// As [`sweep`], with `r0 + R <= s.rows` and a panel `8 * NV` wide.
#[target_feature(enable = "avx2")]
unsafe fn tile<const R: usize, const NV: usize>(s: &Sweep, r0: usize) {
    let width = 8 * NV;
    debug_assert_eq!(s.w.len(), s.k.next_multiple_of(8) * width);
    // SAFETY: `bias` holds `width` values (the contract).
    let bias: [__m256i; NV] = std::array::from_fn(|v| unsafe { _mm256_loadu_si256(s.bias.as_ptr().add(8 * v).cast()) });
    let mut acc = [bias; R];
    // SAFETY: rows `r0..r0 + R` are readable for `k` bytes (the contract).
    let row: [*const i8; R] = std::array::from_fn(|r| unsafe { s.a.add((r0 + r) * s.lda) });
    let w = s.w.as_ptr();
    for block in 0..s.k.div_ceil(8) {
        // SAFETY: `block * 8 < k`.
        let x: [__m256i; R] = std::array::from_fn(|r| unsafe { inputs(row[r], block * 8, s.k) });
        let load = |p: usize| -> [__m256i; NV] {
            std::array::from_fn(|v| {
                // SAFETY: pair `4 * block + p` of the panel: `width * 2` weights at
                // `(4 * block + p) * width * 2`, inside the padded panel.
                unsafe { _mm256_loadu_si256(w.add(((4 * block + p) * width + 8 * v) * 2).cast()) }
            })
        };
        pair_step::<0x00, R, NV>(&mut acc, &x, &load(0));
        pair_step::<0x55, R, NV>(&mut acc, &x, &load(1));
        pair_step::<0xAA, R, NV>(&mut acc, &x, &load(2));
        pair_step::<0xFF, R, NV>(&mut acc, &x, &load(3));
    }
    // SAFETY: the requantisation arrays hold `width` values each (the contract).
    let (mult, left, right): ([__m256i; NV], [__m256i; NV], [__m256i; NV]) = unsafe {
        let load = |p: &[i32], v: usize| _mm256_loadu_si256(p.as_ptr().add(8 * v).cast());
        (
            std::array::from_fn(|v| load(s.rq.multiplier, v)),
            std::array::from_fn(|v| load(s.rq.left, v)),
            std::array::from_fn(|v| load(s.rq.right, v)),
        )
    };
    let zp = _mm256_set1_epi32(s.rq.zero_point);
    let (min, max) = (_mm_set1_epi8(s.rq.min), _mm_set1_epi8(s.rq.max));
    for (r, acc) in acc.iter().enumerate() {
        let q: [__m256i; NV] = std::array::from_fn(|v| requantize(acc[v], mult[v], left[v], right[v]));
        let bytes = pack_i8(q[0], q[NV - 1], zp, min, max);
        // SAFETY: row `r0 + r` of `c` has `n <= width` writable bytes (the contract).
        let out = unsafe { s.c.add((r0 + r) * s.ldc) };
        if s.n == 16 {
            // SAFETY: 16 writable bytes.
            unsafe { _mm_storeu_si128(out.cast(), bytes) };
        } else {
            let mut tmp = [0i8; 16];
            // SAFETY: a local array of 16 bytes; then `n` bytes of the row.
            unsafe {
                _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), out, s.n);
            }
        }
    }
}
