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
/// `requant::Requant::apply` before its clamp (TFLite's `MultiplyByQuantizedMultiplier`, double
/// rounding, then the output zero point added with wrapping), per lane with that lane's
/// `multiplier` (`0..=i32::MAX`), `left` shift (`0..=30`) and `right` shift (`0..=31`): a
/// [`Requantizer`] prepared and applied once.
#[cfg(test)]
#[target_feature(enable = "avx2")]
fn requantize(acc: __m256i, multiplier: __m256i, left: __m256i, right: __m256i, zero_point: __m256i) -> __m256i {
    let plain = _mm256_movemask_epi8(_mm256_or_si256(
        _mm256_cmpgt_epi32(left, _mm256_setzero_si256()),
        _mm256_cmpeq_epi32(right, _mm256_setzero_si256()),
    )) == 0;
    if plain {
        Requantizer::<true>::new(multiplier, left, right, zero_point).apply(acc)
    } else {
        Requantizer::<false>::new(multiplier, left, right, zero_point).apply(acc)
    }
}

/// Whether channels with these `left` and `right` shifts can use the [`Requantizer`] with
/// `PLAIN` set: no left shift, and a right shift of at least 1 (a real multiplier below 0.5,
/// which is every layer of the models we have seen).
pub(crate) fn plain_shifts(left: &[i32], right: &[i32]) -> bool {
    left.iter().all(|&l| l == 0) && right.iter().all(|&r| r >= 1)
}

/// Eight channels' requantisation (see [`requantize`]) with what depends only on the channels
/// worked out once ([`Requantizer::new`]), so that a kernel applying it to many vectors of
/// accumulators ([`Requantizer::apply`]) spends 13 instructions on each (`PLAIN`) or 15.
///
/// TFLite rounds twice: `h = floor((x * m + 2^30) / 2^31)`, then `h / 2^e` to nearest with ties
/// away from zero, which is `floor((h + 2^(e-1) - [h < 0]) / 2^e)` for `e >= 1`. Two floors of
/// integer offsets fold into one: the result is
/// `floor((x * m + 2^30 + 2^(e+30) - 2^31 * [h < 0]) / 2^(31+e))`, and for `m >= 0`,
/// `[h < 0]` may be read as `[x < 0]` (where they differ, `x * m` lies in `[-2^30, 0)` and both
/// give 0). So one 64-bit product per lane (`vpmuldq`, exact), one add of a per-channel
/// constant, one conditional subtract and one shift. AVX2 has no 64-bit arithmetic shift, so
/// the constant also adds `2^62` (`|x * m| < 2^62`: the sum is never negative), which turns
/// into `2^(31-e)` after the shift and comes off with the output zero point. For `e = 0`
/// (`h` itself) the constant is `2^62 + 2^30` and there is no subtract. With `m < 2^31`,
/// gemmlowp's one saturating case (`MIN * MIN`) cannot occur.
///
/// `PLAIN` (see [`plain_shifts`]): no lane shifts left and every lane shifts right by at least
/// 1, which spares the left shift and lets the odd lanes' shift leave their result in the high
/// half of each 64-bit lane, where the blend takes it.
#[derive(Clone, Copy)]
pub(crate) struct Requantizer<const PLAIN: bool> {
    left: __m256i,
    /// Read by `vpmuldq` from the even lanes.
    multiplier: __m256i,
    /// The odd lanes' multipliers, moved down into the even lanes.
    odd_multiplier: __m256i,
    /// Per 64-bit lane, for the even and the odd channels: `2^62 + 2^30 + 2^(e+30)` (`e >= 1`)
    /// or `2^62 + 2^30` (`e = 0`).
    round: [__m256i; 2],
    /// `2^31` where `e >= 1`, else 0, ANDed with the input to take its sign bit.
    sign: [__m256i; 2],
    /// `31 + e`; for the odd channels of a `PLAIN` requantizer, `e - 1`.
    shift: [__m256i; 2],
    /// The output zero point minus the `2^(31-e)` the bias leaves behind.
    zero_point: __m256i,
}

