//! Depthwise 3x3 convolution vectorised across channels: AVX-512 (16 lanes) and AVX2+FMA
//! (8 lanes), any stride, top/left padding 0 or 1 (bottom/right implied), NHWC.
//!
//! The work is register-blocked: a group computes `R` output rows x `P` output pixels of one
//! block of `L` channels with `R * P` independent accumulators, so the FMA units see many
//! dependency chains instead of one serial 9-FMA chain, and every input vector is loaded once
//! per group and fed to each output it belongs to (at stride 1 up to 3 x 3 of them), which
//! keeps loads well under the FMA rate and divides the input traffic from L2.
//!
//! Loop order: a pass of `R` output rows (1 on the top/bottom border rows), then chunks of
//! `K` channel blocks, then groups along the row, then the blocks of the chunk. Sweeping a
//! chunk's blocks inside each group walks memory nearly in address order (prefetch friendly,
//! unlike a whole-row sweep per 16-channel block), while the chunk is small enough that the
//! input columns a group shares with the next one are still in L1. Each block's 9 weights
//! and bias are reloaded per group from L1, a small cost next to the group's `9 * R * P`
//! FMAs. Output lines are prefetched for writing a few pixels ahead: the output is usually
//! not cached, and stores that miss otherwise fill the store buffer and stall the loop.
//!
//! Row and column offsets are const generics wherever they decide control flow: the stride
//! (1 and 2; others run generically), the group size, the valid kernel rows of a border row
//! (`NR`) and the padded columns of a border pixel (`JLO`, `JCUT`), so every tap loop
//! unrolls fully and skipped taps cost nothing. On AVX2 the channel counts of widths 0.25,
//! 0.5 and 1.0 (8 to 1024) are constants too (`FIXED_C`): a group's offsets become immediates
//! and a single block keeps its weights in registers. Full channel blocks run unmasked; a channel
//! count that is not a multiple of `L` finishes with one masked block (`MASKED`), so the hot
//! loop never branches on the lane count.
//!
//! One body, two instruction sets: [`simd_depthwise!`] expands the algorithm into a module of
//! the instruction set's file (`avx2.rs`, `avx512.rs`) over that file's handful of vector
//! operations, so both paths stay identical.

#![cfg(x86_simd)]

/// Output pixels ahead of the current group whose lines are prefetched (measured against 16).
pub(crate) const PFW: usize = 8;

/// Prefetches the cache line at `p` into L1 ahead of the store to it (as PREFETCHT0 without
/// the PRFCHW feature; the line arrives exclusive when no other core holds it). Any address
/// is fine: prefetches never fault and change no memory.
#[inline(always)]
pub(crate) fn prefetchw(p: *mut f32) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
    // SAFETY: SSE is part of x86-64, and a prefetch neither faults nor changes memory.
    unsafe { _mm_prefetch::<{ _MM_HINT_ET0 }>(p as *const i8) }
}

