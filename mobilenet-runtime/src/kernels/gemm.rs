//! The matrix product behind pointwise convolution (and the first convolution and fc):
//! `c[r][co] = act(bias[co] + sum_k a[r][k] * w[k][co])`, with `a` rows `lda` floats apart and
//! `c` rows `ldc` floats apart.
//!
//! Weights are packed once, at load time, into column panels for one [`Isa`]: panel `b` holds
//! output channels `b * nr ..` as `[k][width]` with `width = nr` except for the last panel,
//! which is only as wide as its channels rounded up to one vector (so a 16-channel layer on
//! AVX-512 does not compute a zero-padded 32-channel panel). The micro-kernels keep an
//! `MR x width` block of `c` in registers for the whole reduction: per `k` they load one
//! weight row (one or two vectors) and broadcast `MR` inputs, `MR * width / lanes` FMAs.
//!
//! | path | panel `nr` | tile (`MR` pixels x channels) | accumulators |
//! | --- | --- | --- | --- |
//! | AVX-512 ([`super::gemm_avx512`]) | 32 | 12 or 13 x 32 (2 zmm) | 24 or 26 of 32 zmm |
//! | AVX-512, `k <= 128` and `n` a multiple of 64 | 64 | 6 x 64 (4 zmm) | 24 of 32 zmm |
//! | AVX2+FMA ([`super::gemm_avx2`]) | 16 | 6 x 16 (2 ymm); 12 x 8 on an 8-wide panel | 12 of 16 ymm |
//! | portable ([`super::pointwise::accumulate`]) | 8 | 4 x 8 | compiler's choice |

use super::isa::Isa;
use super::pointwise::{accumulate, store, Lane, NB, PB};
use crate::aligned::AlignedBuf;
use crate::parallel::{pieces_for, share, Team};
use crate::{ACT_NONE, ACT_RELU, ACT_RELU6};
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
/// A product of at most twice as many floats runs as one pass (see [`pass_rows`]).
pub(crate) const TILE_FLOATS: usize = 1 << 16;

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

/// Usual panel width and vector width (in floats) of a path (see also [`panel_width`]).
pub(crate) const fn geometry(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx512 => (32, 16),
        Isa::Avx2 => (16, 8),
        Isa::Portable => (NB, NB),
    }
}

/// Width of the panels (but the last) of a `k x n` product of about `rows` rows on `isa`.
///
/// On AVX-512, 64 when every panel can be that wide and either the reduction is short or the
/// product has at least [`WIDE_MIN_ROWS`] rows. A 6 x 64 tile loads 10 values per 24 FMAs
/// where a 12 x 32 tile loads 14; a 64-wide panel of `k <= 128` rows (at most 32 KiB) stays
/// in L1 while the tiles of a pass sweep it, and longer ones are swept in blocks of [`KC`]
/// rows that do. Measured in the network against 32-wide panels, layer by layer: faster on
/// every map from 10x10 up, level on 7x7, and slower on 5x5 and 4x4 maps with long
/// reductions, where each block of weights serves too few rows.
fn panel_width(isa: Isa, k: usize, n: usize, rows: usize) -> usize {
    match isa {
        Isa::Avx512 if n.is_multiple_of(64) && (k <= KC || rows >= WIDE_MIN_ROWS) => 64,
        _ => geometry(isa).0,
    }
}

/// Fewest rows for 64-wide panels with reductions longer than [`KC`] (see [`panel_width`]).
const WIDE_MIN_ROWS: usize = 64;

/// Weights and bias packed into panels for one [`Isa`]; see the module docs.
#[derive(Clone)]
pub(crate) struct Panels {
    isa: Isa,
    /// Reduction length.
    k: usize,
    /// Output channels.
    n: usize,
    /// Width of every panel but the last.
    nr: usize,
    /// The panels back to back, from a 64-byte boundary so that every weight row load is
    /// aligned.
    data: AlignedBuf,
    /// `n` values zero-padded to `panels() * nr`, so a panel's bias loads whole vectors.
    bias: Vec<f32>,
}