impl<const PLAIN: bool> Requantizer<PLAIN> {
    /// Lanes' `multiplier` (`0..=i32::MAX`), `left` shift (`0..=30`), `right` shift (`0..=31`)
    /// and output zero point; with `PLAIN`, lanes that pass [`plain_shifts`].
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn new(multiplier: __m256i, left: __m256i, right: __m256i, zero_point: __m256i) -> Self {
        let e = [
            _mm256_and_si256(right, _mm256_set1_epi64x(0xFFFF_FFFF)),
            _mm256_srli_epi64::<32>(right),
        ];
        let positive = e.map(|e| _mm256_cmpgt_epi64(e, _mm256_setzero_si256()));
        let round: [__m256i; 2] = std::array::from_fn(|h| {
            let half = _mm256_sllv_epi64(_mm256_set1_epi64x(1), _mm256_add_epi64(e[h], _mm256_set1_epi64x(30)));
            _mm256_add_epi64(
                _mm256_set1_epi64x((1 << 62) + (1 << 30)),
                _mm256_and_si256(half, positive[h]),
            )
        });
        let sign = positive.map(|p| _mm256_and_si256(p, _mm256_set1_epi64x(1 << 31)));
        let shift = [
            _mm256_add_epi64(e[0], _mm256_set1_epi64x(31)),
            if PLAIN {
                _mm256_sub_epi64(e[1], _mm256_set1_epi64x(1))
            } else {
                _mm256_add_epi64(e[1], _mm256_set1_epi64x(31))
            },
        ];
        let bias = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(_mm256_set1_epi32(31), right));
        Requantizer {
            left,
            multiplier,
            odd_multiplier: _mm256_shuffle_epi32::<0b11_11_01_01>(multiplier),
            round,
            sign,
            shift,
            zero_point: _mm256_sub_epi32(zero_point, bias),
        }
    }

    /// Eight accumulators requantised, the output zero point added (wrapping); before the
    /// clamp.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn apply(&self, acc: __m256i) -> __m256i {
        let x = if PLAIN { acc } else { _mm256_sllv_epi32(acc, self.left) };
        let odd_x = _mm256_shuffle_epi32::<0b11_11_01_01>(x);
        let sum = |x: __m256i, m: __m256i, h: usize| {
            let p = _mm256_add_epi64(_mm256_mul_epi32(x, m), self.round[h]);
            // Every plain lane has `e >= 1`: one constant instead of a register per requantizer.
            let sign = if PLAIN {
                _mm256_set1_epi64x(1 << 31)
            } else {
                self.sign[h]
            };
            _mm256_srlv_epi64(_mm256_sub_epi64(p, _mm256_and_si256(x, sign)), self.shift[h])
        };
        let even = sum(x, self.multiplier, 0);
        let odd = sum(odd_x, self.odd_multiplier, 1);
        let odd = if PLAIN { odd } else { _mm256_slli_epi64::<32>(odd) };
        _mm256_add_epi32(_mm256_blend_epi32::<0b1010_1010>(even, odd), self.zero_point)
    }
}

/// Sixteen requantised `i32` (the zero point added; channels 0-7 in `a`, 8-15 in `b`) as
/// sixteen `i8` clamped to `[min, max]`. The packing saturates to `i16`, then `i8`, which
/// changes nothing that the clamp (inside `i8`) keeps.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn pack_i8(a: __m256i, b: __m256i, min: __m128i, max: __m128i) -> __m128i {
    let a16 = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
    let b16 = _mm_packs_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b));
    _mm_min_epi8(_mm_max_epi8(_mm_packs_epi16(a16, b16), min), max)
}

/// Sixteen requantised `i32` (the zero point added) as sixteen `i8` clamped to `[min, max]`,
/// from vectors that hold channels 0-3 and 8-11 (`a`) and 4-7 and 12-15 (`b`): `vpackssdw`
/// packs within 128-bit halves, so this order comes out of it as 0-15, and two shuffles fewer
/// than [`pack_i8`] are needed.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn pack_i8_halves(a: __m256i, b: __m256i, min: __m128i, max: __m128i) -> __m128i {
    let ab = _mm256_packs_epi32(a, b);
    let bytes = _mm_packs_epi16(_mm256_castsi256_si128(ab), _mm256_extracti128_si256::<1>(ab));
    _mm_min_epi8(_mm_max_epi8(bytes, min), max)
}

