//! AVX-512 micro-kernel of the matrix product (`driver.rs`): `MR` (12) rows x 32 channels (2 zmm) of the output
//! in 24 accumulator registers (13 rows, 26, where that spares a short last tile); per
//! reduction step, two aligned weight loads and, per row, one broadcast shared by a pair of
//! FMAs. A last panel of 16 channels runs the 1-zmm variant. Panels of 64 channels (short
//! reductions, see `panel_width` in `panels.rs`) run 6 x 64 tiles: four weight loads and
//! six broadcasts per 24 FMAs. Bias and activation are applied in registers; a partial last
//! panel is written with masked stores.

#![cfg(x86_simd)]

use super::ukernel::{GemmConfig, Sweep, WidePanels};
use crate::kernels::x86::avx512::activate;
use std::arch::x86_64::*;

/// The AVX-512 kernels: 32-wide panels (two zmm), 64-wide ones where they pay, and tiles that
/// follow a `prefetch_ahead` request.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    nr: 32,
    lanes: 16,
    wide: Some(WidePanels {
        nr: 64,
        // 32 KiB of 64-wide weights, which stay in L1 while every tile of a pass runs over them.
        kc: 128,
        min_rows: 64,
    }),
    sweep,
    gemv: None,
    prefetches_ahead: true,
};

/// Rows per tile: 12 x 2 = 24 accumulators, plus 2 weight registers, of 32 zmm; enough
/// independent FMAs (24) to cover two FMA units of 4-cycle latency.
const MR: usize = 12;

/// Sweeps one panel over `s.rows` rows in tiles of `MR` or `MR + 1` rows (see [`sweep_nv`]).
///
/// # Safety
/// The CPU must support AVX-512F; `s` must satisfy the contract of `gemm_raw` (`driver.rs`)
/// for its rows and panel (`s.w` is `k` rows of 16 or 32 floats, `s.bias` as wide).
#[target_feature(enable = "avx512f,fma")]
unsafe fn sweep(s: &Sweep) {
    let width = s.bias.len();
    debug_assert!(width == 16 || width == 32 || width == 64);
    debug_assert!(s.w.len() == width * s.k);
    debug_assert!(s.segs.iter().all(|g| g.k0 + g.len <= s.k));
    // SAFETY: for the whole function, each `tile` call reads rows `r .. r + R` of `a` and
    // writes the same rows of `c`, all inside `0..s.rows`, which the caller guarantees.
    unsafe {
        if width == 64 {
            if s.from_c {
                sweep_wide::<true>(s)
            } else {
                sweep_wide::<false>(s)
            }
        } else if width == 32 {
            sweep_nv::<2>(s)
        } else {
            sweep_nv::<1>(s)
        }
    }
}

/// [`sweep`] for panels of `NV` vectors.
///
/// A tile of fewer than four rows keeps too few accumulators (`rows * NV` chains of 4-cycle
/// FMAs) to feed both FMA units, so a leftover of `rows % MR` rows is spread over the full
/// tiles, one extra row each (13 x 2 = 26 accumulators still fit), whenever there are enough
/// of them: 49 rows (a 7x7 map) run as 13 + 3 x 12 instead of 4 x 12 + 1. Otherwise the
/// leftover runs as one short tile at the end.
#[target_feature(enable = "avx512f,fma")]
unsafe fn sweep_nv<const NV: usize>(s: &Sweep) {
    let (full, rest) = (s.rows / MR, s.rows % MR);
    let (wide, tail) = if rest <= full { (rest, 0) } else { (0, rest) };
    let mut r = 0;
    // SAFETY: see `sweep`; the tiles cover `0..s.rows` exactly once.
    unsafe {
        for t in 0..full {
            // The first tile prefetches the next panel (see `Sweep`).
            if t < wide {
                full_tile::<{ MR + 1 }, NV, false>(s, r, t == 0);
                r += MR + 1;
            } else {
                full_tile::<MR, NV, false>(s, r, t == 0);
                r += MR;
            }
        }
        let pf = r == 0;
        macro_rules! tail {
            ($($n:literal)*) => {
                match (tail, pf) {
                    $(($n, true) => tile::<$n, NV, true, false, false>(s, r, std::ptr::null()),
                      ($n, false) => tile::<$n, NV, false, false, false>(s, r, std::ptr::null()),)*
                    _ => {}
                }
            };
        }
        tail!(1 2 3 4 5 6 7 8 9 10 11);
    }
}

/// Rows per tile of a 64-channel panel: 6 x 4 = 24 accumulators.
const MR_WIDE: usize = 6;

