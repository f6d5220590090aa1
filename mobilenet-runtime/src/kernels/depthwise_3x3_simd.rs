//! Depthwise 3x3 convolution vectorised across channels: AVX-512 (16 lanes) and AVX2+FMA
//! (8 lanes), any stride, top/left padding 0 or 1 (bottom/right implied), NHWC.
//!
//! For every output row and every block of `L` channels, the 9 tap weights and the bias are
//! loaded into registers once, then the row's pixels are swept: interior pixels run a fully
//! unrolled 3 x 3 (or, on the first/last row, 2 x 3) FMA sequence with no branches; only the
//! one or two border columns of a row take the general clamped loop. A channel count that is
//! not a multiple of `L` finishes with masked loads and stores.
//!
//! One body, two instruction sets: `simd_depthwise!` expands the algorithm into a module per
//! path over that path's handful of vector operations, so both paths stay identical.

#![cfg(target_arch = "x86_64")]

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
}

impl Shape {
    /// Valid taps `[lo, hi)` of output position `o` along an axis of `n` inputs with `p`
    /// leading zeros (3 taps, stride `s`).
    #[inline(always)]
    fn taps(o: usize, n: usize, s: usize, p: usize) -> (usize, usize) {
        super::conv::taps(o, n, 3, s, p)
    }
}

macro_rules! simd_depthwise {
    ($isa:ident, $ops:ident, $feature:literal, $lanes:literal) => {
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
            pub(crate) unsafe fn run<const ACT: u8>(
                input: *const f32,
                weight: *const f32,
                bias: *const f32,
                output: *mut f32,
                sh: Shape,
                rows: std::ops::Range<usize>,
            ) {
                const L: usize = $lanes;
                let (x_lo, x_hi) = super::super::conv::interior(sh.w, sh.ow, 3, sh.s, sh.pl);
                for oy in rows {
                    let (ky0, ky1) = Shape::taps(oy, sh.h, sh.s, sh.pt);
                    // First input row of tap ky0.
                    let iy = oy * sh.s + ky0 - sh.pt;
                    let mut c0 = 0;
                    while c0 < sh.c {
                        let n = (sh.c - c0).min(L);
                        // SAFETY: channels c0..c0 + n of every pixel, tap and bias are in bounds;
                        // the taps used below are inside the input (clamped by `taps`/`interior`).
                        unsafe {
                            let wv: [V; 9] = std::array::from_fn(|t| ld(weight.add(t * sh.c + c0), n));
                            let b = ld(bias.add(c0), n);
                            let px = |y: usize, x: usize| input.add((y * sh.w + x) * sh.c + c0);
                            let out = output.add(oy * sh.ow * sh.c + c0);
                            let general = |ox: usize| {
                                let (kx0, kx1) = Shape::taps(ox, sh.w, sh.s, sh.pl);
                                let ix = ox * sh.s + kx0 - sh.pl;
                                let mut acc = b;
                                for ky in ky0..ky1 {
                                    for kx in kx0..kx1 {
                                        acc = fma(ld(px(iy + ky - ky0, ix + kx - kx0), n), wv[ky * 3 + kx], acc);
                                    }
                                }
                                st(out.add(ox * sh.c), act::<ACT>(acc), n);
                            };
                            for ox in 0..x_lo.min(sh.ow) {
                                general(ox);
                            }
                            match (ky0, ky1) {
                                (0, 3) => interior::<0, 3, ACT>(&wv, b, px, iy, out, sh, x_lo..x_hi, n),
                                (1, 3) => interior::<1, 3, ACT>(&wv, b, px, iy, out, sh, x_lo..x_hi, n),
                                (0, 2) => interior::<0, 2, ACT>(&wv, b, px, iy, out, sh, x_lo..x_hi, n),
                                _ => (x_lo..x_hi).for_each(general),
                            }
                            for ox in x_hi.max(x_lo)..sh.ow {
                                general(ox);
                            }
                        }
                        c0 += L;
                    }
                }
            }

            /// Interior pixels `xs` of one row: taps `KY0..KY1` x `0..3`, unrolled.
            #[target_feature(enable = $feature)]
            #[inline]
            #[allow(clippy::too_many_arguments)]
            unsafe fn interior<const KY0: usize, const KY1: usize, const ACT: u8>(
                wv: &[V; 9],
                b: V,
                px: impl Fn(usize, usize) -> *const f32,
                iy: usize,
                out: *mut f32,
                sh: Shape,
                xs: std::ops::Range<usize>,
                n: usize,
            ) {
                // SAFETY: the caller's contract; interior pixels read only inside the input.
                unsafe {
                    for ox in xs {
                        let ix = ox * sh.s - sh.pl;
                        let mut acc = b;
                        for ky in KY0..KY1 {
                            for kx in 0..3 {
                                acc = fma(ld(px(iy + ky - KY0, ix + kx), n), wv[ky * 3 + kx], acc);
                            }
                        }
                        st(out.add(ox * sh.c), act::<ACT>(acc), n);
                    }
                }
            }

            /// Applies the activation in registers (a NaN becomes 0 under both ReLUs, as on
            /// the portable path: `max` returns its second operand for a NaN).
            #[target_feature(enable = $feature)]
            #[inline]
            fn act<const ACT: u8>(x: V) -> V {
                match ACT {
                    ACT_RELU => max(x, zero()),
                    ACT_RELU6 => min(max(x, zero()), splat(6.0)),
                    _ => x,
                }
            }
        }
    };
}

simd_depthwise!(avx512, avx512_ops, "avx512f,fma", 16);
simd_depthwise!(avx2, avx2_ops, "avx2,fma", 8);

/// The AVX-512 vector operations the depthwise body is written in.
mod avx512_ops {
    use std::arch::x86_64::*;
    pub(crate) type V = __m512;

    /// Loads `n` (1..=16) floats; lanes past `n` read as 0 and touch no memory.
    ///
    /// # Safety
    /// AVX-512F; `p` readable for `n` floats.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn ld(p: *const f32, n: usize) -> V {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if n == 16 {
                _mm512_loadu_ps(p)
            } else {
                _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p)
            }
        }
    }

    /// Stores the first `n` (1..=16) lanes.
    ///
    /// # Safety
    /// AVX-512F; `p` writable for `n` floats.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn st(p: *mut f32, v: V, n: usize) {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if n == 16 {
                _mm512_storeu_ps(p, v)
            } else {
                _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v)
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

    /// Lane mask with the first `n` (0..=8) lanes set, for `maskload`/`maskstore`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn mask(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    /// Loads `n` (1..=8) floats; lanes past `n` read as 0 and touch no memory.
    ///
    /// # Safety
    /// AVX2; `p` readable for `n` floats.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn ld(p: *const f32, n: usize) -> V {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if n == 8 {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, mask(n))
            }
        }
    }

    /// Stores the first `n` (1..=8) lanes.
    ///
    /// # Safety
    /// AVX2; `p` writable for `n` floats.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn st(p: *mut f32, v: V, n: usize) {
        // SAFETY: the caller's contract; masked lanes are not accessed.
        unsafe {
            if n == 8 {
                _mm256_storeu_ps(p, v)
            } else {
                _mm256_maskstore_ps(p, mask(n), v)
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