impl Panels {
    /// Packs `n` output channels of reduction length `k` for `isa`, for products of about
    /// `rows` rows (0 if not known): `at(co, ki)` gives the weight of channel `co` at reduction
    /// index `ki`.
    pub(crate) fn new(
        isa: Isa,
        k: usize,
        n: usize,
        rows: usize,
        at: &dyn Fn(usize, usize) -> f32,
        bias: &[f32],
    ) -> Self {
        assert!(isa.is_supported(), "{isa:?} kernels on a CPU without them");
        let nr = panel_width(isa, k, n, rows);

        let count = n.div_ceil(nr);
        let mut p = Panels {
            isa,
            k,
            n,
            nr,
            data: AlignedBuf::default(),
            bias: vec![0.0; count * nr],
        };
        let len = (0..count).map(|b| p.width(b) * k).sum::<usize>();
        p.data = AlignedBuf::zeroed(len);
        for b in 0..count {
            let (off, width) = (p.offset(b), p.width(b));
            for ki in 0..k {
                for j in 0..width {
                    let co = b * nr + j;
                    if co < n {
                        p.data[off + ki * width + j] = at(co, ki);
                    }
                }
            }
        }
        p.bias[..n].copy_from_slice(bias);
        p
    }

    /// The path these panels are laid out for.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Number of panels.
    pub(crate) fn count(&self) -> usize {
        self.n.div_ceil(self.nr)
    }

    /// Width in floats of panel `b`: `nr`, or for the last panel its channels rounded up to
    /// one vector.
    fn width(&self, b: usize) -> usize {
        let (_, v) = geometry(self.isa);
        (self.n - b * self.nr).next_multiple_of(v).min(self.nr)
    }

    /// Float offset of panel `b` in `data`; all earlier panels are full width.
    fn offset(&self, b: usize) -> usize {
        b * self.nr * self.k
    }

    /// Weight `(co, ki)`, as given to [`Panels::new`].
    pub(crate) fn weight(&self, co: usize, ki: usize) -> f32 {
        let b = co / self.nr;
        self.data[self.offset(b) + ki * self.width(b) + co % self.nr]
    }

    /// The portable layout as `NB`-wide lanes: `([count][k] panel rows, [count] bias)`.
    ///
    /// # Panics
    /// If the panels are not packed for [`Isa::Portable`].
    pub(crate) fn lanes(&self) -> (&[Lane], &[Lane]) {
        assert_eq!(self.isa, Isa::Portable, "lanes() is the portable layout");
        let len = self.count() * NB * self.k;
        (self.data[..len].as_chunks::<NB>().0, self.bias.as_chunks::<NB>().0)
    }

    /// The whole reduction as one run: what a plain matrix product reads.
    pub(crate) fn whole(&self) -> [Seg; 1] {
        [Seg {
            a: 0,
            k0: 0,
            len: self.k,
        }]
    }

    /// All panels, back to back.
    pub(crate) fn packed(&self) -> &[f32] {
        &self.data
    }

    /// The bias, as given to [`Panels::new`].
    pub(crate) fn bias(&self) -> &[f32] {
        &self.bias[..self.n]
    }
}

