//! The threaded driver of the matrix product behind pointwise convolution (and the standard
//! convolution and fc): `c[r][co] = clamp(bias[co] + sum_k a[r][k] * w[k][co])`, with `a` rows
//! `lda` floats apart and `c` rows `ldc` floats apart, over weights packed into [`Panels`].
//!
//! The driver is the same for every instruction set: it cuts the product into passes of rows
//! that stay in L2, splits them over a team, and calls the micro-kernels of the
//! [`GemmConfig`](super::ukernel::GemmConfig) the panels were packed for, which keep an
//! `MR x width` block of `c` in registers for the whole reduction: per `k` they load one
//! weight row (one or more vectors) and broadcast `MR` inputs.
//!
//! | path | panel `nr` | tile (`MR` pixels x channels) | accumulators |
//! | --- | --- | --- | --- |
//! | AVX-512 (`avx512.rs`) | 32 | 12 or 13 x 32 (2 zmm) | 24 or 26 of 32 zmm |
//! | AVX-512, `k <= 128` and `n` a multiple of 64 | 64 | 6 x 64 (4 zmm) | 24 of 32 zmm |
//! | AVX2+FMA (`avx2.rs`) | 16 | 6 x 16 (2 ymm); 12 x 8 on an 8-wide panel | 12 of 16 ymm |
//! | portable (`scalar.rs`) | 8 | 4 x 8 | compiler's choice |

use super::panels::Panels;
use super::ukernel::{Gemv, Seg, Sweep};
use crate::kernels::activation::Clamp;
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::{pieces_for, share, Team};
use std::cell::Cell;
use std::ops::Range;