/// [`sweep`] for 64-channel panels: tiles of `MR_WIDE` rows, then the leftover rows (no
/// spreading as in [`sweep_nv`]: 7 x 4 accumulators and 4 weight vectors would fill all 32
/// registers).
#[target_feature(enable = "avx512f,fma")]
unsafe fn sweep_wide<const FC: bool>(s: &Sweep) {
    // A leftover of one row would be a tile of 4 FMA chains, half what two FMA units need:
    // from 25 rows on, five 5-row tiles take the place of four 6-row ones and that row.
    let short = if s.rows % MR_WIDE == 1 && s.rows >= 25 { 5 } else { 0 };
    let mut r = 0;
    // SAFETY: see `sweep`; the tiles cover `0..s.rows` exactly once.
    unsafe {
        for t in 0..short {
            full_tile::<{ MR_WIDE - 1 }, 4, FC>(s, r, t == 0);
            r += MR_WIDE - 1;
        }
        while r + MR_WIDE <= s.rows {
            full_tile::<MR_WIDE, 4, FC>(s, r, r == 0);
            r += MR_WIDE;
        }
        let pf = r == 0;
        macro_rules! tail {
            ($($n:literal)*) => {
                match (s.rows - r, pf) {
                    $(($n, true) => tile::<$n, 4, true, false, FC>(s, r, std::ptr::null()),
                      ($n, false) => tile::<$n, 4, false, false, FC>(s, r, std::ptr::null()),)*
                    _ => {}
                }
            };
        }
        tail!(1 2 3 4 5);
    }
}

/// One tile of `R` rows from row `r`: the first of a sweep prefetches the next panel, the
/// others follow this thread's `prefetch_ahead` (`driver.rs`) request while it lasts.
///
/// # Safety
/// As [`tile`].
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn full_tile<const R: usize, const NV: usize, const FC: bool>(s: &Sweep, r: usize, first: bool) {
    // SAFETY: the caller's contract is `tile`'s.
    unsafe {
        if first {
            return tile::<R, NV, true, false, FC>(s, r, std::ptr::null());
        }
        let (cursor, end) = s.ahead.get();
        if cursor < end {
            tile::<R, NV, false, true, FC>(s, r, cursor as *const i8);
            let steps: usize = s.segs.iter().map(|g| g.len).sum();
            s.ahead.set((cursor + ahead_per_step(NV) * steps * 64, end));
        } else {
            tile::<R, NV, false, false, FC>(s, r, std::ptr::null());
        }
    }
}

/// Lines of a `prefetch_ahead` (`driver.rs`) request that a full tile prefetches per
/// reduction step: two with two vectors of weights (24 FMAs, about 12 cycles), one with one.
/// On 0.25-128 that finishes the 1 MB classifier within the last pointwise layers; one line
/// per two steps left a third of it to stream, and cost as much per layer.
const fn ahead_per_step(nv: usize) -> usize {
    if nv >= 2 {
        2
    } else {
        1
    }
}

/// Rows `r0 .. r0 + R` of the panel: `R x NV` accumulators, the whole reduction, then bias
/// (loaded first as the initial value), activation and store. With `PF`, the same weight rows
/// of the next panel are prefetched; with `AH`, [`ahead_per_step`] lines per step from `ahead`.
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn tile<const R: usize, const NV: usize, const PF: bool, const AH: bool, const FC: bool>(
    s: &Sweep,
    r0: usize,
    ahead: *const i8,
) {
    // SAFETY: for the whole function, the bias has NV * 16 floats; `w` has k rows of NV * 16;
    // row `r0 + i` (i < R) of `a` is readable over every run and of `c` has `s.n` writable
    // floats.
    unsafe {
        let bias: [__m512; NV] = std::array::from_fn(|v| _mm512_loadu_ps(s.bias.as_ptr().add(16 * v)));
        let mut acc = [bias; R];
        if FC {
            for (i, acc) in acc.iter_mut().enumerate() {
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_loadu_ps(s.c.add((r0 + i) * s.ldc + 16 * v));
                }
            }
        }
        let a = s.a.add(r0 * s.lda);
        let width = 16 * NV;
        let mut line = 0;
        for seg in s.segs {
            let a = a.add(seg.a);
            let mut w = s.w.as_ptr().add(seg.k0 * width);
            for kk in 0..seg.len {
                if PF {
                    // The same weight row of the next panel; prefetches never fault, so past
                    // the last panel this is only a wasted hint.
                    let next = w.wrapping_add(width * s.k);
                    for v in 0..NV {
                        _mm_prefetch::<_MM_HINT_T1>(next.wrapping_add(16 * v).cast());
                    }
                }
                if AH {
                    for _ in 0..ahead_per_step(NV) {
                        _mm_prefetch::<_MM_HINT_T1>(ahead.wrapping_add(64 * line));
                        line += 1;
                    }
                }
                let wv: [__m512; NV] = std::array::from_fn(|v| _mm512_loadu_ps(w.add(16 * v)));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*a.add(i * s.lda + kk));
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        *acc = _mm512_fmadd_ps(x, wv, *acc);
                    }
                }
                w = w.add(width);
            }
        }
        let c = s.c.add(r0 * s.ldc);
        for (i, acc) in acc.iter().enumerate() {
            for (v, &x) in acc.iter().enumerate() {
                let y = activate(s.clamp, x);
                let dst = c.add(i * s.ldc + 16 * v);
                let valid = s.n.saturating_sub(16 * v).min(16);
                if valid == 16 {
                    _mm512_storeu_ps(dst, y);
                } else if valid > 0 {
                    _mm512_mask_storeu_ps(dst, ((1u32 << valid) - 1) as __mmask16, y);
                }
            }
        }
    }
}
