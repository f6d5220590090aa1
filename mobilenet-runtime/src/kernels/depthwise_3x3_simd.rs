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
//! One body, two instruction sets: `simd_depthwise!` expands the algorithm into a module per
//! path over that path's handful of vector operations, so both paths stay identical.

#![cfg(x86_simd)]

/// Shapes of one depthwise 3x3 call, as runtime values (the const-generic entry point in
/// [`super::depthwise()`] fills them in).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub ow: usize,
    pub s: usize,
    pub pt: usize,
    pub pl: usize,
    /// The activation code ([`crate::ACT_RELU`], ...). A value rather than a const parameter,
    /// so that the kernel is compiled once for all three: it is read once per group of
    /// outputs, a branch that always goes the same way.
    pub act: u8,
}

impl Shape {
    /// Valid taps `[lo, hi)` of output position `o` along an axis of `n` inputs with `p`
    /// leading zeros (3 taps, stride `s`).
    #[inline(always)]
    fn taps(o: usize, n: usize, s: usize, p: usize) -> (usize, usize) {
        super::conv::taps(o, n, 3, s, p)
    }
}

/// Output pixels ahead of the current group whose lines are prefetched (measured against 16).
const PFW: usize = 8;

/// Prefetches the cache line at `p` into L1 ahead of the store to it (as PREFETCHT0 without
/// the PRFCHW feature; the line arrives exclusive when no other core holds it). Any address
/// is fine: prefetches never fault and change no memory.
#[inline(always)]
fn prefetchw(p: *mut f32) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
    // SAFETY: SSE is part of x86-64, and a prefetch neither faults nor changes memory.
    unsafe { _mm_prefetch::<{ _MM_HINT_ET0 }>(p as *const i8) }
}

macro_rules! simd_depthwise {
    ($isa:ident, $ops:ident, $feature:literal) => {
        pub(crate) mod $isa {
            use super::$ops::*;
            use super::Shape;
            use crate::{ACT_RELU, ACT_RELU6};

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
                let xs = super::super::conv::interior(sh.w, sh.ow, 3, s, sh.pl);
                let (y_lo, y_hi) = super::super::conv::interior(sh.h, rows.end, 3, s, sh.pt);
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
                                        st::<MASKED>(o.add(ro * sh.ow * c + c0), act(sh.act, acc), m);
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
                                super::prefetchw(out.wrapping_add(ro * sh.ow * c + (q + super::PFW) * c + ch));
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
                            st::<MASKED>(out.add(ro * sh.ow * c + q * c), act(sh.act, a), m);
                        }
                    }
                }
            }

            /// Applies the activation in registers (a NaN becomes 0 under both ReLUs, as on
            /// the portable path: `max` returns its second operand for a NaN).
            #[target_feature(enable = $feature)]
            #[inline]
            fn act(code: u8, x: V) -> V {
                match code {
                    ACT_RELU => max(x, zero()),
                    ACT_RELU6 => min(max(x, zero()), splat(6.0)),
                    _ => x,
                }
            }
        }
    };
}

simd_depthwise!(avx512, avx512_ops, "avx512f,fma");
simd_depthwise!(avx2, avx2_ops, "avx2,fma");

/// The AVX-512 vector operations the depthwise body is written in.
mod avx512_ops {
    use std::arch::x86_64::*;
    pub(crate) type V = __m512;
    /// Lanes of [`V`].
    pub(crate) const L: usize = 16;
    /// Output rows and columns per register-blocked group: the `R * P` accumulators, the 9
    /// weights and the input vector in flight fit in the 32 registers. Measured against
    /// 1 x 4, 3 x 4 and 2 x 6 on Sapphire Rapids.
    pub(crate) const R: usize = 2;
    /// See [`R`].
    pub(crate) const P: usize = 4;
    /// Channel blocks per chunk (64 channels): a group sweeps them all before moving on, so
    /// that the input columns it shares with the next group are still in L1. Measured
    /// against 2, 8 and 32.
    pub(crate) const K: usize = 4;
    /// Most channels for which strides other than 1 use groups of [`P`] (all), rather than 2.
    pub(crate) const P_STRIDED_MAX_C: usize = usize::MAX;
    /// Channel counts with a sweep of their own (see the AVX2 `FIXED_C`): none, since that was
    /// measured only on AVX2 (0 never matches a layer, and is the generic sweep anyway).
    pub(crate) const FIXED_C: [usize; 8] = [0; 8];
    /// The lanes a masked load or store touches.
    pub(crate) type Mask = __mmask16;