thread_local! {
    /// Bytes `[cursor, end)` that the AVX-512 sweeps on this thread pull into L2 as they go
    /// (see [`prefetch_ahead`]).
    static AHEAD: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Asks the matrix products that run next on this thread to pull `data` into L2 as they go,
/// a cache line or two per reduction step of each full register tile, and forgets any earlier
/// request. Products are compute bound, so the loads overlap with their arithmetic; done in
/// one go, the same loads would stall the core as long as reading `data` does. Only the
/// AVX-512 sweeps take part. Only addresses are kept: prefetches never fault, so a request
/// that outlives `data` costs a few useless loads and nothing else.
pub(crate) fn prefetch_ahead(data: &[f32]) {
    let start = data.as_ptr() as usize;
    AHEAD.set((start, start + std::mem::size_of_val(data)));
}

/// Drops the request of [`prefetch_ahead`] (the data has been used).
pub(crate) fn stop_prefetch_ahead() {
    AHEAD.set((0, 0));
}

/// Floats of `a` processed per pass over the panels: the rows of one pass are re-read once
/// per panel, so they should stay in L2 (64 Ki floats = 256 KiB, a quarter of a small L2).
/// A product of at most twice as many floats runs as one pass (see [`pass_rows`]). Far lower
/// under Miri, so that the tests' small products there run in several passes too (see
/// [`MIN_SPLIT_MADDS`]).
const TILE_FLOATS: usize = if cfg!(miri) { 1 << 8 } else { 1 << 16 };

/// Rows per pass over the panels for a product of `rows` rows and reduction `k`.
///
/// Every pass streams all the weights, so a product that barely exceeds [`TILE_FLOATS`] runs
/// as one pass of up to twice that (512 KiB, half of a small L2) rather than two: split in two
/// passes, a 14x14x512 layer of 1.0-224 read its 1 MiB of weights twice, and in one pass
/// those layers measured a few percent faster (AVX2, 1 MiB L2, A/B in one process).
fn pass_rows(rows: usize, k: usize) -> usize {
    if rows * k <= 2 * TILE_FLOATS {
        rows
    } else {
        (TILE_FLOATS / k.max(1)).max(16)
    }
}

/// Computes rows `rows` of `c` for panels `panels` (all of them: `0..p.count()`).
///
/// # Panics
/// If `a` or `c` is too short for the last row, or the ranges are out of bounds.
pub(crate) fn gemm<const ACT: u8>(
    a: &[f32],
    lda: usize,
    c: &mut [f32],
    ldc: usize,
    rows: Range<usize>,
    p: &Panels,
    panels: Range<usize>,
) {
    assert!(panels.end <= p.count() && ldc >= p.n && lda >= p.k);
    if rows.is_empty() || panels.is_empty() {
        return;
    }
    assert!(a.len() >= (rows.end - 1) * lda + p.k, "gemm: input too short");
    assert!(c.len() >= (rows.end - 1) * ldc + p.n, "gemm: output too short");
    // SAFETY: the asserts above keep every access of rows `rows` and panels `panels` inside
    // `a` and `c`, and `c` is exclusively borrowed.
    unsafe {
        gemm_raw(
            Clamp::of(ACT),
            a.as_ptr(),
            lda,
            c.as_mut_ptr(),
            ldc,
            rows,
            p,
            panels,
            &p.whole(),
        )
    }
}

/// [`gemm`] of all `rows` rows, split over the threads of `team`: by panels (each thread
/// streams only its share of the weights) when the layer has far fewer pixels than output
/// channels (see [`PANEL_SPLIT_RATIO`]), and by rows otherwise.
///
/// # Panics
/// As [`gemm`].
pub(crate) fn gemm_team<const ACT: u8>(
    a: &[f32],
    lda: usize,
    c: &mut [f32],
    ldc: usize,
    rows: usize,
    p: &Panels,
    team: &Team,
) {
    let parts = team.threads();
    if parts == 1 || rows * p.k * p.n < MIN_SPLIT_MADDS {
        return gemm::<ACT>(a, lda, c, ldc, 0..rows, p, 0..p.count());
    }
    assert!(ldc >= p.n && lda >= p.k);
    if rows == 0 {
        return;
    }
    assert!(a.len() >= (rows - 1) * lda + p.k, "gemm: input too short");
    assert!(c.len() >= (rows - 1) * ldc + p.n, "gemm: output too short");
    let by_panels = rows * PANEL_SPLIT_RATIO < p.n && p.count() >= 2 * parts;
    let (a, c) = (SharedPtr(a.as_ptr().cast_mut()), SharedPtr(c.as_mut_ptr()));
    let whole = p.whole();
    let madds = rows * p.k * p.n;
    let clamp = Clamp::of(ACT);
    if by_panels {
        // SAFETY: for all three arms, the asserts above cover every row and panel; the split
        // hands out disjoint blocks of rows or panels, so no element of `c` is written twice,
        // and `c` stays exclusively borrowed until the split returns.
        team.split(p.count(), 1, madds, &|panels| unsafe {
            gemm_raw(clamp, a.get(), lda, c.get(), ldc, 0..rows, p, panels, &whole)
        });
    } else if p.k * p.n <= ROW_PIECES_MAX_WEIGHTS {
        // SAFETY: as above.
        team.split(rows, ROW_UNIT, madds, &|rows| unsafe {
            gemm_raw(clamp, a.get(), lda, c.get(), ldc, rows, p, 0..p.count(), &whole)
        });
    } else {
        // Pieces of a part's rows would each stream all the weights again: cut its panels
        // instead, so that each weight is still read once per part.
        let pieces = pieces_for(madds, parts, p.count());
        team.run_pieces(pieces, &|part, piece| {
            let rows = share(rows, ROW_UNIT, parts, part);
            let panels = share(p.count(), 1, pieces, piece);
            // SAFETY: as above.
            unsafe { gemm_raw(clamp, a.get(), lda, c.get(), ldc, rows, p, panels, &whole) }
        });
    }
}

/// Below this many multiply-adds (about 4 us of one core) a layer runs on one thread: waking
/// the team and waiting for it would cost more than the split saves.
///
/// Under Miri far lower, as are the other split thresholds (`ROW_PIECES_MAX_WEIGHTS` below,
/// `MIN_SPLIT_MADDS_DW`, `PIECE_MIN_MADDS`): they are speed choices, and the tests' shapes
/// under Miri, which interprets a few thousand multiply-adds a second, are far smaller than
/// any layer, yet must still take every split so that Miri checks the threads' accesses.
pub(crate) const MIN_SPLIT_MADDS: usize = if cfg!(miri) { 1 << 9 } else { 1 << 19 };

/// A layer is split by panels only when it has this many times fewer rows than output
/// channels (the 7x7 layers: 49 pixels, 1024 channels). Splitting by rows keeps each thread
/// on the pixels it computed in the layer before, in its own cache; a panel split makes every
/// thread read the whole input, half of it from the other core's cache, and the next layer
/// read half of its input from there again, which costs more than sharing the weight stream
/// saves unless the weights dwarf the map.
const PANEL_SPLIT_RATIO: usize = 8;

/// Largest weight matrix (floats) of a row-split product whose parts are cut into pieces of
/// rows; each piece streams all the weights, which are then at most 256 KiB and stay in L2.
/// Lower under Miri (see [`MIN_SPLIT_MADDS`]).
const ROW_PIECES_MAX_WEIGHTS: usize = if cfg!(miri) { 1 << 8 } else { 1 << 16 };

/// Rows per part when splitting by rows: a multiple of every path's register tile (12, 6, 4),
/// so that no part ends on a ragged tile that another part could have filled.
const ROW_UNIT: usize = 12;

/// [`gemm`] on raw pointers, so that threads can fill disjoint rows or panels (column
/// blocks) of one output, with the reduction given as runs `segs` (see [`Seg`]) and the
/// activation as the value `clamp`. The same for every instruction set: the micro-kernels come
/// from the config the panels were packed for, looked up once per call.
///
/// Not generic, unlike the shape-generic kernels that call it, which are instantiated in
/// every crate that expands `mobilenet!`: this and everything below it compile once, with this
/// crate. Were the activation a const parameter here, every such crate would compile the SIMD
/// bodies again (they were 96% of the LLVM IR of a 1.0-224 user crate, whose release build
/// took 18 s with them and 2.4 s without); and even compiled once per activation, three
/// copies of them took much of this crate's own build. The activation is applied once per
/// stored vector, a branch that always goes the same way.
///
/// # Safety
/// `a` must be readable at `r * lda + s.a + j` for every row `r` in `rows`, run `s` of
/// `segs` and `j < s.len`, and `c` writable at `r * ldc + co` for every channel `co` of
/// panels `panels`, and nothing else may access those elements of `c` during the call.
/// `panels.end <= p.count()` and every run's `k0 + len <= p.k`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    clamp: Clamp,
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    rows: Range<usize>,
    p: &Panels,
    panels: Range<usize>,
    segs: &[Seg],
) {
    debug_assert!(segs.iter().all(|s| s.k0 + s.len <= p.k));
    // The kernels, resolved once per call: the loops below call them directly.
    let cfg = p.cfg;
    let sweep_fn = cfg.sweep;
    let whole = segs.len() == 1 && segs[0].len == p.k;
    let panels = match &cfg.gemv {
        // SAFETY: one row, the whole reduction: the caller's contract covers every panel.
        Some(g) if rows.len() == 1 && whole => unsafe {
            gemv(
                g,
                clamp,
                a.add(rows.start * lda + segs[0].a),
                c.add(rows.start * ldc),
                p,
                panels,
            )
        },
        _ => panels,
    };
    // A wide panel over a long reduction is swept in blocks of `kc` weight rows that stay in
    // L1 (see `WidePanels`); the partial sums wait in `c`.
    let kc = match &cfg.wide {
        Some(wide) if p.nr == wide.nr && p.k > wide.kc && whole => wide.kc,
        _ => p.k.max(1),
    };
    let blocks = p.k.div_ceil(kc).max(1);
    let pass = pass_rows(rows.len(), p.k);
    let ahead = Cell::new(AHEAD.get());
    let mut r0 = rows.start;
    while r0 < rows.end {
        let r1 = (r0 + pass).min(rows.end);
        for b in panels.clone() {
            let w = &p.data[p.offset(b)..p.offset(b) + p.width(b) * p.k];
            let bias = &p.bias[b * p.nr..b * p.nr + p.width(b)];
            let n = (p.n - b * p.nr).min(p.width(b));
            // SAFETY: rows r0..r1 lie in `rows` and channels `b * nr .. + n` in panel `b`, so
            // the caller's contract covers every access.
            let (a, c) = unsafe { (a.add(r0 * lda), c.add(r0 * ldc + b * p.nr)) };
            for block in 0..blocks {
                let k0 = block * kc;
                let part = [Seg {
                    a: segs.first().map_or(0, |s| s.a) + k0,
                    k0,
                    len: kc.min(p.k - k0),
                }];
                let sweep = Sweep {
                    a,
                    lda,
                    c,
                    ldc,
                    rows: r1 - r0,
                    k: p.k,
                    segs: if blocks == 1 { segs } else { &part },
                    w,
                    bias,
                    n,
                    ahead: &ahead,
                    from_c: block > 0,
                    // Only the last block of a split reduction holds finished sums.
                    clamp: if block + 1 == blocks { clamp } else { Clamp::NONE },
                };
                // SAFETY: `Panels::new` packs only for a path this CPU runs, in the layout of
                // `cfg`; the sweep's pointers are valid per the caller's contract.
                unsafe { sweep_fn(&sweep) }
            }
        }
        r0 = r1;
    }
    AHEAD.set(ahead.get());
}

