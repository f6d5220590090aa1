//! The portable int8 convolution kernel, for every shape on every path: per output pixel,
//! blocks of [`CB`] output channels accumulated in `i32` over the taps inside the input, each
//! input value (minus the zero point) times a row of weights.

use super::ukernel::{Filter, Shape};
use crate::kernels::geometry::taps;
use std::ops::Range;

/// Output channels accumulated together.
const CB: usize = 16;

/// Output rows `oys` of shape `sh` into `out` (those rows, `ow * cout` bytes each).
pub(crate) fn rows(input: &[i8], f: &Filter, out: &mut [i8], sh: &Shape, oys: Range<usize>) {
    let (cin, cout, izp) = (sh.cin, sh.cout, f.input_zero_point);
    for (oy, out_row) in oys.zip(out.chunks_exact_mut(sh.ow * cout)) {
        let (ky0, ky1) = taps(oy, sh.h, sh.kh, sh.s, sh.pt);
        for (ox, out_px) in out_row.chunks_exact_mut(cout).enumerate() {
            let (kx0, kx1) = taps(ox, sh.w, sh.kw, sh.s, sh.pl);
            for c0 in (0..cout).step_by(CB) {
                let n = CB.min(cout - c0);
                let mut acc = [0i32; CB];
                acc[..n].copy_from_slice(&f.bias[c0..c0 + n]);
                for ky in ky0..ky1 {
                    let iy = oy * sh.s + ky - sh.pt;
                    // The taps `kx0..kx1` of kernel row `ky` read `(kx1 - kx0) * cin`
                    // contiguous inputs against as many contiguous weight rows.
                    let ix = ox * sh.s + kx0 - sh.pl;
                    let len = (kx1 - kx0) * cin;
                    let x = &input[(iy * sh.w + ix) * cin..][..len];
                    let k0 = (ky * sh.kw + kx0) * cin;
                    for (j, &x) in x.iter().enumerate() {
                        let x = x as i32 - izp;
                        let w = &f.weights[(k0 + j) * f.coutp + c0..][..CB];
                        for (a, &w) in acc.iter_mut().zip(w) {
                            *a = a.wrapping_add(x * w as i32);
                        }
                    }
                }
                for (j, (o, &a)) in out_px[c0..c0 + n].iter_mut().zip(&acc).enumerate() {
                    *o = f.rq.at(c0 + j).apply(a);
                }
            }
        }
    }
}
