//! The AVX2 int8 micro-kernel: 6 x 16 tiles (6 pixels, 16 channels in 2 vectors of `i32`),
//! two reduction steps per `vpmaddwd`.
//!
//! Panels are `[k / 2][16][2]` `i16` ([`Layout::Pairs`]): one vector holds 8 channels'
//! weights for steps `2p` and `2p + 1`. The inputs come widened to `i16` by the driver
//! ([`Rows::Widened`]), so a pair of steps of one row is one `i32`, broadcast straight
//! from memory (`vpbroadcastd`, a load with no shuffle), and `vpmaddwd` against a weight
//! vector gives 8 channels' `x[2p] * w[2p] + x[2p+1] * w[2p+1]`, exact in `i32` (inputs
//! `-128..=127`, weights `-255..=255`: no product pair comes near `vpmaddwd`'s one overflow,
//! `-32768 * -32768` twice). `vpmaddubsw`, which saturates to `i16`, is not used. So the
//! loop is loads, `vpmaddwd` and `vpaddd` only, and its bound is `vpmaddwd`'s throughput. The
//! epilogue is an `x86::avx2::Requantizer`, bit for bit the scalar one, prepared once per sweep
//! (13 instructions per 8 outputs for the usual right-shift-only layers), and a packing with no
//! fix-up shuffle: a 16-wide panel's channels are laid out in the order `vpackssdw` packs them
//! (`Layout::Pairs`).
//!
//! 12 accumulators, 2 weights, a broadcast and a product: 16 of 16 `ymm`.

use super::ukernel::{GemmConfig, Layout, Rows, Sweep};
use crate::kernels::x86::avx2::{pack_i8, pack_i8_halves, plain_shifts, store_first, Requantizer};
use std::arch::x86_64::*;

/// Rows per tile.
const MR: usize = 6;

/// The AVX2 kernels: 16-wide pair panels (the last one 8 wide if it has 8 channels or
/// fewer), the reduction padded to blocks of 8.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    name: "avx2",
    nr: 16,
    lanes: 8,
    kr: 8,
    layout: Layout::Pairs,
    rows: Rows::Widened,
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
        match (s.bias.len(), plain_shifts(s.rq.left, s.rq.right)) {
            (16, true) => rows::<2, true>(s),
            (16, false) => rows::<2, false>(s),
            (8, true) => rows::<1, true>(s),
            (8, false) => rows::<1, false>(s),
            (w, _) => unreachable!("AVX2 int8 panels are 8 or 16 wide, not {w}"),
        }
    }
}

/// All rows of the sweep, `MR` at a time, then the 1-5 left.
///
/// # Safety
/// As [`sweep`], with `NV` vectors of 8 channels per panel, and channels that pass
/// [`plain_shifts`] if `PLAIN`.
#[target_feature(enable = "avx2")]
unsafe fn rows<const NV: usize, const PLAIN: bool>(s: &Sweep) {
    // The requantisation constants, once per sweep rather than per tile: kept in memory, they
    // are operands of the epilogue's instructions, not work.
    let zp = _mm256_set1_epi32(s.rq.zero_point);
    // SAFETY: the per-channel arrays hold `8 * NV` values each (the contract).
    let rq: [Requantizer<PLAIN>; NV] = std::array::from_fn(|v| unsafe {
        let lanes = |p: &[i32]| lanes::<NV>(p, v);
        Requantizer::new(lanes(s.rq.multiplier), lanes(s.rq.left), lanes(s.rq.right), zp)
    });
    let mut r = 0;
    // SAFETY: for every call, rows `r..r + R` lie below `s.rows`; the rest is the caller's
    // contract.
    unsafe {
        while r + MR <= s.rows {
            tile::<MR, NV, PLAIN>(s, &rq, r);
            r += MR;
        }
        match s.rows - r {
            5 => tile::<5, NV, PLAIN>(s, &rq, r),
            4 => tile::<4, NV, PLAIN>(s, &rq, r),
            3 => tile::<3, NV, PLAIN>(s, &rq, r),
            2 => tile::<2, NV, PLAIN>(s, &rq, r),
            1 => tile::<1, NV, PLAIN>(s, &rq, r),
            _ => {}
        }
    }
}

/// Vector `v` of a panel's per-channel values `p` (`8 * NV` of them) in its lanes' order (see
/// `Layout::Pairs`): for a 16-wide panel, channels 0-3 and 8-11, or 4-7 and 12-15.
///
/// # Safety
/// `p` holds at least `8 * NV` values.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) unsafe fn lanes<const NV: usize>(p: &[i32], v: usize) -> __m256i {
    debug_assert!(p.len() >= 8 * NV);
    // SAFETY: `8 * NV` values (the contract).
    unsafe {
        if NV == 2 {
            let half = |i: usize| _mm_loadu_si128(p.as_ptr().add(i).cast());
            _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(half(4 * v)), half(8 + 4 * v))
        } else {
            _mm256_loadu_si256(p.as_ptr().cast())
        }
    }
}

/// Rows `r0..r0 + R` of the panel: the whole reduction in registers, then the epilogue.
///
/// # Safety
/// As [`rows`], with `r0 + R <= s.rows`.
#[target_feature(enable = "avx2")]
unsafe fn tile<const R: usize, const NV: usize, const PLAIN: bool>(
    s: &Sweep,
    rq: &[Requantizer<PLAIN>; NV],
    r0: usize,
) {
    let width = 8 * NV;
    debug_assert_eq!(s.w.wide().len(), s.k.next_multiple_of(8) * width);
    // SAFETY: `bias` holds `8 * NV` values (the contract).
    let mut acc = [std::array::from_fn::<_, NV, _>(|v| unsafe { lanes::<NV>(s.bias, v) }); R];
    let kp = s.k.next_multiple_of(8);
    // SAFETY: rows `r0..r0 + R` of `wide` hold `kp` values each (the contract).
    let row: [*const i16; R] = std::array::from_fn(|r| unsafe { s.wide.add((r0 + r) * kp) });
    let w = s.w.wide().as_ptr();
    for pair in 0..kp / 2 {
        // SAFETY: pair `pair` of the panel: `width * 2` weights at `pair * width * 2`, inside
        // the padded panel.
        let wv: [__m256i; NV] =
            std::array::from_fn(|v| unsafe { _mm256_loadu_si256(w.add((pair * width + 8 * v) * 2).cast()) });
        for (acc, &row) in acc.iter_mut().zip(&row) {
            // SAFETY: values `2 * pair` and `2 * pair + 1` of a widened row of `kp`.
            let x = _mm256_set1_epi32(unsafe { row.add(2 * pair).cast::<i32>().read_unaligned() });
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, w));
            }
        }
    }
    let (min, max) = (_mm_set1_epi8(s.rq.min), _mm_set1_epi8(s.rq.max));
    for (r, acc) in acc.iter().enumerate() {
        let q: [__m256i; NV] = std::array::from_fn(|v| rq[v].apply(acc[v]));
        let bytes = if NV == 2 {
            pack_i8_halves(q[0], q[1], min, max)
        } else {
            pack_i8(q[0], q[0], min, max)
        };
        // SAFETY: row `r0 + r` of `c` has `n <= width` writable bytes (the contract).
        unsafe { store_first(s.c.add((r0 + r) * s.ldc), bytes, s.n) };
    }
}
