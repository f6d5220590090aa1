//! Portable micro-kernels of the matrix product, in plain Rust that the compiler vectorises
//! for the baseline target (SSE2 on x86-64, NEON on aarch64): a `PB x NB` register block
//! ([`accumulate`]) for the sweeps and [`FB`] panels side by side for one row ([`gemv`]).
//! The configuration every architecture has.

use super::ukernel::{GemmConfig, Gemv, Seg, Sweep};
use crate::kernels::activation::Clamp;

/// Output channels computed together: one packed weight row, one accumulator block, and the
/// width of every portable panel.
///
/// 8 `f32` are two SSE registers (or one AVX register); with `PB` pixels that is 8
/// accumulator registers, which leaves room for the weights and the broadcast input on the
/// baseline x86-64 target without spilling.
pub(crate) const NB: usize = 8;

/// Output pixels computed together, so that every weight load is reused `PB` times.
pub(crate) const PB: usize = 4;

/// Panels of output lanes accumulated together by [`gemv`]. With a single panel every input
/// value adds into the same accumulator, one dependency chain paced by the adder's latency;
/// `FB` panels make `FB` independent chains that hide it.
const FB: usize = 4;

/// `NB` consecutive output channels: one packed weight row, bias block or accumulator.
pub(crate) type Lane = [f32; NB];

/// The portable kernels: `NB`-wide panels, no wide panels, no prefetching.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    nr: NB,
    lanes: NB,
    wide: None,
    sweep,
    gemv: Some(Gemv {
        width: NB,
        panels: FB,
        run: gemv,
    }),
    prefetches_ahead: false,
};

/// The micro-kernel: `acc[p][j] += sum_k rows[p][k] * panel[k][j]` for `P` pixels at once,
/// over `k < panel.len()` (each row must be at least that long).
///
/// `P` and `NB` are compile-time constants, so the accumulators live in registers and each
/// packed weight row is loaded once and used `P` times. Plain multiply-then-add:
/// `f32::mul_add` without the `fma` target feature becomes a slow library call.
///
/// Never inlined on purpose: inlined into its callers, LLVM splits the accumulator array
/// into `P * NB` scalars and fails to re-vectorise them (measured 4-7x slower); behind a
/// call it loads them as vectors. The call costs a few cycles per `panel.len() * P * NB`
/// multiply-adds.
#[inline(never)]
fn accumulate<const P: usize>(acc: &mut [Lane; P], rows: [&[f32]; P], panel: &[Lane]) {
    // Slicing every row to the panel's length up front lets the compiler drop the bounds
    // checks in the loop.
    let rows = rows.map(|row| &row[..panel.len()]);
    for (k, w) in panel.iter().enumerate() {
        for (a, row) in acc.iter_mut().zip(&rows) {
            let x = row[k];
            for (a, &w) in a.iter_mut().zip(w) {
                *a += x * w;
            }
        }
    }
}

/// Writes `c(acc)` into `out` (at most `NB` values: the last panel may be partial), with
/// whether each bound applies given as `LO` and `HI` (see [`Clamp::apply`]).
#[inline(always)]
fn store<const LO: bool, const HI: bool>(acc: &Lane, out: &mut [f32], c: Clamp) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = c.apply::<LO, HI>(a);
    }
}

/// The portable sweep (see [`super::ukernel::SweepFn`]), with which bounds of the clamp
/// apply made constants once per panel.
///
/// # Safety
/// `s.a` readable for `s.rows` rows over every run, `s.c` writable for `s.rows` rows of
/// `s.n`, nothing else accessing them.
unsafe fn sweep(s: &Sweep) {
    // SAFETY: forwarded contract.
    unsafe {
        match (s.clamp.has_lo(), s.clamp.has_hi()) {
            (true, true) => sweep_clamped::<true, true>(s),
            (true, false) => sweep_clamped::<true, false>(s),
            (false, true) => sweep_clamped::<false, true>(s),
            (false, false) => sweep_clamped::<false, false>(s),
        }
    }
}

/// [`sweep`] with the bounds `LO`, `HI` (see [`store`]): `PB` rows at a time, then the
/// leftover rows one by one.
///
/// # Safety
/// As [`sweep`].
unsafe fn sweep_clamped<const LO: bool, const HI: bool>(s: &Sweep) {
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
            store::<LO, HI>(a, out(r + p), s.clamp);
        }
        r += PB;
    }
    for r in r..s.rows {
        let mut acc = [bias];
        for seg in s.segs {
            accumulate(&mut acc, [run(r, seg)], &panel[seg.k0..seg.k0 + seg.len]);
        }
        store::<LO, HI>(&acc[0], out(r), s.clamp);
    }
}

/// `acc[g] += sum_i x[i] * panels[g][i]` for `G` panels side by side.
///
/// Not inlined, for the reason given at [`accumulate`]: inlined, the accumulators can be split
/// into scalars that LLVM does not re-vectorise. `panels` is an array, so the loop over `G`
/// has a constant trip count and unrolls (over a slice of panels, the AVX-512 target
/// vectorised that loop into gathers and scatters, 5x slower).
#[inline(never)]
fn accumulate_panels<const G: usize>(acc: &mut [Lane; G], x: &[f32], panels: [&[Lane]; G]) {
    let panels = panels.map(|p| &p[..x.len()]);
    for (i, &xi) in x.iter().enumerate() {
        for (a, panel) in acc.iter_mut().zip(&panels) {
            for (a, &w) in a.iter_mut().zip(&panel[i]) {
                *a += xi * w;
            }
        }
    }
}

/// The portable [`super::ukernel::GemvFn`]: [`FB`] panels of `NB` channels.
///
/// # Safety
/// As [`super::ukernel::GemvFn`] with `panels = FB`, `width = NB`.
unsafe fn gemv(clamp: Clamp, a: *const f32, w: *const f32, bias: *const f32, k: usize, c: *mut f32) {
    // SAFETY: the caller's contract: `k` inputs, `FB` panels of `NB * k` floats back to back,
    // `FB * NB` bias values and outputs.
    let (x, panels, bias, out) = unsafe {
        (
            std::slice::from_raw_parts(a, k),
            std::array::from_fn(|g| std::slice::from_raw_parts(w.add(g * NB * k).cast::<Lane>(), k)),
            std::slice::from_raw_parts(bias.cast::<Lane>(), FB),
            std::slice::from_raw_parts_mut(c, FB * NB),
        )
    };
    let mut acc: [Lane; FB] = bias.try_into().expect("FB bias lanes");
    accumulate_panels(&mut acc, x, panels);
    for (a, out) in acc.iter().zip(out.chunks_exact_mut(NB)) {
        match (clamp.has_lo(), clamp.has_hi()) {
            (true, true) => store::<true, true>(a, out, clamp),
            (true, false) => store::<true, false>(a, out, clamp),
            (false, true) => store::<false, true>(a, out, clamp),
            (false, false) => store::<false, false>(a, out, clamp),
        }
    }
}