/// Expands the kernel into a module `$isa` of the invoking file, over the vector operations
/// of its sibling module `$ops` (`V`, `L`, `ld`, `fma`, ...), compiled with `$feature`.
macro_rules! simd_depthwise {
    ($isa:ident, $ops:ident, $feature:literal) => {
        pub(crate) mod $isa {
            use super::$ops::*;
            use crate::kernels::activation::Clamp;
            use crate::kernels::f32::depthwise::ukernel::Shape;

            /// Output rows `rows` of a depthwise 3x3 convolution; see the module docs.
            ///
            /// # Safety
            /// The CPU must support this path. `input` must be readable for `h * w * c` floats,
            /// `weight` for `9 * c` (tap-major `[3][3][c]`), `bias` for `c`, and `output`
            /// writable for output rows `rows` (`ow * c` floats each) with nothing else
            /// accessing them during the call.
            #[target_feature(enable = $feature)]
            pub(crate) unsafe fn run(
                input: *const f32,
                weight: *const f32,
                bias: *const f32,
                output: *mut f32,
                sh: Shape,
                rows: std::ops::Range<usize>,
            ) {
                // SAFETY: the caller's contract, passed on unchanged.
                unsafe {
                    let args = (input, weight, bias, output, sh, rows);
                    match sh.s {
                        1 => run_fixed::<1>(args),
                        2 => run_fixed::<2>(args),
                        _ => run_s::<0, 0>(args),
                    }
                }
            }

            /// The arguments of [`run`].
            type Args = (
                *const f32,
                *const f32,
                *const f32,
                *mut f32,
                Shape,
                std::ops::Range<usize>,
            );

            /// [`run_s`] at stride `S`, with the channel count a constant when it is one of
            /// `FIXED_C`. The choice is made here, where the stride is known, so that only
            /// the interior passes of strides 1 and 2 get a copy of the sweeps per entry: a
            /// const condition deeper down would still have every pass instantiate them all.
            ///
            /// # Safety
            /// As [`run`], with `sh.s == S`.
            #[target_feature(enable = $feature)]
            unsafe fn run_fixed<const S: usize>(args: Args) {
                // SAFETY: the caller's contract, passed on unchanged.
                unsafe {
                    match args.4.c {
                        n if n == FIXED_C[0] => run_s::<S, { FIXED_C[0] }>(args),
                        n if n == FIXED_C[1] => run_s::<S, { FIXED_C[1] }>(args),
                        n if n == FIXED_C[2] => run_s::<S, { FIXED_C[2] }>(args),
                        n if n == FIXED_C[3] => run_s::<S, { FIXED_C[3] }>(args),
                        n if n == FIXED_C[4] => run_s::<S, { FIXED_C[4] }>(args),
                        n if n == FIXED_C[5] => run_s::<S, { FIXED_C[5] }>(args),
                        n if n == FIXED_C[6] => run_s::<S, { FIXED_C[6] }>(args),
                        n if n == FIXED_C[7] => run_s::<S, { FIXED_C[7] }>(args),
                        _ => run_s::<S, 0>(args),
                    }
                }
            }

            /// [`run`] with the stride as the constant `S` (or `sh.s` when `S == 0`), so the
            /// column offsets inside a group are known to the compiler, and the interior
            /// passes at `CC` channels (or `sh.c` when `CC == 0`).
            ///
            /// # Safety
            /// As [`run`], with `sh.c == CC` unless `CC == 0`.
            #[target_feature(enable = $feature)]
            unsafe fn run_s<const S: usize, const CC: usize>((input, weight, bias, output, sh, rows): Args) {
                let s = if S == 0 { sh.s } else { S };
                let xs = crate::kernels::geometry::interior(sh.w, sh.ow, 3, s, sh.pl);
                let (y_lo, y_hi) = crate::kernels::geometry::interior(sh.h, rows.end, 3, s, sh.pt);
                let mut oy = rows.start;
                while oy < rows.end {
                    let (ky0, ky1) = Shape::taps(oy, sh.h, s, sh.pt);
                    let iy = oy * s + ky0 - sh.pt;
                    // SAFETY: `taps`/`interior` keep the input rows read inside the input;
                    // weight row `ky0` and output rows `oy..oy + R` (`<= rows.end`) are in
                    // bounds by the caller's contract.
                    unsafe {
                        let r = input.add(iy * sh.w * sh.c);
                        let w = weight.add(ky0 * 3 * sh.c);
                        let out = output.add(oy * sh.ow * sh.c);
                        if oy >= y_lo && oy + R <= y_hi {
                            pass::<R, 3, S, CC>(r, w, bias, out, sh, xs);
                            oy += R;
                            continue;
                        }
                        match ky1 - ky0 {
                            3 => pass::<1, 3, S, 0>(r, w, bias, out, sh, xs),
                            2 => pass::<1, 2, S, 0>(r, w, bias, out, sh, xs),
                            _ => pass::<1, 1, S, 0>(r, w, bias, out, sh, xs),
                        }
                    }
                    oy += 1;
                }
            }

            /// `RO` output rows from `out`, each with taps over `NR` input rows, the first
            /// output row's starting at `r` (weights from kernel row `w`), in chunks of `K`
            /// channel blocks: full blocks, then the masked remainder; or, when `CC != 0`,
            /// chunks of all `CC` channels with that count a constant.
            ///
            /// # Safety
            /// As [`run`], with `r` the first valid input row, `w` its kernel row, and
            /// `sh.c == CC` unless `CC == 0`.
            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn pass<const RO: usize, const NR: usize, const S: usize, const CC: usize>(
                r: *const f32,
                w: *const f32,
                bias: *const f32,
                out: *mut f32,
                sh: Shape,
                xs: (usize, usize),
            ) {
                // Every count of `FIXED_C` is whole blocks, so with `CC != 0` there is no
                // masked remainder and the condition below folds away.
                let c = if CC == 0 { sh.c } else { CC };
                let full = c / L * L;
                // SAFETY: every chunk covers whole blocks below `full`, or the masked
                // remainder, which touches only channels below `c`.
                unsafe {
                    let mut c0 = 0;
                    while c0 < full {
                        let c1 = (c0 + K * L).min(full);
                        sweep::<RO, NR, S, false, CC>(r, w, bias, out, sh, xs, (c0, c1), mask(L));
                        c0 = c1;
                    }
                    if full < c {
                        let m = mask(c - full);
                        sweep::<RO, NR, S, true, 0>(r, w, bias, out, sh, xs, (full, full + L), m);
                    }
                }
            }

            /// Channels `c0..c1` (whole blocks) of a pass: interior columns `xs` in groups of
            /// `P` (of 2 at strides other than 1 above `P_STRIDED_MAX_C` channels), then
            /// narrower groups, each group over all blocks of the chunk. A border column whose
            /// window misses one column of input joins the first or last group; other border
            /// columns run one pixel at a time.
            ///
            /// `CC` is the channel count when it is one of `FIXED_C` (then `cs` covers all of
            /// them), or 0.
            ///
            /// # Safety
            /// As [`pass`], with `m` covering only channels below `c` when `MASKED` (then
            /// `c1 = c0 + L`).
            #[target_feature(enable = $feature)]
            #[inline]
            #[allow(clippy::too_many_arguments)]
            unsafe fn sweep<const RO: usize, const NR: usize, const S: usize, const MASKED: bool, const CC: usize>(
                r: *const f32,
                w: *const f32,
                bias: *const f32,
                out: *mut f32,
                sh: Shape,
                (x_lo, x_hi): (usize, usize),
                cs: (usize, usize),
                m: Mask,
            ) {
                let s = if S == 0 { sh.s } else { S };
                let c = if CC == 0 { sh.c } else { CC };
                // SAFETY: interior windows lie inside the input (`interior`); a border group
                // starts at its window's first column, possibly one left of the input, which it
                // never reads.
                unsafe {
                    // A single block's weights and bias stay in registers for the whole sweep
                    // (9 + 1 of 16 on AVX2, with the 6 accumulators and the input vector)
                    // instead of being reloaded per group.
                    let pre: ([[V; 3]; NR], V) = if CC == L {
                        (
                            std::array::from_fn(|ky| {
                                std::array::from_fn(|kx| ld::<MASKED>(w.add((ky * 3 + kx) * c), m))
                            }),
                            ld::<MASKED>(bias, m),
                        )
                    } else {
                        ([[zero(); 3]; NR], zero())
                    };
                    let at = |ox: usize| r.wrapping_add(ox * s * c).wrapping_sub(sh.pl * c);
                    let edge = |ox: usize| {
                        let (kx0, kx1) = Shape::taps(ox, sh.w, s, sh.pl);
                        let o = out.add(ox * c);
                        match (kx0, kx1) {
                            (1, 3) => blocks::<1, RO, NR, S, MASKED, 1, 0, CC>(w, bias, &pre, at(ox), o, sh, cs, m),
                            (0, 2) => blocks::<1, RO, NR, S, MASKED, 0, 1, CC>(w, bias, &pre, at(ox), o, sh, cs, m),
                            _ => {
                                let p = r.add((ox * s + kx0 - sh.pl) * c);
                                for c0 in (cs.0..cs.1).step_by(L) {
                                    let b = ld::<MASKED>(bias.add(c0), m);
                                    for ro in 0..RO {
                                        let mut acc = b;
                                        for ky in 0..NR {
                                            for kx in kx0..kx1 {
                                                let x = p.add((ro * s + ky) * sh.w * c + (kx - kx0) * c + c0);
                                                let wt = w.add((ky * 3 + kx) * c + c0);
                                                acc = fma(ld::<MASKED>(x, m), ld::<MASKED>(wt, m), acc);
                                            }
                                        }
                                        st::<MASKED>(o.add(ro * sh.ow * c + c0), act(sh.clamp, acc), m);
                                    }
                                }
                            }
                        }
                    };
                    let wide = S == 1 || c <= P_STRIDED_MAX_C;
                    let q = if wide { P } else { 2 };
                    // A border pixel whose window hangs one column over the padding joins the
                    // group next to it (its missing column skipped) instead of running alone
                    // on a third of the accumulators: on narrow maps the two border columns
                    // are a large share of the work. Against border pixels alone, AVX2, in
                    // the network (A/B in one process): 14x14x512 2-8% faster, 10x10x256
                    // 18-21%, 8x8x128 7-11%, 7x7x1024 17%, 5x5x512 27%, 4x4x256 34%; 1%
                    // of the whole pass at 1.0-224 and 0.25-128.
                    // Only unmasked blocks at strides 1 and 2 join: the others are rare, and
                    // each joined group is another copy of the kernel in every binary.
                    let join = !MASKED && (S == 1 || S == 2);
                    let mut ox = if join && x_lo == 1 && x_hi >= q && Shape::taps(0, sh.w, s, sh.pl) == (1, 3) {
                        if wide {
                            blocks::<P, RO, NR, S, MASKED, 1, 0, CC>(w, bias, &pre, at(0), out, sh, cs, m);
                        } else {
                            blocks::<2, RO, NR, S, MASKED, 1, 0, CC>(w, bias, &pre, at(0), out, sh, cs, m);
                        }
                        q
                    } else {
                        (0..x_lo).for_each(edge);
                        x_lo
                    };
                    if wide {
                        while ox + P <= x_hi {
                            blocks::<P, RO, NR, S, MASKED, 0, 0, CC>(w, bias, &pre, at(ox), out.add(ox * c), sh, cs, m);
                            ox += P;
                        }
                    }
                    let right = x_hi.max(ox);
                    if join
                        && right + 1 == sh.ow
                        && right - ox < q.min(3)
                        && Shape::taps(right, sh.w, s, sh.pl) == (0, 2)
                    {
                        let o = out.add(ox * c);
                        match right - ox {
                            0 => blocks::<1, RO, NR, S, MASKED, 0, 1, CC>(w, bias, &pre, at(ox), o, sh, cs, m),
                            1 => blocks::<2, RO, NR, S, MASKED, 0, 1, CC>(w, bias, &pre, at(ox), o, sh, cs, m),
                            _ => blocks::<3, RO, NR, S, MASKED, 0, 1, CC>(w, bias, &pre, at(ox), o, sh, cs, m),
                        }
                        return;
                    }
                    while ox + 2 <= x_hi {
                        blocks::<2, RO, NR, S, MASKED, 0, 0, CC>(w, bias, &pre, at(ox), out.add(ox * c), sh, cs, m);
                        ox += 2;
                    }
                    if ox < x_hi {
                        blocks::<1, RO, NR, S, MASKED, 0, 0, CC>(w, bias, &pre, at(ox), out.add(ox * c), sh, cs, m);
                    }
                    for ox in x_hi.max(ox)..sh.ow {
                        edge(ox);
                    }
                }
            }

            /// [`group`] for every block of channels `cs`, with that block's weights (`pre`
            /// when the channels are a single block, `CC == L`).
            ///
            /// # Safety
            /// As [`group`], for every block.
            #[target_feature(enable = $feature)]
            #[inline]
            #[allow(clippy::too_many_arguments)]
            unsafe fn blocks<
                const Q: usize,
                const RO: usize,
                const NR: usize,
                const S: usize,
                const MASKED: bool,
                const JLO: usize,
                const JCUT: usize,
                const CC: usize,
            >(
                w: *const f32,
                bias: *const f32,
                pre: &([[V; 3]; NR], V),
                p: *const f32,
                out: *mut f32,
                sh: Shape,
                (c0, c1): (usize, usize),
                m: Mask,
            ) {
                let c = if CC == 0 { sh.c } else { CC };
                // The same range the caller passes, as constants: a single block then runs
                // without a loop around it.
                let (c0, c1) = if CC == L { (0, L) } else { (c0, c1) };
                let mut ch = c0;
                // SAFETY: the caller's contract.
                unsafe {
                    while ch < c1 {
                        let (wv, b) = if CC == L {
                            *pre
                        } else {
                            (
                                std::array::from_fn(|ky| {
                                    std::array::from_fn(|kx| ld::<MASKED>(w.add((ky * 3 + kx) * c + ch), m))
                                }),
                                ld::<MASKED>(bias.add(ch), m),
                            )
                        };
                        // Stores that miss the cache fill the store buffer and stall the loop
                        // (the output usually is not cached yet); asking for the lines a few
                        // groups ahead overlaps those misses with the arithmetic.
                        for ro in 0..RO {
                            for q in 0..Q {
                                crate::kernels::f32::depthwise::x86_3x3::prefetchw(out.wrapping_add(
                                    ro * sh.ow * c + (q + crate::kernels::f32::depthwise::x86_3x3::PFW) * c + ch,
                                ));
                            }
                        }
                        group::<Q, RO, NR, S, MASKED, JLO, JCUT, CC>(&wv, b, p.wrapping_add(ch), out.add(ch), sh, m);
                        ch += L;
                    }
                }
            }

            /// `Q` adjacent output pixels in each of `RO` output rows, the window of the
            /// first at input pixel `p` (row 0 of `NR`), written from `out`. Input row `i` and
            /// column `j` of the group feed output row `ro` and pixel `q` through tap
            /// `(i - ro * s, j - q * s)` when that is in the kernel, so every input vector is
            /// loaded once per group. Columns below `JLO` and the last `JCUT` lie in the
            /// padding and are skipped.
            ///
            /// # Safety
            /// The `(RO - 1) * s + NR` x `JLO..(Q - 1) * s + 3 - JCUT` input pixels of the
            /// group are in bounds, as are the `RO` x `Q` output pixels (with `MASKED`, the
            /// lanes of `m`).
            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn group<
                const Q: usize,
                const RO: usize,
                const NR: usize,
                const S: usize,
                const MASKED: bool,
                const JLO: usize,
                const JCUT: usize,
                const CC: usize,
            >(
                wv: &[[V; 3]; NR],
                b: V,
                p: *const f32,
                out: *mut f32,
                sh: Shape,
                m: Mask,
            ) {
                let s = if S == 0 { sh.s } else { S };
                let c = if CC == 0 { sh.c } else { CC };
                let rs = sh.w * c;
                let mut acc = [[b; Q]; RO];
                // SAFETY: the caller's contract.
                unsafe {
                    for i in 0..(RO - 1) * s + NR {
                        let pr = p.wrapping_add(i * rs);
                        for j in JLO..(Q - 1) * s + 3 - JCUT {
                            let x = ld::<MASKED>(pr.add(j * c), m);
                            for (ro, acc) in acc.iter_mut().enumerate() {
                                let ky = i.wrapping_sub(ro * s);
                                if ky < NR {
                                    for (q, a) in acc.iter_mut().enumerate() {
                                        let kx = j.wrapping_sub(q * s);
                                        if kx < 3 {
                                            *a = fma(x, wv[ky][kx], *a);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    for (ro, acc) in acc.into_iter().enumerate() {
                        for (q, a) in acc.into_iter().enumerate() {
                            st::<MASKED>(out.add(ro * sh.ow * c + q * c), act(sh.clamp, a), m);
                        }
                    }
                }
            }

            /// Applies the activation in registers, each bound only where it applies (a NaN
            /// becomes the lower bound, as on the portable path: `max` returns its second
            /// operand for a NaN).
            #[target_feature(enable = $feature)]
            #[inline]
            fn act(c: Clamp, x: V) -> V {
                let x = if c.has_lo() { max(x, splat(c.lo)) } else { x };
                if c.has_hi() {
                    min(x, splat(c.hi))
                } else {
                    x
                }
            }
        }
    };
}

pub(crate) use simd_depthwise;

#[cfg(test)]
mod tests {
    use crate::kernels::activation::Clamp;
    use crate::kernels::f32::config;
    use crate::kernels::f32::depthwise::ukernel::{RowsFn, Shape};
    use crate::kernels::isa::Isa;
    use crate::kernels::testkit::{self, Rng};
    use crate::{ACT_NONE, ACT_RELU, ACT_RELU6};

    /// The shared reference over the PyTorch layout, from the packed `[3][3][c]` weights.
    fn reference(sh: Shape, oh: usize, act: u8, input: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f64> {
        let pytorch: Vec<f32> = (0..9 * sh.c).map(|i| weight[(i % 9) * sh.c + i / 9]).collect();
        testkit::depthwise(
            (sh.h, sh.w, sh.c),
            (oh, sh.ow),
            (3, 3, sh.s, sh.pt, sh.pl),
            act,
            input,
            &pytorch,
            bias,
        )
    }

    /// Runs every path this CPU has on `rows` split at every row boundary in
    /// turn, against [`reference`], checking that nothing outside the rows is written.
    #[allow(clippy::too_many_arguments)]
    fn check(h: usize, w: usize, c: usize, s: usize, pt: usize, pl: usize, pb: usize, act: u8) {
        let oh = (h + pt + pb - 3) / s + 1;
        let ow = (w + pl + pb - 3) / s + 1;
        let sh = Shape {
            h,
            w,
            c,
            ow,
            s,
            pt,
            pl,
            clamp: Clamp::of(act),
        };
        let mut rng = Rng::new((h * 131 + w * 17 + c * 7 + s) as u64);
        let input: Vec<f32> = rng.vec(h * w * c).iter().map(|v| v * 5.0).collect();
        let weight = rng.vec(9 * c);
        let bias = rng.vec(c);
        let want = reference(sh, oh, act, &input, &weight, &bias);
        // Every path this CPU runs that has a 3x3 kernel, as its config picks it.
        let paths: Vec<(Isa, RowsFn)> = Isa::supported()
            .into_iter()
            .filter_map(|isa| Some((isa, (config::for_isa(isa).depthwise_3x3?)(&sh))))
            .collect();
        for (name, run) in paths {
            for split in 0..=oh {
                let mut out = vec![-7.0f32; oh * ow * c + 3];
                for rows in [0..split, split..oh] {
                    // SAFETY: the CPU has the path; the buffers have the shapes `run` reads and
                    // writes, and the two row ranges are disjoint and run one after the other.
                    unsafe {
                        run(
                            input.as_ptr(),
                            weight.as_ptr(),
                            bias.as_ptr(),
                            out.as_mut_ptr(),
                            sh,
                            rows,
                        )
                    };
                }
                for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
                    let err = (g as f64 - w).abs() / w.abs().max(1.0);
                    assert!(
                        err <= 1e-5,
                        "{name:?} {sh:?} pb={pb} act={act} split={split} at {i}: got {g}, want {w}"
                    );
                }
                assert!(
                    out[oh * ow * c..].iter().all(|&v| v == -7.0),
                    "{name:?} {sh:?} wrote past the output"
                );
            }
        }
    }

    #[test]
    fn group_edges_and_channel_tails() {
        // Widths below, at and between the group sizes; channel counts below one block, with
        // a masked tail, over several chunks, the 8-channel layer of the small models, and
        // either side of AVX2's limit for wide groups at stride 2.
        for (h, w) in [(1, 1), (2, 3), (3, 2), (5, 4), (7, 7), (9, 12), (6, 13), (4, 17)] {
            for c in [1, 8, 16, 24, 32, 40, 48, 64, 72, 81] {
                check(h, w, c, 1, 1, 1, 1, ACT_RELU);
                check(h, w, c, 2, 1, 1, 1, ACT_RELU6);
            }
        }
    }

    #[test]
    fn fixed_channel_counts() {
        // Every count of `FIXED_C` from 128 up (the smaller ones are above), over several
        // chunks, at both strides, with border rows and columns on every side.
        for (h, w) in [(5, 4), (7, 7), (9, 12), (4, 17)] {
            for c in [128, 256, 512, 1024] {
                check(h, w, c, 1, 1, 1, 1, ACT_RELU6);
                check(h, w, c, 2, 1, 1, 1, ACT_RELU);
                check(h, w, c, 2, 0, 0, 1, ACT_NONE);
            }
        }
    }

    #[test]
    fn paddings_strides_and_activations() {
        for (s, pt, pl, pb) in [
            (1, 0, 0, 0),
            (1, 1, 0, 1),
            (1, 0, 1, 2),
            (2, 0, 0, 1),
            (2, 1, 1, 0),
            (2, 0, 1, 1),
            (3, 1, 1, 1),
        ] {
            for (h, w, c) in [(8, 8, 16), (9, 11, 40), (14, 14, 130), (4, 17, 5)] {
                if h + pt + pb >= 3 && w + pl + pb >= 3 {
                    for act in [ACT_NONE, ACT_RELU, ACT_RELU6] {
                        check(h, w, c, s, pt, pl, pb, act);
                    }
                }
            }
        }
    }
}
