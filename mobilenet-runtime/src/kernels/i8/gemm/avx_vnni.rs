//! The 256-bit VNNI int8 micro-kernel: 6 x 16 tiles (6 pixels, 16 channels in 2 `ymm` of
//! `i32`), four reduction steps per `vpdpbusd`, for CPUs with AVX-VNNI and no AVX-512
//! (Alder Lake and later client cores, Sierra Forest).
//!
//! The arithmetic is that of `avx512_vnni.rs` (flipped rows, byte weights, `128 * sum w`
//! folded out of the bias, exact) on `[k / 4][16][4]` panels ([`Layout::Quads`], one group of
//! 16): the AVX2 kernel's tile with `vpdpbusd` in place of `vpmaddwd`, and 16 registers, as
//! VEX code has. The same code is compiled twice, differing only in the encoding of that one
//! instruction: [`VEX`] (AVX-VNNI), the one `i8/config.rs` chooses, and in test builds `EVEX`
//! (AVX-512 VL with VNNI), which no table chooses (those CPUs take the 512-bit kernel) and
//! which exists so that the tests run this kernel's code wherever AVX-512 VNNI runs, the
//! emulator of `tools/avx512_emulator` included.
//!
//! 12 accumulators, 2 weights and a broadcast: 15 of 16 `ymm`.

use super::avx2::lanes;
use super::ukernel::{GemmConfig, Layout, Rows, Sweep};
use crate::kernels::x86::avx2::{pack_i8_halves, plain_shifts, store_first, Requantizer};
use std::arch::x86_64::*;

/// Rows per tile.
const MR: usize = 6;

/// The AVX-VNNI kernels: 16-wide quad panels, the reduction padded to blocks of 4, rows
/// flipped by the driver.
pub(crate) const VEX: GemmConfig = config("avx-vnni", sweep::<Vex>);

/// The same kernels with the EVEX `vpdpbusd` of AVX-512 VNNI (see the module's doc), for
/// the tests only.
#[cfg(test)]
pub(crate) const EVEX: GemmConfig = config("avx512-vnni-256", sweep::<Evex>);

const fn config(name: &'static str, sweep: super::ukernel::SweepFn) -> GemmConfig {
    GemmConfig {
        name,
        nr: 16,
        lanes: 16,
        kr: 4,
        layout: Layout::Quads,
        rows: Rows::Flipped,
        sweep,
    }
}

/// One encoding of `vpdpbusd` on `ymm`, and the entry point compiled with its features.
trait Dot {
    /// `acc + sum of the four u8 x s8 products` per `i32` lane.
    ///
    /// # Safety
    /// The CPU runs this encoding.
    unsafe fn dot(acc: __m256i, x: __m256i, w: __m256i) -> __m256i;

    /// [`rows`] compiled with the encoding's features.
    ///
    /// # Safety
    /// As [`rows`], and the CPU runs this encoding.
    unsafe fn rows<const PLAIN: bool>(s: &Sweep);
}

/// AVX-VNNI (VEX).
struct Vex;

impl Dot for Vex {
    #[inline(always)]
    unsafe fn dot(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // SAFETY: the caller's CPU runs AVX-VNNI; inlined into `rows_vex`, which enables it.
        unsafe { _mm256_dpbusd_avx_epi32(acc, x, w) }
    }

    unsafe fn rows<const PLAIN: bool>(s: &Sweep) {
        // SAFETY: forwarded contract.
        unsafe { rows_vex::<PLAIN>(s) }
    }
}

/// AVX-512 VL with VNNI (EVEX).
#[cfg(test)]
struct Evex;

#[cfg(test)]
impl Dot for Evex {
    #[inline(always)]
    unsafe fn dot(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // SAFETY: the caller's CPU runs AVX-512 VL and VNNI; inlined into `rows_evex`, which
        // enables them.
        unsafe { _mm256_dpbusd_epi32(acc, x, w) }
    }

    unsafe fn rows<const PLAIN: bool>(s: &Sweep) {
        // SAFETY: forwarded contract.
        unsafe { rows_evex::<PLAIN>(s) }
    }
}

/// The sweep (see [`super::ukernel::SweepFn`]).
///
/// # Safety
/// The CPU runs AVX2 and `D`'s encoding; the contract of [`super::ukernel::SweepFn`], with a
/// 16-wide panel of this config.
unsafe fn sweep<D: Dot>(s: &Sweep) {
    assert_eq!(s.bias.len(), 16, "256-bit VNNI int8 panels are 16 wide");
    // SAFETY: forwarded contract.
    unsafe {
        if plain_shifts(s.rq.left, s.rq.right) {
            D::rows::<true>(s)
        } else {
            D::rows::<false>(s)
        }
    }
}

