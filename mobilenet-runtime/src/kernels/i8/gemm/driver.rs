//! The threaded driver of the int8 matrix product behind pointwise and standard convolution
//! and fc: `c[r][co] = requant(bias[co] + sum_k a[r][k] * w[k][co])`, with `a` rows `lda` bytes apart
//! and `c` rows `ldc` bytes apart, over weights packed into [`Panels`].
//!
//! The same for every instruction set: it cuts the product into passes of rows that stay in
//! L2, splits them over a team (by rows, or by panels when a layer has far more output
//! channels than pixels) and calls the sweep of the [`GemmConfig`](super::ukernel::GemmConfig)
//! the panels were packed for.
//!
//! | path | panel `nr` | tile (pixels x channels) |
//! | --- | --- | --- |
//! | AVX-512 VNNI (`avx512_vnni.rs`), byte weights | 32 | 8 x 32 (16 zmm accumulators), quads of steps per `vpdpbusd` |
//! | AVX-VNNI (`avx_vnni.rs`), byte weights | 16 | 6 x 16 (12 ymm accumulators), quads of steps per `vpdpbusd` |
//! | AVX2 (`avx2.rs`) | 16 | 6 x 16 (12 ymm accumulators), pairs of steps per `vpmaddwd` |
//! | portable (`scalar.rs`) | 8 | 4 x 8 |

use super::panels::Panels;
use super::ukernel::{Rows, Sweep};
use crate::kernels::shared_ptr::SharedPtr;
use crate::parallel::Team;
use std::ops::Range;

/// Bytes of `a` processed per pass over the panels (256 KiB): the rows of one pass are re-read
/// once per panel, so they should stay in L2. A product of at most twice that runs as one pass.
const TILE_BYTES: usize = 1 << 18;

/// Below this many multiply-adds a product runs on one thread (waking the team would cost
/// more than the split saves).
pub(crate) const MIN_SPLIT_MADDS: usize = 1 << 19;

/// A product is split by panels only when it has this many times fewer rows than output
/// channels (the 7x7 layers and fc), as the f32 driver does.
const PANEL_SPLIT_RATIO: usize = 8;

/// Rows per part when splitting by rows: a multiple of the register tiles' rows.
const ROW_UNIT: usize = 12;

/// Rows per pass over the panels for a product of `rows` rows and reduction `k`, read as
/// `bytes` bytes per value.
fn pass_rows(rows: usize, k: usize, bytes: usize) -> usize {
    let row = k.max(1) * bytes;
    if rows * row <= 2 * TILE_BYTES {
        rows
    } else {
        (TILE_BYTES / row).max(16)
    }
}

/// The whole product of `rows` rows, split over `team`.
///
/// # Panics
/// If `a` or `c` is too short for the last row.
pub(crate) fn gemm_team(a: &[i8], lda: usize, c: &mut [i8], ldc: usize, rows: usize, p: &Panels, team: &Team) {
    assert!(ldc >= p.n && lda >= p.k);
    if rows == 0 {
        return;
    }
    assert!(a.len() >= (rows - 1) * lda + p.k, "gemm: input too short");
    assert!(c.len() >= (rows - 1) * ldc + p.n, "gemm: output too short");
    let (ap, cp) = (SharedPtr(a.as_ptr().cast_mut()), SharedPtr(c.as_mut_ptr()));
    let madds = rows * p.k * p.n;
    let run = |rows: Range<usize>, panels: Range<usize>| {
        // SAFETY: for every call below, the asserts above cover every row and panel; the
        // splits hand out disjoint rows or panels, so no output is written twice, and `c`
        // stays exclusively borrowed until they return.
        unsafe { gemm_raw(ap.get(), lda, cp.get(), ldc, rows, p, panels) }
    };
    let parts = team.threads();
    if parts == 1 || madds < MIN_SPLIT_MADDS {
        return run(0..rows, 0..p.count());
    }
    if rows * PANEL_SPLIT_RATIO < p.n && p.count() >= 2 * parts {
        team.split(p.count(), 1, madds, &|panels| run(0..rows, panels));
    } else {
        team.split(rows, ROW_UNIT, madds, &|rows| run(rows, 0..p.count()));
    }
}

/// The whole product of `rows` rows on the calling thread.
///
/// # Panics
/// If `a` or `c` is too short for the last row.
pub(crate) fn gemm(a: &[i8], lda: usize, c: &mut [i8], ldc: usize, rows: usize, p: &Panels) {
    assert!(ldc >= p.n && lda >= p.k);
    if rows == 0 {
        return;
    }
    assert!(a.len() >= (rows - 1) * lda + p.k, "gemm: input too short");
    assert!(c.len() >= (rows - 1) * ldc + p.n, "gemm: output too short");
    // SAFETY: the asserts cover every row and panel, and `c` is exclusively borrowed.
    unsafe { gemm_raw(a.as_ptr(), lda, c.as_mut_ptr(), ldc, 0..rows, p, 0..p.count()) }
}

