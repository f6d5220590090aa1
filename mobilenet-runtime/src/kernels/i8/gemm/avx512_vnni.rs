//! The AVX-512 VNNI int8 micro-kernel: 8 x 32 tiles (8 pixels, 32 channels in 2 `zmm` of
//! `i32`), four reduction steps per `vpdpbusd`.
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes and adds each lane's four products to
//! its `i32`, without saturating: exact, as the `vpmaddwd` path is, and four steps per
//! instruction instead of two. Its unsigned operand is the inputs: the driver flips each
//! pass's rows to `x + 128` once ([`Rows::Flipped`]), and the panels fold `128 * sum w` out of
//! the bias. Its signed operand is the weights minus their zero point, which must fit in
//! `i8`: every weight of an int8 model (symmetric, zero point 0); a uint8 layer whose
//! differences do not fit stays on the AVX2 product (`Panels::new` chooses per layer).
//!
//! Panels are `[k / 4][32][4]` `i8` ([`Layout::Quads`]): one vector holds 16 channels' weights
//! for four steps, in the order that lets each 256-bit half go through the AVX2 epilogue as a
//! pair panel's vector does (`Requantizer`, then `pack_i8_halves` with no fix-up shuffle). A
//! quad of one row is one `i32`, broadcast from memory. The loop is loads and `vpdpbusd` only.
//!
//! 16 accumulators, 2 weights and a broadcast: 19 of 32 `zmm`.

use super::avx2::lanes;
use super::ukernel::{GemmConfig, Layout, Rows, Sweep};
use crate::kernels::x86::avx2::{pack_i8_halves, plain_shifts, store_first, Requantizer};
use std::arch::x86_64::*;

/// Rows per tile.
const MR: usize = 8;

/// The AVX-512 VNNI kernels: 32-wide quad panels (the last one 16 wide if it has 16 channels
/// or fewer), the reduction padded to blocks of 4, rows flipped by the driver.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    name: "avx512-vnni",
    nr: 32,
    lanes: 16,
    kr: 4,
    layout: Layout::Quads,
    rows: Rows::Flipped,
    sweep,
};

/// The AVX-512 VNNI sweep (see [`super::ukernel::SweepFn`]).
///
/// # Safety
/// The CPU runs AVX-512F and AVX-512 VNNI; the contract of [`super::ukernel::SweepFn`], with a
/// panel of this config (16 or 32 wide).
unsafe fn sweep(s: &Sweep) {
    // SAFETY: forwarded contract.
    unsafe {
        match (s.bias.len(), plain_shifts(s.rq.left, s.rq.right)) {
            (32, true) => rows::<2, true>(s),
            (32, false) => rows::<2, false>(s),
            (16, true) => rows::<1, true>(s),
            (16, false) => rows::<1, false>(s),
            (w, _) => unreachable!("AVX-512 VNNI int8 panels are 16 or 32 wide, not {w}"),
        }
    }
}

/// The requantisation of one vector of 16 channels: its lower half (channels 0-3 and 8-11 of
/// the 16) and its upper half (4-7 and 12-15).
type Halves<const PLAIN: bool> = [Requantizer<PLAIN>; 2];

/// All rows of the sweep, `MR` at a time, then the 1-7 left.
///
/// # Safety
/// As [`sweep`], with `NV` vectors of 16 channels per panel, and channels that pass
/// [`plain_shifts`] if `PLAIN`.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn rows<const NV: usize, const PLAIN: bool>(s: &Sweep) {
    let zp = _mm256_set1_epi32(s.rq.zero_point);
    let rq: [Halves<PLAIN>; NV] = std::array::from_fn(|v| {
        // SAFETY: the per-channel arrays hold `16 * NV` values each (the contract), so group
        // `v` has 16 from `16 * v`.
        std::array::from_fn(|h| unsafe {
            let lanes = |p: &[i32]| lanes::<2>(&p[16 * v..], h);
            Requantizer::new(lanes(s.rq.multiplier), lanes(s.rq.left), lanes(s.rq.right), zp)
        })
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
            7 => tile::<7, NV, PLAIN>(s, &rq, r),
            6 => tile::<6, NV, PLAIN>(s, &rq, r),
            5 => tile::<5, NV, PLAIN>(s, &rq, r),
            4 => tile::<4, NV, PLAIN>(s, &rq, r),
            3 => tile::<3, NV, PLAIN>(s, &rq, r),
            2 => tile::<2, NV, PLAIN>(s, &rq, r),
            1 => tile::<1, NV, PLAIN>(s, &rq, r),
            _ => {}
        }
    }
}

/// Rows `r0..r0 + R` of the panel: the whole reduction in registers, then the epilogue.
///
/// # Safety
/// As [`rows`], with `r0 + R <= s.rows`.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tile<const R: usize, const NV: usize, const PLAIN: bool>(s: &Sweep, rq: &[Halves<PLAIN>; NV], r0: usize) {
    let width = 16 * NV;
    let kp = s.k.next_multiple_of(4);
    let w = s.w.bytes();
    debug_assert_eq!(w.len(), kp * width);
    // SAFETY: `bias` holds `16 * NV` values (the contract); group `v`'s halves in lane order.
    let bias: [__m512i; NV] = std::array::from_fn(|v| unsafe {
        let half = |h: usize| lanes::<2>(&s.bias[16 * v..], h);
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(half(0)), half(1))
    });
    let mut acc = [bias; R];
    // SAFETY: rows `r0..r0 + R` of the flipped rows hold `kp` bytes each, `lda` apart (the
    // contract).
    let row: [*const i8; R] = std::array::from_fn(|r| unsafe { s.a.add((r0 + r) * s.lda) });
    let w = w.as_ptr();
    for quad in 0..kp / 4 {
        // SAFETY: quad `quad` of the panel: `width * 4` weights at `quad * width * 4`, inside
        // the padded panel.
        let wv: [__m512i; NV] =
            std::array::from_fn(|v| unsafe { _mm512_loadu_si512(w.add((quad * width + 16 * v) * 4).cast()) });
        for (acc, &row) in acc.iter_mut().zip(&row) {
            // SAFETY: bytes `4 * quad..4 * quad + 4` of a flipped row of `kp`.
            let x = _mm512_set1_epi32(unsafe { row.add(4 * quad).cast::<i32>().read_unaligned() });
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = _mm512_dpbusd_epi32(*a, x, w);
            }
        }
    }
    let (min, max) = (_mm_set1_epi8(s.rq.min), _mm_set1_epi8(s.rq.max));
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: row `r0 + r` of `c` has `n <= width` writable bytes (the contract).
        let out = unsafe { s.c.add((r0 + r) * s.ldc) };
        for (v, (&a, rq)) in acc.iter().zip(rq).enumerate() {
            let lo = rq[0].apply(_mm512_castsi512_si256(a));
            let hi = rq[1].apply(_mm512_extracti64x4_epi64::<1>(a));
            let bytes = pack_i8_halves(lo, hi, min, max);
            let n = s.n.saturating_sub(16 * v).min(16);
            // SAFETY: channels `16 * v..16 * v + n` of the row are writable (the contract):
            // a 32-wide panel has more than 16 channels, so `16 * v` is inside the row.
            unsafe { store_first(out.add(16 * v), bytes, n) };
        }
    }
}
