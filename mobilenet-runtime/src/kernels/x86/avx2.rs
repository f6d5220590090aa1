//! AVX2 helpers shared by the AVX2 kernels of every operator and data type: the f32 clamp in
//! registers and lane masks, the int8 requantisation and packing.

use crate::kernels::activation::Clamp;
use std::arch::x86_64::*;

/// Applies the activation `c` in registers: `max` with the lower bound, `min` with the upper,
/// each only where it applies (see [`Clamp`]). `max` returns its second operand for a NaN
/// `x`, so a NaN becomes the lower bound, as on the portable path.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn activate(c: Clamp, x: __m256) -> __m256 {
    let x = if c.has_lo() {
        _mm256_max_ps(x, _mm256_set1_ps(c.lo))
    } else {
        x
    };
    if c.has_hi() {
        _mm256_min_ps(x, _mm256_set1_ps(c.hi))
    } else {
        x
    }
}

/// A lane mask for `_mm256_maskload_ps` / `_mm256_maskstore_ps`: the first `n` (0..=8) lanes,
/// whose sign bits are set.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn first_lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// The int8 kernels' requantisation of eight `i32` accumulators, exactly
/// `requant::Requant::apply` before its zero point and clamp (TFLite's
/// `MultiplyByQuantizedMultiplier`, double rounding), per lane with that lane's `multiplier`,
/// `left` shift (`0..=30`) and `right` shift (`0..=31`): a [`Requantizer`] prepared and
/// applied once.
#[cfg(test)]
#[target_feature(enable = "avx2")]
fn requantize(acc: __m256i, multiplier: __m256i, left: __m256i, right: __m256i) -> __m256i {
    Requantizer::new(multiplier, left, right).apply(acc)
}

/// Eight channels' requantisation (see [`requantize`]) with what depends only on the channels
/// worked out once ([`Requantizer::new`]), so that a kernel applying it to many vectors of
/// accumulators ([`Requantizer::apply`]) spends 18 instructions on each instead of 23.
///
/// The rounding high multiply is `floor((x * m + 2^30) / 2^31)` (what gemmlowp's nudge and
/// truncating division amount to), from the 64-bit products of `vpmuldq`, with the one
/// overflow (`MIN * MIN`, which lands on `MIN`) turned into `MAX`; the rounding shift is
/// gemmlowp's mask-and-threshold form, lane by lane.
#[derive(Clone, Copy)]
pub(crate) struct Requantizer {
    multiplier: __m256i,
    /// The odd lanes' multipliers, moved down into the even lanes, where `vpmuldq` reads.
    odd_multiplier: __m256i,
    /// All ones in the lanes whose multiplier is `MIN`.
    min_multiplier: __m256i,
    left: __m256i,
    right: __m256i,
    /// `2^right - 1`: the bits the rounding shift drops.
    mask: __m256i,
    /// `mask / 2`: a non-negative remainder above this rounds up.
    half: __m256i,
}

impl Requantizer {
    /// Lanes' `multiplier`, `left` shift (`0..=30`) and `right` shift (`0..=31`).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn new(multiplier: __m256i, left: __m256i, right: __m256i) -> Self {
        let one = _mm256_set1_epi32(1);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        Requantizer {
            multiplier,
            odd_multiplier: _mm256_srli_epi64::<32>(multiplier),
            min_multiplier: _mm256_cmpeq_epi32(multiplier, _mm256_set1_epi32(i32::MIN)),
            left,
            right,
            mask,
            half: _mm256_srli_epi32::<1>(mask),
        }
    }

    /// Eight accumulators requantised (before the zero point and clamp).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn apply(&self, acc: __m256i) -> __m256i {
        let x = _mm256_sllv_epi32(acc, self.left);
        // Products of the even lanes, then of the odd lanes moved down, each sign-extended to
        // 64 bits; + 2^30, and bits 31..62 of each sum are the result.
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, self.multiplier), nudge);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.odd_multiplier), nudge);
        let high = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<31>(even), _mm256_slli_epi64::<1>(odd));
        let overflow = _mm256_and_si256(_mm256_cmpeq_epi32(x, _mm256_set1_epi32(i32::MIN)), self.min_multiplier);
        // MIN ^ all ones = MAX.
        let high = _mm256_xor_si256(high, overflow);
        // RoundingDivideByPOT: + 1 where the remainder exceeds half the divisor (a negative
        // value needs one more to round up, so its threshold is one higher).
        let remainder = _mm256_and_si256(high, self.mask);
        let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), high);
        let threshold = _mm256_sub_epi32(self.half, negative);
        _mm256_sub_epi32(
            _mm256_srav_epi32(high, self.right),
            _mm256_cmpgt_epi32(remainder, threshold),
        )
    }
}

