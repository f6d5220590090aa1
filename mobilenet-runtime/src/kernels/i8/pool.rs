//! Int8 average pooling without padding, as TFLite's reference `AveragePool` for int8
//! (`reference_integer_ops/pooling.h` lines 26-84) and for uint8 (`reference_ops/pooling.h`
//! lines 84-140): the window's sum rounded to the nearest multiple of its size, then clamped.
//!
//! The two differ only in the domain they round in: int8 rounds a negative sum half away
//! from zero (`(s - n/2) / n`), uint8 sums non-negative values (`(s + n/2) / n`). A uint8
//! model's activations arrive here shifted by -128, so its sum is shifted back by
//! `128 * n` ([`PoolQuant::domain_offset`]) before rounding; both cases are then
//! `s > 0 ? (s + n/2) / n : (s - n/2) / n` with C++'s truncating division, which for a
//! non-negative `s` is uint8's formula (at `s = 0` both give 0).

/// The parameters of an average pool (no weights, no requantisation: TFLite's quantized pool
/// keeps the input's scale and zero point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolQuant {
    /// 128 for a uint8 model (whose sums TFLite rounds in the uint8 domain), 0 for int8.
    pub domain_offset: i32,
    /// The activation's clamp, int8 domain.
    pub act_min: i8,
    /// See `act_min`.
    pub act_max: i8,
}

/// Channels summed together (a stack array of `i32` accumulators).
const CB: usize = 64;

/// TFLite's rounding of a window sum `s` of `n` values, in the domain shifted by `offset`.
#[inline(always)]
pub(crate) fn round_average(sum: i32, n: i32, p: &PoolQuant) -> i8 {
    let s = sum + p.domain_offset * n;
    let avg = if s > 0 { (s + n / 2) / n } else { (s - n / 2) / n };
    (avg - p.domain_offset).clamp(p.act_min as i32, p.act_max as i32) as i8
}

/// Int8 average pooling of an `H x W x C` NHWC map into `OH x OW x C` with a `KH x KW` window
/// at stride `S` and no padding (every window lies inside the input).
///
/// # Panics
/// If `input.len() < H * W * C` or `output.len() < OH * OW * C`. Zero sizes, `S == 0` and
/// windows reaching past the input are compile errors.
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
    input: &[i8],
    output: &mut [i8],
    p: &PoolQuant,
) {
    const {
        assert!(H >= 1 && W >= 1 && C >= 1, "avg_pool: zero-sized input");
        assert!(OH >= 1 && OW >= 1, "avg_pool: zero-sized output");
        assert!(KH >= 1 && KW >= 1 && S >= 1, "avg_pool: zero window or stride");
        assert!(
            (OH - 1) * S + KH <= H && (OW - 1) * S + KW <= W,
            "avg_pool: a window reaches past the input (pooling has no padding)"
        );
        // The sums stay far inside i32 (TFLite accumulates in int32 too).
        assert!(KH * KW <= 1 << 23, "avg_pool: window too large for i32 sums");
    };
    pool(
        &input[..H * W * C],
        &mut output[..OH * OW * C],
        (H, W, C),
        (OH, OW),
        (KH, KW, S),
        p,
    );
}

/// The kernel, not generic (compiled once, with this crate).
fn pool(
    input: &[i8],
    output: &mut [i8],
    (_h, w, c): (usize, usize, usize),
    (_oh, ow): (usize, usize),
    (kh, kw, s): (usize, usize, usize),
    p: &PoolQuant,
) {
    let n = (kh * kw) as i32;
    for (i, out) in output.chunks_exact_mut(c).enumerate() {
        let (oy, ox) = (i / ow, i % ow);
        for c0 in (0..c).step_by(CB) {
            let len = CB.min(c - c0);
            let mut acc = [0i32; CB];
            for ky in 0..kh {
                for kx in 0..kw {
                    let x = &input[((oy * s + ky) * w + ox * s + kx) * c + c0..][..len];
                    for (a, &x) in acc.iter_mut().zip(x) {
                        *a += x as i32;
                    }
                }
            }
            for (o, &a) in out[c0..c0 + len].iter_mut().zip(&acc) {
                *o = round_average(a, n, p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testkit::{q, Rng};

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
        let mut rng = Rng::new(seed);
        for (case, p) in [
            PoolQuant {
                domain_offset: 0,
                act_min: -128,
                act_max: 127,
            },
            PoolQuant {
                domain_offset: 128,
                act_min: -128,
                act_max: 127,
            },
            PoolQuant {
                domain_offset: 0,
                act_min: -3,
                act_max: 40,
            },
            PoolQuant {
                domain_offset: 128,
                act_min: -100,
                act_max: 5,
            },
        ]
        .iter()
        .enumerate()
        {
            // Inputs over the whole range, and over a narrow one where ties are common.
            for narrow in [false, true] {
                let input: Vec<i8> = if narrow {
                    (0..H * W * C).map(|_| rng.int(-2, 1) as i8).collect()
                } else {
                    rng.bytes(H * W * C)
                };
                let want = q::avg_pool((H, W, C), (OH, OW), (KH, KW, S), p, &input);
                let mut padded = input.clone();
                padded.extend([7i8; 3]);
                let mut out = vec![99i8; OH * OW * C + 3];
                avg_pool::<H, W, C, OH, OW, KH, KW, S>(&padded, &mut out, p);
                assert_eq!(
                    out[..OH * OW * C],
                    want[..],
                    "H={H} W={W} C={C} K={KH}x{KW} S={S} case {case}"
                );
                assert_eq!(out[OH * OW * C..], [99; 3], "wrote past the output");
            }
        }
    }

    #[test]
    fn matches_reference() {
        check::<7, 7, 33, 1, 1, 7, 7, 1>(1);
        check::<5, 6, 17, 1, 1, 5, 6, 1>(2);
        check::<1, 1, 3, 1, 1, 1, 1, 1>(3);
        check::<2, 2, 70, 1, 1, 2, 2, 1>(4);
        check::<8, 8, 3, 4, 4, 2, 2, 2>(5);
        check::<7, 9, 5, 3, 4, 3, 3, 2>(6);
        if !cfg!(miri) {
            check::<7, 7, 1024, 1, 1, 7, 7, 1>(7);
            check::<6, 5, 130, 4, 3, 3, 3, 1>(8);
        }
    }

    /// TFLite's rounding, case by case: int8 rounds half away from zero; a uint8 model rounds
    /// half up in its own domain, which shifted is not the same thing.
    #[test]
    fn rounding_by_domain() {
        let int8 = PoolQuant {
            domain_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let uint8 = PoolQuant {
            domain_offset: 128,
            ..int8
        };
        // Sums over 2 values: 1 -> 0.5 -> 1; -1 -> -0.5 -> -1 (int8).
        assert_eq!(round_average(1, 2, &int8), 1);
        assert_eq!(round_average(-1, 2, &int8), -1);
        // In uint8, -1 over 2 is (255 - 1 + 128 * 2 - 256)... the uint8 sum 255 / 2 = 127.5
        // rounds up to 128, which is 0 in the int8 domain.
        assert_eq!(round_average(-1, 2, &uint8), 0);
        assert_eq!(round_average(-3, 2, &uint8), -1);
        assert_eq!(round_average(-3, 2, &int8), -2);
        assert_eq!(round_average(0, 4, &int8), 0);
        assert_eq!(round_average(-128 * 49, 49, &uint8), -128);
        assert_eq!(round_average(127 * 49, 49, &uint8), 127);
    }
}
