//! Average pooling without padding: `out[oy][ox][c]` is the mean of `in[oy*S+ky][ox*S+kx][c]`
//! over the `KH x KW` window. MobileNet uses it once, as the global pool (`KH = H`, `KW = W`,
//! `OH = OW = 1`).
//!
//! Activations are NHWC, so each window tap adds one contiguous run of `C` channels into the
//! output pixel, a loop the compiler vectorises.

/// Average pooling of an `H x W x C` NHWC map into `OH x OW x C` with a `KH x KW` window at
/// stride `S` and no padding; every window lies wholly inside the input, so each output is
/// the sum of its `KH * KW` taps divided by `KH * KW`.
///
/// # Panics
/// If `input.len() < H * W * C` or `output.len() < OH * OW * C` (generated code always passes
/// exactly sized buffers). Zero sizes, `S == 0` and windows reaching past the input are
/// compile errors.
pub fn avg_pool<
    const H: usize,
    const W: usize,
    const C: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
>(
    input: &[f32],
    output: &mut [f32],
) {
    const {
        assert!(H >= 1 && W >= 1 && C >= 1, "avg_pool: zero-sized input");
        assert!(OH >= 1 && OW >= 1, "avg_pool: zero-sized output");
        assert!(KH >= 1 && KW >= 1 && S >= 1, "avg_pool: zero window or stride");
        assert!(
            (OH - 1) * S + KH <= H && (OW - 1) * S + KW <= W,
            "avg_pool: a window reaches past the input (pooling has no padding)"
        );
    };
    let (rows, _) = input[..H * W * C].as_chunks::<C>();
    let (out_px, _) = output[..OH * OW * C].as_chunks_mut::<C>();
    // Divide rather than multiply by a reciprocal: one rounding instead of two, and cheap
    // next to the KH * KW passes of adds.
    let count = (KH * KW) as f32;
    for (oy, out_row) in out_px.chunks_exact_mut(OW).enumerate() {
        for (ox, out) in out_row.iter_mut().enumerate() {
            *out = [0.0; C];
            for ky in 0..KH {
                let first = (oy * S + ky) * W + ox * S;
                for tap in &rows[first..first + KW] {
                    for (o, &x) in out.iter_mut().zip(tap) {
                        *o += x;
                    }
                }
            }
            for o in out.iter_mut() {
                *o /= count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{self, Rng};

    fn check<
        const H: usize,
        const W: usize,
        const C: usize,
        const OH: usize,
        const OW: usize,
        const KH: usize,
        const KW: usize,
        const S: usize,
    >(
        seed: u64,
    ) {
        let input: Vec<f32> = Rng::new(seed).vec(H * W * C).iter().map(|v| v * 8.0).collect();
        let mut padded_in = input.clone();
        padded_in.extend([f32::NAN; 3]);
        let mut out = vec![-7.0; OH * OW * C + 3];
        avg_pool::<H, W, C, OH, OW, KH, KW, S>(&padded_in, &mut out);
        let want = testkit::avg_pool((H, W, C), (OH, OW), (KH, KW, S), &input);
        for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
            let err = (g as f64 - w).abs() / w.abs().max(1.0);
            assert!(
                err <= 1e-5,
                "H={H} W={W} C={C} OH={OH} OW={OW} K={KH}x{KW} S={S} at {i}: got {g}, want {w}"
            );
        }
        assert!(out[OH * OW * C..].iter().all(|&v| v == -7.0), "wrote past the output");
    }

    #[test]
    fn global_pool() {
        if cfg!(miri) {
            check::<7, 7, 40, 1, 1, 7, 7, 1>(1);
        } else {
            check::<7, 7, 1024, 1, 1, 7, 7, 1>(1);
        }
        check::<7, 7, 33, 1, 1, 7, 7, 1>(2);
        check::<5, 6, 17, 1, 1, 5, 6, 1>(3);
        check::<1, 1, 3, 1, 1, 1, 1, 1>(4);
        check::<4, 4, 5, 1, 1, 4, 4, 2>(5);
    }

    #[test]
    fn windowed_pool() {
        check::<8, 8, 3, 4, 4, 2, 2, 2>(11);
        check::<7, 9, 5, 3, 4, 3, 3, 2>(12);
        check::<6, 5, 17, 4, 3, 3, 3, 1>(13);
        check::<6, 6, 1, 6, 6, 1, 1, 1>(14);
        // The last rows/columns of the input fall outside every window.
        check::<9, 8, 33, 3, 3, 2, 2, 3>(15);
    }
}