/// One contiguous run of the reduction: `len` steps reading `a` at `row + a + j` against
/// weight rows `k0 + j` (`j < len`). A pointwise layer is one run over all of `k`; a KxK
/// convolution reads each row of its window as one run, straight from the input image, so it
/// needs no im2col copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    /// Float offset from the start of a row of `a`.
    pub a: usize,
    /// First weight row (reduction index).
    pub k0: usize,
    pub len: usize,
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
    unsafe { gemm_raw(ACT, a.as_ptr(), lda, c.as_mut_ptr(), ldc, rows, p, panels, &p.whole()) }
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
    if by_panels {
        // SAFETY (all three arms): the asserts above cover every row and panel; the split
        // hands out disjoint blocks of rows or panels, so no element of `c` is written twice,
        // and `c` stays exclusively borrowed until the split returns.
        team.split(p.count(), 1, madds, &|panels| unsafe {
            gemm_raw(ACT, a.get(), lda, c.get(), ldc, 0..rows, p, panels, &whole)
        });
    } else if p.k * p.n <= ROW_PIECES_MAX_WEIGHTS {
        team.split(rows, ROW_UNIT, madds, &|rows| unsafe {
            gemm_raw(ACT, a.get(), lda, c.get(), ldc, rows, p, 0..p.count(), &whole)
        });
    } else {
        // Pieces of a part's rows would each stream all the weights again: cut its panels
        // instead, so that each weight is still read once per part.
        let pieces = pieces_for(madds, parts, p.count());
        team.run_pieces(pieces, &|part, piece| {
            let rows = share(rows, ROW_UNIT, parts, part);
            let panels = share(p.count(), 1, pieces, piece);
            // SAFETY: as above.
            unsafe { gemm_raw(ACT, a.get(), lda, c.get(), ldc, rows, p, panels, &whole) }
        });
    }
}

/// Below this many multiply-adds (about 4 us of one core) a layer runs on one thread: waking
/// the team and waiting for it would cost more than the split saves.
pub(crate) const MIN_SPLIT_MADDS: usize = 1 << 19;

/// A layer is split by panels only when it has this many times fewer rows than output
/// channels (the 7x7 layers: 49 pixels, 1024 channels). Splitting by rows keeps each thread
/// on the pixels it computed in the layer before, in its own cache; a panel split makes every
/// thread read the whole input, half of it from the other core's cache, and the next layer
/// read half of its input from there again, which costs more than sharing the weight stream
/// saves unless the weights dwarf the map.
const PANEL_SPLIT_RATIO: usize = 8;

/// Largest weight matrix (floats) of a row-split product whose parts are cut into pieces of
/// rows; each piece streams all the weights, which are then at most 256 KiB and stay in L2.
const ROW_PIECES_MAX_WEIGHTS: usize = 1 << 16;

/// Rows per part when splitting by rows: a multiple of every path's register tile (12, 6, 4),
/// so that no part ends on a ragged tile that another part could have filled.
const ROW_UNIT: usize = 12;

/// A pointer that the parts of one [`Team::run`] share; each part touches only its own
/// elements.
#[derive(Clone, Copy)]
pub(crate) struct SharedPtr(pub *mut f32);
// SAFETY: used only to hand disjoint parts of one buffer to the threads of one `Team::run`,
// which returns only after every part is done.
unsafe impl Sync for SharedPtr {}
// SAFETY: as above.
unsafe impl Send for SharedPtr {}
impl SharedPtr {
    /// The pointer. A method, so that closures capture the `Sync` wrapper, not the field.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// [`gemm`] on raw pointers, so that threads can fill disjoint rows or panels (column
/// blocks) of one output, with the reduction given as runs `segs` (see [`Seg`]) and the
/// activation `act` as a value.
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
    act: u8,
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
    #[cfg(x86_simd)]
    let panels = if p.isa == Isa::Avx2 && rows.len() == 1 && segs.len() == 1 && segs[0].len == p.k {
        // SAFETY: one row, the whole reduction: the caller's contract covers every panel.
        unsafe {
            gemv_avx2(
                act,
                a.add(rows.start * lda + segs[0].a),
                c.add(rows.start * ldc),
                p,
                panels,
            )
        }
    } else {
        panels
    };
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
            // A 64-wide panel over a long reduction is swept in blocks of `KC` weight rows that
            // stay in L1 (see `panel_width`); the partial sums wait in `c`.
            let whole = segs.len() == 1 && segs[0].len == p.k;
            let blocks = if p.nr == 64 && p.k > KC && whole {
                p.k.div_ceil(KC)
            } else {
                1
            };
            for block in 0..blocks {
                let k0 = block * KC;
                let part = [Seg {
                    a: segs.first().map_or(0, |s| s.a) + k0,
                    k0,
                    len: KC.min(p.k - k0),
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
                    act: if block + 1 == blocks { act } else { ACT_NONE },
                };
                match p.isa {
                    #[cfg(x86_simd)]
                    // SAFETY: `Panels::new` only packs for a supported path, so the CPU has AVX-512F.
                    Isa::Avx512 => unsafe { super::gemm_avx512::sweep(&sweep) },
                    #[cfg(x86_simd)]
                    // SAFETY: as above, the CPU has AVX2 and FMA.
                    Isa::Avx2 => unsafe { super::gemm_avx2::sweep(&sweep) },
                    // SAFETY: the sweep's pointers are valid per the caller's contract.
                    _ => unsafe {
                        match act {
                            ACT_RELU => sweep_portable::<ACT_RELU>(&sweep),
                            ACT_RELU6 => sweep_portable::<ACT_RELU6>(&sweep),
                            _ => sweep_portable::<ACT_NONE>(&sweep),
                        }
                    },
                }
            }
        }
        r0 = r1;
    }
    AHEAD.set(ahead.get());
}