/// Rows `rows` of the product for panels `panels`, on raw pointers so that threads can fill
/// disjoint parts of one output. Not generic: compiled once, with this crate.
///
/// # Safety
/// `a` readable at `r * lda + 0..p.k` and `c` writable at `r * ldc + co` for every row `r` in
/// `rows` and channel `co` of `panels`, nothing else accessing those outputs;
/// `panels.end <= p.count()`.
pub(crate) unsafe fn gemm_raw(
    a: *const i8,
    lda: usize,
    c: *mut i8,
    ldc: usize,
    rows: Range<usize>,
    p: &Panels,
    panels: Range<usize>,
) {
    let pass = pass_rows(rows.len(), p.k, if p.cfg.rows == Rows::Widened { 2 } else { 1 });
    // The pass's rows as the config reads them, prepared once here and then read by every
    // panel's sweep: widened to `i16`, or flipped to `x + 128`, and padded to `kp` with zeros.
    // Only the first `k` values of a row are ever written, so the padding stays zero.
    let mut wide = vec![0i16; if p.cfg.rows == Rows::Widened { pass * p.kp } else { 0 }];
    let mut flipped = vec![0i8; if p.cfg.rows == Rows::Flipped { pass * p.kp } else { 0 }];
    let mut r0 = rows.start;
    while r0 < rows.end {
        let r1 = (r0 + pass).min(rows.end);
        // SAFETY: rows r0..r1 lie in `rows` (the caller's contract); each buffer holds `pass`
        // rows of `kp`.
        unsafe {
            match p.cfg.rows {
                Rows::Bytes => {}
                Rows::Widened => prepare(a, lda, r0..r1, p, &mut wide, |x| x as i16),
                Rows::Flipped => prepare(a, lda, r0..r1, p, &mut flipped, |x| x ^ i8::MIN),
            }
        }
        let (a, lda) = if p.cfg.rows == Rows::Flipped {
            (flipped.as_ptr(), p.kp)
        } else {
            // SAFETY: row r0 lies in `rows`.
            (unsafe { a.add(r0 * lda) }, lda)
        };
        // SAFETY: the caller's contract, for rows r0..r1 of `rows`; `wide` or `flipped` holds
        // them as the config reads them.
        unsafe { sweep_panels(a, lda, wide.as_ptr(), c.add(r0 * ldc), ldc, r1 - r0, p, panels.clone()) };
        r0 = r1;
    }
}

/// Rows `rows` of `a` converted by `f` into `dst`, `kp` apart (the padding left as it is).
///
/// # Safety
/// As [`gemm_raw`] for `a`; `dst` holds at least `rows.len() * kp` values.
unsafe fn prepare<T: Copy>(
    a: *const i8,
    lda: usize,
    rows: Range<usize>,
    p: &Panels,
    dst: &mut [T],
    f: impl Fn(i8) -> T,
) {
    if lda == p.k && p.kp == p.k {
        // Rows back to back and no padding (a pointwise layer of whole vectors): one run.
        let n = rows.len() * p.k;
        // SAFETY: the rows lie in the caller's `rows`, contiguous since `lda == k`.
        let src = unsafe { std::slice::from_raw_parts(a.add(rows.start * lda), n) };
        for (d, &x) in dst[..n].iter_mut().zip(src) {
            *d = f(x);
        }
    } else {
        for (r, dst) in rows.zip(dst.chunks_exact_mut(p.kp)) {
            // SAFETY: row `r` lies in the caller's `rows`, readable for `k` bytes.
            let src = unsafe { std::slice::from_raw_parts(a.add(r * lda), p.k) };
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = f(x);
            }
        }
    }
}

/// A product whose rows come already widened (`kp` values each, zeros past `k`, `kp` apart),
/// for a config that reads them so ([`Panels::widened`]), on the calling thread.
///
/// # Panics
/// If the config reads bytes, or `wide` or `c` is too short for the last row.
pub(crate) fn gemm_widened(wide: &[i16], c: &mut [i8], ldc: usize, rows: usize, p: &Panels) {
    assert!(p.cfg.rows == Rows::Widened && ldc >= p.n);
    if rows == 0 {
        return;
    }
    assert!(wide.len() >= rows * p.kp, "gemm: input too short");
    assert!(c.len() >= (rows - 1) * ldc + p.n, "gemm: output too short");
    // SAFETY: the asserts cover every row and panel, `c` is exclusively borrowed, and a
    // widened config reads `wide`, not `a`.
    unsafe {
        sweep_panels(
            std::ptr::null(),
            0,
            wide.as_ptr(),
            c.as_mut_ptr(),
            ldc,
            rows,
            p,
            0..p.count(),
        );
    }
}

/// Every panel of `panels` over `rows` rows from row 0 at `a` (or, widened, at `wide`).
///
/// # Safety
/// As [`gemm_raw`], for rows `0..rows` at `a` and `c`; for a widened config `wide` readable
/// for `rows * kp` values holding those rows, and `a` not read (it may be null).
#[allow(clippy::too_many_arguments)]
unsafe fn sweep_panels(
    a: *const i8,
    lda: usize,
    wide: *const i16,
    c: *mut i8,
    ldc: usize,
    rows: usize,
    p: &Panels,
    panels: Range<usize>,
) {
    for b in panels {
        let (w, bias, rq) = p.panel(b);
        let sweep = Sweep {
            a,
            lda,
            // SAFETY: channel `b * nr` of row 0, inside the caller's contract.
            c: unsafe { c.add(b * p.nr) },
            ldc,
            rows,
            k: p.k,
            wide: if p.cfg.rows == Rows::Widened {
                wide
            } else {
                std::ptr::null()
            },
            w,
            bias,
            rq,
            n: (p.n - b * p.nr).min(p.width(b)),
        };
        // SAFETY: `Panels::new` packs only for a path this CPU runs, in the layout of its
        // config; the sweep's pointers are valid per the caller's contract.
        unsafe { (p.cfg.sweep)(&sweep) }
    }
}