/// One row `a` (the whole reduction) against the leading panels of `panels`, `g.panels` full
/// panels at a time, into `c` (the row's output, channel 0); returns the panels left for the
/// sweeps: a last group of fewer, or a partial last panel. Panels of another width than the
/// kernel's all go to the sweeps.
///
/// # Safety
/// `g` belongs to the config `p` was packed for; `a` readable for `p.k` floats, `c` writable
/// at every channel of `panels`, nothing else accessing those.
unsafe fn gemv(
    g: &Gemv,
    clamp: Clamp,
    a: *const f32,
    c: *mut f32,
    p: &Panels,
    mut panels: Range<usize>,
) -> Range<usize> {
    let w = g.width;
    if p.nr != w {
        return panels;
    }
    while panels.start + g.panels <= panels.end && (panels.start + g.panels) * w <= p.n {
        let b = panels.start;
        // SAFETY: panels `b .. b + g.panels` are full (all `w` channels below `p.n`) and lie
        // back to back from `p.offset(b)`, `w * p.k` floats each; their bias is `w` per
        // panel; the CPU runs the kernel (`Panels::new`); the rest is the caller's contract.
        unsafe {
            (g.run)(
                clamp,
                a,
                p.data.as_ptr().add(p.offset(b)),
                p.bias.as_ptr().add(b * w),
                p.k,
                c.add(b * w),
            );
        }
        panels.start += g.panels;
    }
    panels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::isa::Isa;
    use crate::kernels::testkit::{self, Rng};
    use crate::{ACT_NONE, ACT_RELU, ACT_RELU6};

    fn check<const ACT: u8>(isa: Isa, rows: usize, k: usize, n: usize, lda: usize, ldc: usize, seed: u64) {
        let mut rng = Rng::new(seed);
        // Inputs up to 4, so that relu6 clips some outputs.
        let a: Vec<f32> = rng.vec(rows * lda).iter().map(|v| v * 4.0).collect();
        let w = rng.vec(n * k);
        let bias = rng.vec(n);
        let p = Panels::new(isa, k, n, rows, &|co, ki| w[co * k + ki], &bias);
        for co in 0..n {
            for ki in 0..k {
                assert_eq!(p.weight(co, ki).to_bits(), w[co * k + ki].to_bits());
            }
        }
        assert_eq!(p.bias(), &bias[..]);
        let want = testkit::matmul(rows, k, n, lda, ACT, &a, &w, &bias);
        let mut c = vec![-7.0f32; rows * ldc];
        // Two calls over split rows and panels must give the same as one.
        let mid = rows / 3;
        let pmid = p.count() / 2;
        gemm::<ACT>(&a, lda, &mut c, ldc, 0..mid, &p, 0..p.count());
        gemm::<ACT>(&a, lda, &mut c, ldc, mid..rows, &p, 0..pmid);
        gemm::<ACT>(&a, lda, &mut c, ldc, mid..rows, &p, pmid..p.count());
        for r in 0..rows {
            for co in 0..ldc {
                let got = c[r * ldc + co];
                if co >= n {
                    assert_eq!(got, -7.0, "{isa:?} wrote past channel {n}");
                    continue;
                }
                let want = want[r * n + co];
                assert!(
                    want.admits(got),
                    "{isa:?} rows={rows} k={k} n={n} at ({r}, {co}): got {got}, want {want:?}"
                );
            }
        }
    }

    /// Whether the kernels of `isa` follow a prefetch request.
    fn prefetches(isa: Isa) -> bool {
        crate::kernels::f32::config::for_isa(isa).gemm.prefetches_ahead
    }

    /// A prefetch request runs the sweeps' prefetching tiles (on the paths that have them), which must compute
    /// the same, and is used up as they go; `stop_prefetch_ahead` drops it.
    #[test]
    fn prefetch_ahead_is_consumed_and_changes_no_result() {
        let data = vec![0.0f32; 1 << 16];
        let start = data.as_ptr() as usize;
        for isa in Isa::supported() {
            prefetch_ahead(&data);
            if cfg!(miri) {
                // Miri runs only the portable kernels, which have no prefetching tiles.
                check::<ACT_RELU6>(isa, 9, 17, 20, 17, 20, 9);
                check::<ACT_NONE>(isa, 1, 20, 40, 20, 40, 10);
            } else {
                check::<ACT_RELU6>(isa, 50, 33, 100, 33, 100, 9);
                check::<ACT_NONE>(isa, 40, 300, 40, 300, 40, 10);
                check::<ACT_RELU>(isa, 30, 64, 64, 64, 64, 11);
            }
            let (cursor, end) = AHEAD.get();
            assert_eq!(end, start + 4 * data.len());
            if prefetches(isa) {
                assert!(cursor > start, "the {isa:?} sweeps prefetched nothing");
            } else {
                assert_eq!(cursor, start, "{isa:?} has no prefetching tiles");
            }
        }
        stop_prefetch_ahead();
        assert_eq!(AHEAD.get(), (0, 0));
    }

    #[test]
    fn every_path_matches_reference() {
        for isa in Isa::supported() {
            check::<ACT_NONE>(isa, 1, 1, 1, 1, 1, 1);
            check::<ACT_RELU>(isa, 13, 3, 5, 3, 7, 2);
            if cfg!(miri) {
                // A few thousand multiply-adds each, for the portable kernels' cases: ragged
                // register tiles and a partial panel, with rows of `a` and `c` longer than
                // the product's; one row over groups of four panels and the panels left,
                // the split calls starting a group mid-matrix (panel 6 of 13) or not (4 of
                // 8); more rows than one pass (Miri's `TILE_FLOATS` is 256), ragged.
                check::<ACT_RELU6>(isa, 9, 17, 20, 20, 23, 3);
                check::<ACT_RELU6>(isa, 1, 20, 100, 20, 103, 17);
                check::<ACT_RELU>(isa, 1, 33, 64, 33, 64, 18);
                check::<ACT_RELU6>(isa, 50, 17, 5, 20, 5, 9);
                continue;
            }
            check::<ACT_RELU6>(isa, 25, 27, 32, 27, 32, 3);
            check::<ACT_NONE>(isa, 37, 17, 48, 20, 50, 4);
            check::<ACT_RELU>(isa, 11, 64, 8, 64, 8, 5);
            check::<ACT_RELU6>(isa, 50, 33, 100, 33, 100, 6);
            check::<ACT_RELU>(isa, 7, 300, 17, 300, 17, 7);
            check::<ACT_NONE>(isa, 2, 1024, 1000, 1024, 1000, 8);
            // 64-wide panels on AVX-512 (6-row tiles, a 1-row tail; three passes).
            check::<ACT_RELU6>(isa, 37, 40, 128, 40, 130, 12);
            check::<ACT_RELU>(isa, 2100, 64, 128, 64, 128, 13);
            // 64-wide panels over a reduction in blocks (128 + 128 + 44), and 5-row tiles for
            // a 1-row leftover.
            check::<ACT_RELU6>(isa, 200, 300, 128, 300, 128, 14);
            check::<ACT_NONE>(isa, 25, 64, 64, 64, 64, 15);
            // A 7x7 map (13 + 3 x 12 rows on AVX-512) and a leftover too long to spread
            // (12 + an 8-row tile).
            check::<ACT_RELU6>(isa, 49, 64, 48, 64, 48, 10);
            check::<ACT_NONE>(isa, 20, 40, 16, 40, 16, 11);
            // 8-wide panels on AVX2 (12-row tiles), a 1-row leftover (reduction split in sets,
            // 30 = 7 x 4 + 2) and a 2-row one.
            check::<ACT_RELU6>(isa, 39, 30, 8, 30, 8, 16);
            // More rows than one pass (`pass_rows`).
            check::<ACT_RELU6>(isa, 2100, 65, 40, 65, 40, 9);
            // One row (fc at batch 1): on AVX2 groups of four full panels, then the panels
            // left, a partial one last; the split calls start a group mid-matrix (panel 6 of
            // 13, or of 4).
            check::<ACT_RELU6>(isa, 1, 40, 200, 40, 203, 17);
            check::<ACT_RELU>(isa, 1, 129, 64, 129, 64, 18);
            check::<ACT_NONE>(isa, 1, 256, 1001, 256, 1001, 19);
        }
    }

    /// A clamp that is no activation code (both bounds finite, the lower one negative) on
    /// every path, through the sweeps and the one-row kernels.
    #[test]
    fn any_clamp_on_every_path() {
        let clamp = Clamp { lo: -0.5, hi: 0.75 };
        // Under Miri smaller products, the last in several passes (see `TILE_FLOATS`).
        let shapes: &[_] = if cfg!(miri) {
            &[(9, 17, 20), (1, 20, 100), (20, 30, 9)]
        } else {
            &[(13, 17, 40), (1, 64, 200), (30, 300, 128)]
        };
        for isa in Isa::supported() {
            for &(rows, k, n) in shapes {
                let mut rng = Rng::new(31);
                let a: Vec<f32> = rng.vec(rows * k).iter().map(|v| v * 4.0).collect();
                let w = rng.vec(n * k);
                let bias = rng.vec(n);
                let p = Panels::new(isa, k, n, rows, &|co, ki| w[co * k + ki], &bias);
                let mut c = vec![0.0f32; rows * n];
                // SAFETY: `a` holds `rows` rows of `k`, `c` `rows` rows of `n`, exclusively
                // borrowed.
                unsafe {
                    gemm_raw(
                        clamp,
                        a.as_ptr(),
                        k,
                        c.as_mut_ptr(),
                        n,
                        0..rows,
                        &p,
                        0..p.count(),
                        &p.whole(),
                    )
                };
                let want = testkit::matmul(rows, k, n, k, ACT_NONE, &a, &w, &bias);
                for (i, (&got, want)) in c.iter().zip(&want).enumerate() {
                    let want = testkit::Sum {
                        value: want.value.clamp(clamp.lo as f64, clamp.hi as f64),
                        ..*want
                    };
                    assert!(
                        want.admits(got),
                        "{isa:?} rows={rows} k={k} n={n} at {i}: got {got}, want {want:?}"
                    );
                }
            }
        }
    }
}