/// Stores the first `n` (`0..=16`) of the sixteen bytes `bytes` at `out`: one store for 16
/// or 8, otherwise through a local copy, so that nothing past `out + n` is written.
///
/// # Safety
/// `out` writable for `n` bytes.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn store_first(out: *mut i8, bytes: __m128i, n: usize) {
    debug_assert!(n <= 16);
    // SAFETY: `n` writable bytes at `out` (the contract); the copy reads a local array.
    unsafe {
        match n {
            16 => _mm_storeu_si128(out.cast(), bytes),
            8 => _mm_storel_epi64(out.cast(), bytes),
            _ => {
                let mut tmp = [0i8; 16];
                _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), out, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::i8::requant::multiply_by_quantized_multiplier;
    use crate::kernels::testkit::Rng;

    /// Eight lanes at a time against the scalar function: every shift, the extreme inputs and
    /// multipliers, the rounding ties, random values, mixed and plain lanes; and the packing
    /// against the scalar epilogue.
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
            for &m in &[i32::MAX, 0, 1 << 30, 3 << 29, 1, 1_234_567_890, (1 << 30) + 1] {
                for shift in -31..=30 {
                    cases.push((x, m, shift));
                }
            }
        }
        for _ in 0..if cfg!(miri) { 64 } else { 200_000 } {
            let x = (rng.bits() as i32) >> (rng.bits() % 32);
            // Mostly right shifts, so that many chunks are all plain.
            let shift = if rng.int(0, 3) == 0 {
                rng.int(-31, 30)
            } else {
                rng.int(-31, -1)
            };
            cases.push((x, (rng.bits() >> 33) as i32, shift));
        }
        for chunk in cases.chunks(8) {
            let get = |f: &dyn Fn(&(i32, i32, i32)) -> i32| -> [i32; 8] {
                std::array::from_fn(|i| chunk.get(i).map_or(0, f))
            };
            let (x, m) = (get(&|c| c.0), get(&|c| c.1));
            let (left, right) = (get(&|c| c.2.max(0)), get(&|c| (-c.2).max(0)));
            let zp = rng.int(-128, 127);
            let mut got = [0i32; 8];
            // SAFETY: AVX2 checked above; unaligned loads and stores of 8-lane arrays.
            unsafe {
                let load = |v: &[i32; 8]| _mm256_loadu_si256(v.as_ptr().cast());
                let r = requantize(load(&x), load(&m), load(&left), load(&right), _mm256_set1_epi32(zp));
                _mm256_storeu_si256(got.as_mut_ptr().cast(), r);
            }
            for (i, c) in chunk.iter().enumerate() {
                let want = multiply_by_quantized_multiplier(c.0, c.1, c.2).wrapping_add(zp);
                assert_eq!(got[i], want, "{c:?} + {zp}");
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
            let (lo, hi) = (rng.int(-128, 127), rng.int(-128, 127));
            let (lo, hi) = (lo.min(hi) as i8, lo.max(hi) as i8);
            let (mut got, mut halves) = ([0i8; 16], [0i8; 16]);
            // The order `pack_i8_halves` takes: 0-3 and 8-11, then 4-7 and 12-15.
            let order: [usize; 16] = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15];
            let shuffled: [i32; 16] = std::array::from_fn(|i| v[order[i]]);
            // SAFETY: AVX2 checked above; unaligned loads and stores of whole arrays.
            unsafe {
                let r = pack_i8_halves(
                    _mm256_loadu_si256(shuffled.as_ptr().cast()),
                    _mm256_loadu_si256(shuffled[8..].as_ptr().cast()),
                    _mm_set1_epi8(lo),
                    _mm_set1_epi8(hi),
                );
                _mm_storeu_si128(halves.as_mut_ptr().cast(), r);
                let r = pack_i8(
                    _mm256_loadu_si256(v.as_ptr().cast()),
                    _mm256_loadu_si256(v[8..].as_ptr().cast()),
                    _mm_set1_epi8(lo),
                    _mm_set1_epi8(hi),
                );
                _mm_storeu_si128(got.as_mut_ptr().cast(), r);
            }
            for ((g, h), &x) in got.iter().zip(&halves).zip(&v) {
                // The last step of `Requant::apply`.
                let want = x.clamp(lo as i32, hi as i32) as i8;
                assert_eq!(*g, want, "{x} in [{lo}, {hi}]");
                assert_eq!(*h, want, "{x} in [{lo}, {hi}], packed from halves");
            }
        }
    }
}