/// Full 16-wide panels run this many at a time by [`gemv_avx2`].
#[cfg(x86_simd)]
const GEMV_PANELS: usize = 4;

/// One row `a` (the whole reduction) against the leading panels of `panels` on AVX2,
/// [`GEMV_PANELS`] full panels at a time (see `gemm_avx2::gemv`), into `c` (the row's output,
/// channel 0); returns the panels left for the sweeps: a last group of fewer, or a partial
/// last panel.
///
/// # Safety
/// The CPU must support AVX2 and FMA (`p` was packed for it); `a` readable for `p.k` floats,
/// `c` writable at every channel of `panels`, nothing else accessing those.
#[cfg(x86_simd)]
unsafe fn gemv_avx2(act: u8, a: *const f32, c: *mut f32, p: &Panels, mut panels: Range<usize>) -> Range<usize> {
    const W: usize = super::gemm_avx2::GEMV_WIDTH;
    if p.nr != W {
        return panels;
    }
    while panels.start + GEMV_PANELS <= panels.end && (panels.start + GEMV_PANELS) * W <= p.n {
        let b = panels.start;
        // SAFETY: panels `b .. b + GEMV_PANELS` are full (all `W` channels below `p.n`) and
        // lie back to back from `p.offset(b)`, `W * p.k` floats each; their bias is `W` per
        // panel; the rest is the caller's contract.
        unsafe {
            super::gemm_avx2::gemv::<GEMV_PANELS>(
                act,
                a,
                p.data.as_ptr().add(p.offset(b)),
                p.bias.as_ptr().add(b * W),
                p.k,
                c.add(b * W),
            );
        }
        panels.start += GEMV_PANELS;
    }
    panels
}

/// One panel over a block of rows: what every path's `sweep` computes.
///
/// The SIMD sweeps prefetch, during their first register tile, the same weight rows of the
/// next panel (the panels lie back to back), so that a layer whose weights do not fit in L2
/// streams them from memory while it computes instead of stalling at every panel's start.
// Only the SIMD sweeps read every field.
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(crate) struct Sweep<'a> {
    /// First row of `a`.
    pub a: *const f32,
    pub lda: usize,
    /// Row 0, channel 0 of the panel in `c`.
    pub c: *mut f32,
    pub ldc: usize,
    pub rows: usize,
    /// Full reduction length (weight rows of the panel).
    pub k: usize,
    /// The runs of the reduction this call computes.
    pub segs: &'a [Seg],
    /// The panel, `[k][width]`.
    pub w: &'a [f32],
    /// `width` bias values, zero-padded.
    pub bias: &'a [f32],
    /// Channels to store, `<= width`.
    pub n: usize,
    /// What is left of this thread's [`prefetch_ahead`] request, `(cursor, end)` addresses;
    /// sweeps that prefetch advance the cursor.
    pub ahead: &'a Cell<(usize, usize)>,
    /// Start from the partial sums in `c` instead of the bias (a later block of a reduction
    /// split in blocks; only 64-wide AVX-512 panels are).
    pub from_c: bool,
    /// The activation to apply before the store ([`crate::ACT_RELU`], ...); none on a block
    /// of a split reduction before the last.
    pub act: u8,
}

