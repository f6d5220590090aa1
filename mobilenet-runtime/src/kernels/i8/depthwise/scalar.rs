//! The portable int8 depthwise kernel, for every shape on every path: per output pixel,
//! blocks of [`CB`] channels accumulated in `i32` over the taps inside the input, then
//! requantised.

use super::ukernel::{Filter, Shape};
use crate::kernels::geometry::taps;
use std::ops::Range;

/// Channels accumulated together.
const CB: usize = 16;

/// Output rows `oys` of shape `sh` into `out` (those rows, `ow * c` bytes each).
pub(crate) fn rows(input: &[i8], f: &Filter, out: &mut [i8], sh: &Shape, oys: Range<usize>) {
    let (c, izp) = (sh.c, f.input_zero_point);
    for (oy, out_row) in oys.zip(out.chunks_exact_mut(sh.ow * c)) {
        let (ky0, ky1) = taps(oy, sh.h, sh.kh, sh.s, sh.pt);
        for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
            let (kx0, kx1) = taps(ox, sh.w, sh.kw, sh.s, sh.pl);
            for c0 in (0..c).step_by(CB) {
                let n = CB.min(c - c0);
                let mut acc = [0i32; CB];
                acc[..n].copy_from_slice(&f.bias[c0..c0 + n]);
                for ky in ky0..ky1 {
                    let iy = oy * sh.s + ky - sh.pt;
                    for kx in kx0..kx1 {
                        let ix = ox * sh.s + kx - sh.pl;
                        let x = &input[(iy * sh.w + ix) * c + c0..][..n];
                        let w = &f.weights[(ky * sh.kw + kx) * f.cp + c0..][..n];
                        for ((a, &x), &w) in acc.iter_mut().zip(x).zip(w) {
                            *a = a.wrapping_add((x as i32 - izp) * w as i32);
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