/// [`rows`] with AVX-VNNI.
///
/// # Safety
/// As [`rows`]; the CPU runs AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn rows_vex<const PLAIN: bool>(s: &Sweep) {
    // SAFETY: forwarded contract.
    unsafe { rows::<Vex, PLAIN>(s) }
}

/// [`rows`] with AVX-512 VL and VNNI.
///
/// # Safety
/// As [`rows`]; the CPU runs AVX-512 VL and VNNI.
#[cfg(test)]
#[target_feature(enable = "avx2,avx512vl,avx512vnni")]
unsafe fn rows_evex<const PLAIN: bool>(s: &Sweep) {
    // SAFETY: forwarded contract.
    unsafe { rows::<Evex, PLAIN>(s) }
}

/// All rows of the sweep, `MR` at a time, then the 1-5 left. Inlined into the entry point
/// that enables `D`'s features, which is what lets the intrinsics inline in turn.
///
/// # Safety
/// The sweep's contract, and channels that pass [`plain_shifts`] if `PLAIN`; only from a
/// function that enables AVX2 and `D`'s encoding.
#[inline(always)]
unsafe fn rows<D: Dot, const PLAIN: bool>(s: &Sweep) {
    // SAFETY: AVX2 (the caller's features); the per-channel arrays hold 16 values each.
    unsafe {
        let zp = _mm256_set1_epi32(s.rq.zero_point);
        let rq: [Requantizer<PLAIN>; 2] = std::array::from_fn(|h| {
            let lanes = |p: &[i32]| lanes::<2>(p, h);
            Requantizer::new(lanes(s.rq.multiplier), lanes(s.rq.left), lanes(s.rq.right), zp)
        });
        let mut r = 0;
        // Rows `r..r + R` lie below `s.rows` for every call.
        while r + MR <= s.rows {
            tile::<D, MR, PLAIN>(s, &rq, r);
            r += MR;
        }
        match s.rows - r {
            5 => tile::<D, 5, PLAIN>(s, &rq, r),
            4 => tile::<D, 4, PLAIN>(s, &rq, r),
            3 => tile::<D, 3, PLAIN>(s, &rq, r),
            2 => tile::<D, 2, PLAIN>(s, &rq, r),
            1 => tile::<D, 1, PLAIN>(s, &rq, r),
            _ => {}
        }
    }
}

/// Rows `r0..r0 + R` of the panel: the whole reduction in registers, then the epilogue.
///
/// # Safety
/// As [`rows`], with `r0 + R <= s.rows`.
#[inline(always)]
unsafe fn tile<D: Dot, const R: usize, const PLAIN: bool>(s: &Sweep, rq: &[Requantizer<PLAIN>; 2], r0: usize) {
    let kp = s.k.next_multiple_of(4);
    let w = s.w.bytes();
    debug_assert_eq!(w.len(), kp * 16);
    // SAFETY: AVX2 and `D` (the caller's features); `bias` holds 16 values, rows
    // `r0..r0 + R` of the flipped rows hold `kp` bytes each, `lda` apart, the panel `kp * 16`
    // bytes, and row `r0 + r` of `c` has `n <= 16` writable bytes (the contract).
    unsafe {
        let bias: [__m256i; 2] = std::array::from_fn(|h| lanes::<2>(s.bias, h));
        let mut acc = [bias; R];
        let row: [*const i8; R] = std::array::from_fn(|r| s.a.add((r0 + r) * s.lda));
        let w = w.as_ptr();
        for quad in 0..kp / 4 {
            let wv: [__m256i; 2] = std::array::from_fn(|h| _mm256_loadu_si256(w.add(quad * 64 + 32 * h).cast()));
            for (acc, &row) in acc.iter_mut().zip(&row) {
                let x = _mm256_set1_epi32(row.add(4 * quad).cast::<i32>().read_unaligned());
                for (a, &w) in acc.iter_mut().zip(&wv) {
                    *a = D::dot(*a, x, w);
                }
            }
        }
        let (min, max) = (_mm_set1_epi8(s.rq.min), _mm_set1_epi8(s.rq.max));
        for (r, acc) in acc.iter().enumerate() {
            let bytes = pack_i8_halves(rq[0].apply(acc[0]), rq[1].apply(acc[1]), min, max);
            store_first(s.c.add((r0 + r) * s.ldc), bytes, s.n);
        }
    }
}