/// Sixteen requantised `i32` (channels 0-7 in `a`, 8-15 in `b`) plus `zero_point` (wrapping),
/// as sixteen `i8` clamped to `[min, max]`. The packing saturates to `i16`, then `i8`, which
/// changes nothing that the clamp (inside `i8`) keeps.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn pack_i8(a: __m256i, b: __m256i, zero_point: __m256i, min: __m128i, max: __m128i) -> __m128i {
    let (a, b) = (_mm256_add_epi32(a, zero_point), _mm256_add_epi32(b, zero_point));
    let a16 = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
    let b16 = _mm_packs_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b));
    _mm_min_epi8(_mm_max_epi8(_mm_packs_epi16(a16, b16), min), max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::i8::requant::multiply_by_quantized_multiplier;
    use crate::kernels::testkit::Rng;

    /// Eight lanes at a time against the scalar function: the overflow, every shift, the
    /// rounding ties, random values; and the packing against the scalar epilogue.
    #[test]
    fn requantize_matches_scalar() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(3);
        let edges = [
            0,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            12345,
            -54321,
        ];
        let mut cases = Vec::new();
        for &x in &edges {
            for &m in &[i32::MIN, i32::MAX, 0, 1 << 30, 3 << 29, 1, -1, 1_234_567_890] {
                for shift in -31..=30 {
                    cases.push((x, m, shift));
                }
            }
        }
        for _ in 0..if cfg!(miri) { 64 } else { 200_000 } {
            let x = (rng.bits() as i32) >> (rng.bits() % 32);
            cases.push((x, rng.bits() as i32, rng.int(-31, 30)));
        }
        for chunk in cases.chunks(8) {
            let get = |f: &dyn Fn(&(i32, i32, i32)) -> i32| -> [i32; 8] {
                std::array::from_fn(|i| chunk.get(i).map_or(0, f))
            };
            let (x, m) = (get(&|c| c.0), get(&|c| c.1));
            let (left, right) = (get(&|c| c.2.max(0)), get(&|c| (-c.2).max(0)));
            let mut got = [0i32; 8];
            // SAFETY: AVX2 checked above; unaligned loads and stores of 8-lane arrays.
            unsafe {
                let load = |v: &[i32; 8]| _mm256_loadu_si256(v.as_ptr().cast());
                let r = requantize(load(&x), load(&m), load(&left), load(&right));
                _mm256_storeu_si256(got.as_mut_ptr().cast(), r);
            }
            for (i, c) in chunk.iter().enumerate() {
                assert_eq!(got[i], multiply_by_quantized_multiplier(c.0, c.1, c.2), "{c:?}");
            }
        }
    }

    #[test]
    fn packing_matches_the_scalar_epilogue() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(4);
        for _ in 0..if cfg!(miri) { 16 } else { 10_000 } {
            let v: [i32; 16] = std::array::from_fn(|_| (rng.bits() as i32) >> rng.int(0, 31));
            let zp = rng.int(-128, 127);
            let (lo, hi) = (rng.int(-128, 127), rng.int(-128, 127));
            let (lo, hi) = (lo.min(hi) as i8, lo.max(hi) as i8);
            let mut got = [0i8; 16];
            // SAFETY: AVX2 checked above; unaligned loads and stores of whole arrays.
            unsafe {
                let r = pack_i8(
                    _mm256_loadu_si256(v.as_ptr().cast()),
                    _mm256_loadu_si256(v[8..].as_ptr().cast()),
                    _mm256_set1_epi32(zp),
                    _mm_set1_epi8(lo),
                    _mm_set1_epi8(hi),
                );
                _mm_storeu_si128(got.as_mut_ptr().cast(), r);
            }
            for (g, &x) in got.iter().zip(&v) {
                // The last step of `Requant::apply`.
                let want = x.wrapping_add(zp).clamp(lo as i32, hi as i32) as i8;
                assert_eq!(*g, want, "{x} + {zp} in [{lo}, {hi}]");
            }
        }
    }
}