    /// The first `n` (1..=16) lanes.
    #[inline(always)]
    pub(crate) fn mask(n: usize) -> Mask {
        ((1u32 << n) - 1) as Mask
    }

    /// Loads a vector, or with `MASKED` only the lanes in `m` (the others read as 0 and touch
    /// no memory).
    ///
    /// # Safety
    /// AVX-512F; `p` readable for the lanes loaded.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn ld<const MASKED: bool>(p: *const f32, m: Mask) -> V {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm512_maskz_loadu_ps(m, p)
            } else {
                _mm512_loadu_ps(p)
            }
        }
    }

    /// Stores a vector, or with `MASKED` only the lanes in `m`.
    ///
    /// # Safety
    /// AVX-512F; `p` writable for the lanes stored.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn st<const MASKED: bool>(p: *mut f32, v: V, m: Mask) {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm512_mask_storeu_ps(p, m, v)
            } else {
                _mm512_storeu_ps(p, v)
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn fma(a: V, b: V, c: V) -> V {
        _mm512_fmadd_ps(a, b, c)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn max(a: V, b: V) -> V {
        _mm512_max_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn min(a: V, b: V) -> V {
        _mm512_min_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn zero() -> V {
        _mm512_setzero_ps()
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn splat(x: f32) -> V {
        _mm512_set1_ps(x)
    }
}

/// The AVX2 vector operations the depthwise body is written in.
mod avx2_ops {
    use std::arch::x86_64::*;
    pub(crate) type V = __m256;
    /// Lanes of [`V`].
    pub(crate) const L: usize = 8;
    /// Output rows and columns per register-blocked group: the `R * P` accumulators, the 9
    /// weights and the input vector in flight fill the 16 registers. 2 x 3 against 2 x 2 on
    /// an AMD EPYC, depthwise alone, A/B in one process, stride 1: 14-16% faster on
    /// 56x56x128 and 40x40x64, 5-7% on 14x14x512 and 7x7x1024, 2% slower on 28x28x256. With 8
    /// to 32 channels 2 x 3 also beat 2 x 6 groups that hold no weights and load each tap's
    /// weight once (12 accumulators; 15-30% slower), which themselves beat 2 x 2 by 5-40%.
    pub(crate) const R: usize = 2;
    /// See [`R`].
    pub(crate) const P: usize = 3;
    /// Most channels for which strides other than 1 use groups of [`P`] rather than 2: at
    /// stride 2, 2 x 3 groups (5 x 7 input pixels) ran 3-6% faster than 2 x 2 at 16 and 32
    /// channels, but 4-22% slower from 64 channels up (112x112x64 to 14x14x512).
    pub(crate) const P_STRIDED_MAX_C: usize = 32;
    /// Channel blocks per chunk (64 channels, as on AVX-512); see the AVX-512 `K`.
    pub(crate) const K: usize = 8;
    /// Channel counts whose interior sweeps are compiled with the count a constant, so that
    /// every input, weight and output offset of a group is an immediate, the blocks of a
    /// chunk unroll, and a single block keeps its weights in registers: every depthwise layer
    /// at width 0.25, 0.5 and 1.0. Depthwise alone, A/B in one process on an AMD EPYC:
    /// 64x64x8 22% faster, 80x80x16 and 32x32x32 14%, 40x40x64 9-13%, 112x112x32 10%; stride
    /// 2 64x64x16 15%, 80x80x32 16%, 112x112x64 8%. In the network (A/B in one process),
    /// 128 channels 6-12% faster, 256 2-7%, 512 5-8%, 1024 3%. Every entry is another copy of
    /// the interior sweeps at strides 1 and 2: the first four added about 1.5 s to this
    /// crate's release build (17.2 s without them, 18.3-18.7 s with), the four from 128 up
    /// took its LLVM IR from 0.72M to 0.80M lines. Width 0.75's counts (24 to 768) are left
    /// out: no benchmark measures them.
    pub(crate) const FIXED_C: [usize; 8] = [L, 2 * L, 4 * L, 8 * L, 16 * L, 32 * L, 64 * L, 128 * L];
    /// The lanes a masked load or store touches (sign bit set).
    pub(crate) type Mask = __m256i;

    /// The first `n` (0..=8) lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn mask(n: usize) -> Mask {
        super::super::gemm_avx2::first_lanes(n)
    }

    /// Loads a vector, or with `MASKED` only the lanes in `m` (the others read as 0 and touch
    /// no memory).
    ///
    /// # Safety
    /// AVX2; `p` readable for the lanes loaded.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn ld<const MASKED: bool>(p: *const f32, m: Mask) -> V {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm256_maskload_ps(p, m)
            } else {
                _mm256_loadu_ps(p)
            }
        }
    }

    /// Stores a vector, or with `MASKED` only the lanes in `m`.
    ///
    /// # Safety
    /// AVX2; `p` writable for the lanes stored.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn st<const MASKED: bool>(p: *mut f32, v: V, m: Mask) {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if MASKED {
                _mm256_maskstore_ps(p, m, v)
            } else {
                _mm256_storeu_ps(p, v)
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(crate) fn fma(a: V, b: V, c: V) -> V {
        _mm256_fmadd_ps(a, b, c)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn max(a: V, b: V) -> V {
        _mm256_max_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn min(a: V, b: V) -> V {
        _mm256_min_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn zero() -> V {
        _mm256_setzero_ps()
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn splat(x: f32) -> V {
        _mm256_set1_ps(x)
    }
}

#[cfg(test)]
mod tests {
    use super::Shape;
    use crate::{ACT_NONE, ACT_RELU, ACT_RELU6};

    /// Direct f64 loops over the packed layout, skipping taps in the padding.
    fn reference(sh: Shape, oh: usize, act: u8, input: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; oh * sh.ow * sh.c];
        for oy in 0..oh {
            for ox in 0..sh.ow {
                for ch in 0..sh.c {
                    let mut sum = bias[ch] as f64;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = (
                                (oy * sh.s + ky).wrapping_sub(sh.pt),
                                (ox * sh.s + kx).wrapping_sub(sh.pl),
                            );
                            if iy < sh.h && ix < sh.w {
                                sum += input[(iy * sh.w + ix) * sh.c + ch] as f64
                                    * weight[(ky * 3 + kx) * sh.c + ch] as f64;
                            }
                        }
                    }
                    out[(oy * sh.ow + ox) * sh.c + ch] = match act {
                        ACT_RELU => sum.max(0.0),
                        ACT_RELU6 => sum.clamp(0.0, 6.0),
                        _ => sum,
                    };
                }
            }
        }
        out
    }

    /// Runs both paths (where the CPU has them) on `rows` split at every row boundary in
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
            act,
        };
        let mut seed = (h * 131 + w * 17 + c * 7 + s) as u32 | 1;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        let input: Vec<f32> = (0..h * w * c).map(|_| rnd() * 5.0).collect();
        let weight: Vec<f32> = (0..9 * c).map(|_| rnd()).collect();
        let bias: Vec<f32> = (0..c).map(|_| rnd()).collect();
        let want = reference(sh, oh, act, &input, &weight, &bias);
        type Run = unsafe fn(*const f32, *const f32, *const f32, *mut f32, Shape, std::ops::Range<usize>);
        let mut paths: Vec<(&str, Run)> = Vec::new();
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            paths.push(("avx512", super::avx512::run));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            paths.push(("avx2", super::avx2::run));
        }
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
                        "{name} {sh:?} pb={pb} act={act} split={split} at {i}: got {g}, want {w}"
                    );
                }
                assert!(
                    out[oh * ow * c..].iter().all(|&v| v == -7.0),
                    "{name} {sh:?} wrote past the output"
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