/// Reduction rows per block when sweeping a 64-wide panel: 32 KiB of weights, which stay in L1
/// while every tile of a pass runs over them (see [`panel_width`]).
const KC: usize = 128;

/// The portable sweep: the original `PB x NB` micro-kernel.
///
/// # Safety
/// `s.a` readable for `s.rows` rows of `s.k`, `s.c` writable for `s.rows` rows of `s.n`.
unsafe fn sweep_portable<const ACT: u8>(s: &Sweep) {
    let (panel, _) = s.w.as_chunks::<NB>();
    let bias: Lane = s.bias.try_into().expect("portable panels are NB wide");
    // SAFETY: per the contract, row `r` of `a` is readable over every run and row `r` of `c`
    // has `n` writable floats that nobody else touches during the call.
    let run = |r: usize, seg: &Seg| unsafe { std::slice::from_raw_parts(s.a.add(r * s.lda + seg.a), seg.len) };
    // SAFETY: as above.
    let out = |r: usize| unsafe { std::slice::from_raw_parts_mut(s.c.add(r * s.ldc), s.n) };
    let mut r = 0;
    while r + PB <= s.rows {
        let mut acc = [bias; PB];
        for seg in s.segs {
            accumulate(
                &mut acc,
                std::array::from_fn(|p| run(r + p, seg)),
                &panel[seg.k0..seg.k0 + seg.len],
            );
        }
        for (p, a) in acc.iter().enumerate() {
            store::<ACT>(a, out(r + p));
        }
        r += PB;
    }
    for r in r..s.rows {
        let mut acc = [bias];
        for seg in s.segs {
            accumulate(&mut acc, [run(r, seg)], &panel[seg.k0..seg.k0 + seg.len]);
        }
        store::<ACT>(&acc[0], out(r));
    }
}

#[cfg(test)]
mod tests {
    use super::super::pointwise::tests::{Rng, Sum};
    use super::*;
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
                let mut s = Sum::new(bias[co]);
                for ki in 0..k {
                    s.add(a[r * lda + ki], w[co * k + ki]);
                }
                let want = s.activated(ACT);
                assert!(
                    want.admits(got),
                    "{isa:?} rows={rows} k={k} n={n} at ({r}, {co}): got {got}, want {want:?}"
                );
            }
        }
    }

    /// A prefetch request runs the sweeps' prefetching tiles (on AVX-512), which must compute
    /// the same, and is used up as they go; `stop_prefetch_ahead` drops it.
    #[test]
    fn prefetch_ahead_is_consumed_and_changes_no_result() {
        let data = vec![0.0f32; 1 << 16];
        let start = data.as_ptr() as usize;
        for isa in Isa::supported() {
            prefetch_ahead(&data);
            check::<ACT_RELU6>(isa, 50, 33, 100, 33, 100, 9);
            check::<ACT_NONE>(isa, 40, 300, 40, 300, 40, 10);
            check::<ACT_RELU>(isa, 30, 64, 64, 64, 64, 11);
            let (cursor, end) = AHEAD.get();
            assert_eq!(end, start + 4 * data.len());
            if isa == Isa::Avx512 {
                assert!(cursor > start, "the AVX-512 sweeps prefetched nothing");
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
}
