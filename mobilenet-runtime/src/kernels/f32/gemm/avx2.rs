//! AVX2+FMA micro-kernels of the matrix product (`driver.rs`): `MR` (6) rows x 16 channels (2 ymm) of the output
//! in 12 accumulator registers; per reduction step, two weight loads and 6 broadcasts feeding
//! 12 FMAs. A panel of 8 channels runs the 1-ymm variant in tiles of [`MR_NARROW`] (12) rows,
//! and a single row splits its reduction over [`S_ONE_ROW`] sets of accumulators; a single row
//! over the whole reduction takes several full panels at once instead ([`gemv`]). Bias and
//! activation are applied in registers; a partial last vector is stored under a lane mask.

#![cfg(x86_simd)]

use super::ukernel::{GemmConfig, Gemv, Sweep};
use crate::kernels::activation::Clamp;
use crate::kernels::x86::avx2::{activate, first_lanes};
use std::arch::x86_64::*;

/// The AVX2 kernels: 16-wide panels (two ymm), [`gemv`] four panels at a time for one row.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    nr: 16,
    lanes: 8,
    wide: None,
    sweep,
    gemv: Some(Gemv {
        width: GEMV_WIDTH,
        panels: GEMV_PANELS,
        run: gemv::<GEMV_PANELS>,
    }),
    prefetches_ahead: false,
};

/// Full 16-wide panels per [`gemv`] call.
const GEMV_PANELS: usize = 4;

/// Rows per tile: 6 x 2 = 12 accumulators, 2 weights and 1 broadcast of 16 ymm registers.
const MR: usize = 6;

/// Sweeps one panel over `s.rows` rows, `MR` at a time, then the leftover rows.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `s` must satisfy the contract of
/// `gemm_raw` (`driver.rs`) for its rows and panel (`s.w` is `k` rows of 8 or 16 floats,
/// `s.bias` as wide).
#[target_feature(enable = "avx2,fma")]
unsafe fn sweep(s: &Sweep) {
    let width = s.bias.len();
    debug_assert!(width == 8 || width == 16);
    debug_assert!(s.w.len() == width * s.k);
    debug_assert!(s.segs.iter().all(|g| g.k0 + g.len <= s.k));
    // SAFETY: forwarded contract.
    unsafe {
        if width == 16 {
            sweep_nv::<2, MR>(s)
        } else {
            sweep_nv::<1, MR_NARROW>(s)
        }
    }
}

/// Rows per tile on 8-wide panels: 12 x 1 accumulators, as many as 6 x 2 on 16-wide ones.
/// With 6 the FMA chains could not keep both units busy: on 0.25-128, whose first
/// convolution has 8 output channels, that layer took about a tenth longer.
const MR_NARROW: usize = 12;

/// Partial-sum sets of a one-row tile (see [`tile`]): 4 x `NV` chains. Measured in the
/// network against a single set: the 0.25-128 classifier (fc at batch 1), whose weights stay
/// in cache, about a tenth faster; the larger classifiers, whose weights stream from memory,
/// no faster.
const S_ONE_ROW: usize = 4;

/// [`sweep`] for panels of `NV` vectors, in tiles of `M` rows.
#[target_feature(enable = "avx2,fma")]
unsafe fn sweep_nv<const NV: usize, const M: usize>(s: &Sweep) {
    let mut r = 0;
    // SAFETY: each `tile` call covers rows `r .. r + R`, all below `s.rows`.
    unsafe {
        // The first tile prefetches the next panel (see `Sweep`).
        if s.rows >= M {
            tile::<M, NV, true, 1>(s, 0);
            r = M;
        }
        while r + M <= s.rows {
            tile::<M, NV, false, 1>(s, r);
            r += M;
        }
        let pf = r == 0;
        // The guards keep the arms a leftover cannot reach (`n >= M`) out of the code: without
        // them every instantiation carried the 12-row variety of tails, unused at `M = 6`.
        macro_rules! tail {
            ($($n:literal)*) => {
                match (s.rows - r, pf) {
                    (1, true) => tile::<1, NV, true, S_ONE_ROW>(s, r),
                    (1, false) => tile::<1, NV, false, S_ONE_ROW>(s, r),
                    $(($n, true) if $n < M => tile::<$n, NV, true, 1>(s, r),
                      ($n, false) if $n < M => tile::<$n, NV, false, 1>(s, r),)*
                    _ => {}
                }
            };
        }
        tail!(2 3 4 5 6 7 8 9 10 11);
    }
}

/// Rows `r0 .. r0 + R` of the panel; see the `tile` of `avx512.rs`.
///
/// The reduction accumulates in `S` interleaved sets of partial sums (step `kk` into set
/// `kk % S`), added together at the end. A tile of one row (fc at batch 1, or a leftover
/// row) has only `NV` accumulators, each a chain of 4-cycle FMAs: one set leaves the FMA
/// units idle most of the time.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize, const NV: usize, const PF: bool, const S: usize>(s: &Sweep, r0: usize) {
    // SAFETY: for the whole function, the bias has NV * 8 floats; `w` has k rows of NV * 8; row
    // `r0 + i` (i < R) of `a` is readable over every run and of `c` has `s.n` writable floats.
    unsafe {
        let bias: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(s.bias.as_ptr().add(8 * v)));
        let mut sets = [[[_mm256_setzero_ps(); NV]; R]; S];
        sets[0] = [bias; R];
        let a = s.a.add(r0 * s.lda);
        let width = 8 * NV;
        for seg in s.segs {
            // One base register per row, each broadcast addressed as `base + 4 * kk`. Left to
            // itself, LLVM derives the rows from one another with a chain of adds in every
            // step (6 more instructions per 12 FMAs, close to the core's issue width); an
            // empty `asm!` hides how the row addresses relate. Not for the 12-row tiles, whose
            // bases would not all fit in registers.
            let rows: [*const f32; R] = std::array::from_fn(|i| {
                let p = a.add(i * s.lda + seg.a);
                if R > MR {
                    return p;
                }
                p.map_addr(|mut addr| {
                    // SAFETY: the template is empty: the address passes through unchanged.
                    std::arch::asm!("/* {0} */", inout(reg) addr, options(pure, nomem, nostack, preserves_flags));
                    addr
                })
            });
            let w0 = s.w.as_ptr().add(seg.k0 * width);
            // Reduction step `kk` into the accumulators `acc`.
            let step = |acc: &mut [[__m256; NV]; R], kk: usize| {
                let w = w0.add(kk * width);
                if PF {
                    // The same weight row of the next panel; prefetches never fault, so past
                    // the last panel this is only a wasted hint. One 64-byte line per row.
                    _mm_prefetch::<_MM_HINT_T1>(w.wrapping_add(width * s.k).cast());
                }
                let wv: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(w.add(8 * v)));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*rows[i].add(kk));
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        *acc = _mm256_fmadd_ps(x, wv, *acc);
                    }
                }
            };
            let mut kk = 0;
            while kk + S <= seg.len {
                for (j, acc) in sets.iter_mut().enumerate() {
                    step(acc, kk + j);
                }
                kk += S;
            }
            for kk in kk..seg.len {
                step(&mut sets[0], kk);
            }
        }
        let mut acc = sets[0];
        for set in &sets[1..] {
            for (acc, part) in acc.iter_mut().zip(set) {
                for (acc, &part) in acc.iter_mut().zip(part) {
                    *acc = _mm256_add_ps(*acc, part);
                }
            }
        }
        let c = s.c.add(r0 * s.ldc);
        // Full panels in a branch of their own: with the partial-vector stores in the same
        // loop, the accumulators were spilled to the stack at every tile, which on short
        // reductions cost as much as a fifth of the tile.
        if s.n >= 8 * NV {
            for (i, acc) in acc.iter().enumerate() {
                for (v, &x) in acc.iter().enumerate() {
                    _mm256_storeu_ps(c.add(i * s.ldc + 8 * v), activate(s.clamp, x));
                }
            }
        } else {
            let masks: [__m256i; NV] = std::array::from_fn(|v| first_lanes(s.n.saturating_sub(8 * v).min(8)));
            for (i, acc) in acc.iter().enumerate() {
                for (v, &x) in acc.iter().enumerate() {
                    _mm256_maskstore_ps(c.add(i * s.ldc + 8 * v), masks[v], activate(s.clamp, x));
                }
            }
        }
    }
}

/// Panel width that [`gemv`] takes.
const GEMV_WIDTH: usize = 16;

/// One row (`a`, `k` floats) against `G` adjacent full panels (`w` the first, each
/// [`GEMV_WIDTH`] wide and `GEMV_WIDTH * k` floats long, bias `bias`), with activation `clamp`,
/// into `c` (`G * GEMV_WIDTH` floats).
///
/// Each weight is loaded once and used once, so one row is bound by streaming the weights
/// from cache or memory. The one-row tile of [`sweep`] streams one panel at a time; this
/// reads `G` panels side by side, `G` streams in flight instead of one, with `2 * G`
/// independent FMA chains. Against the one-row tile in the network (fc, 1 thread, AMD EPYC):
/// 1024 x 1000 29% faster (its 4 MB of weights from memory), 512 x 1000 25%, 256 x 1000 23%
/// (from L2 and L3); 6 panels at once were no faster than 4.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `a` readable for `k` floats, `w` for
/// `G * GEMV_WIDTH * k`, `bias` for `G * GEMV_WIDTH`, and `c` writable for `G * GEMV_WIDTH`
/// with nothing else accessing it.
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv<const G: usize>(clamp: Clamp, a: *const f32, w: *const f32, bias: *const f32, k: usize, c: *mut f32) {
    const W: usize = GEMV_WIDTH;
    // SAFETY: for the whole function, the caller's contract; panel `g` is `w + g * W * k`,
    // weight row `kk` of it `W` floats from `kk * W`.
    unsafe {
        let mut acc: [[__m256; 2]; G] =
            std::array::from_fn(|g| [_mm256_loadu_ps(bias.add(W * g)), _mm256_loadu_ps(bias.add(W * g + 8))]);
        let panels: [*const f32; G] = std::array::from_fn(|g| w.add(g * W * k));
        for kk in 0..k {
            let x = _mm256_broadcast_ss(&*a.add(kk));
            for (acc, panel) in acc.iter_mut().zip(&panels) {
                let row = panel.add(kk * W);
                acc[0] = _mm256_fmadd_ps(x, _mm256_loadu_ps(row), acc[0]);
                acc[1] = _mm256_fmadd_ps(x, _mm256_loadu_ps(row.add(8)), acc[1]);
            }
        }
        for (g, acc) in acc.iter().enumerate() {
            _mm256_storeu_ps(c.add(W * g), activate(clamp, acc[0]));
            _mm256_storeu_ps(c.add(W * g + 8), activate(clamp, acc[1]));
        }
    }
}
