//! The two element types a quantized model's caller sees, and the affine map between their
//! values and real numbers.

/// How a tensor's integers stand for real numbers: `real = scale * (q - zero_point)`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Quantization {
    /// The real value of one step.
    pub scale: f32,
    /// The integer that stands for 0.0, in the tensor's own type (0..=255 for uint8).
    pub zero_point: i32,
}

impl Quantization {
    /// The real number `q` stands for.
    pub fn dequantize(&self, q: i32) -> f32 {
        self.scale * (q - self.zero_point) as f32
    }

    /// The integer nearest to `real` (ties away from zero, as TFLite rounds), before clamping
    /// to the element type.
    #[cfg(feature = "std")]
    pub fn quantize_unclamped(&self, real: f32) -> i64 {
        (real / self.scale).round() as i64 + i64::from(self.zero_point)
    }
}

/// `u8` or `i8`: the element type of a quantized model's input and output.
pub trait QuantElem: Copy + Default + Send + Sync + core::fmt::Debug + PartialEq + 'static {
    /// The type's name as TFLite writes it (`UINT8`, `INT8`).
    const NAME: &'static str;
    /// What the int8 kernels compute on: `v - 128` for `u8`, `v` for `i8`.
    fn to_domain(self) -> i8;
    /// The inverse of [`QuantElem::to_domain`].
    fn from_domain(v: i8) -> Self;
    /// The value whose bits are `bits`.
    fn from_bits(bits: i8) -> Self;
    /// Bytes seen as this type, bit for bit (where a compile-time-weights network takes its
    /// image: [`crate::baked::Arena::slot_mut`]).
    fn view_mut<const N: usize>(bytes: &mut [i8; N]) -> &mut [Self; N];
    /// The value as an integer.
    fn to_i32(self) -> i32;
    /// `v` clamped to the type's range.
    fn saturate(v: i64) -> Self;
}

impl QuantElem for u8 {
    const NAME: &'static str = "UINT8";
    fn to_domain(self) -> i8 {
        (self ^ 0x80) as i8
    }
    fn from_domain(v: i8) -> Self {
        (v as u8) ^ 0x80
    }
    fn from_bits(bits: i8) -> Self {
        bits as u8
    }
    fn view_mut<const N: usize>(bytes: &mut [i8; N]) -> &mut [u8; N] {
        // SAFETY: `[i8; N]` and `[u8; N]` have the same size and alignment and every bit
        // pattern is valid for both; the new reference takes over the old one's borrow.
        unsafe { &mut *(bytes as *mut [i8; N]).cast::<[u8; N]>() }
    }
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    fn saturate(v: i64) -> Self {
        v.clamp(0, 255) as u8
    }
}

impl QuantElem for i8 {
    const NAME: &'static str = "INT8";
    fn to_domain(self) -> i8 {
        self
    }
    fn from_domain(v: i8) -> Self {
        v
    }
    fn from_bits(bits: i8) -> Self {
        bits
    }
    fn view_mut<const N: usize>(bytes: &mut [i8; N]) -> &mut [i8; N] {
        bytes
    }
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    fn saturate(v: i64) -> Self {
        v.clamp(-128, 127) as i8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uint8_domain_shift_is_a_bijection_that_keeps_order() {
        for v in 0..=255u8 {
            assert_eq!(i32::from(v.to_domain()), i32::from(v) - 128);
            assert_eq!(u8::from_domain(v.to_domain()), v);
        }
        for v in -128..=127i8 {
            assert_eq!(i8::from_domain(v.to_domain()), v);
        }
    }

    #[test]
    fn quantize_rounds_half_away_from_zero_and_saturates() {
        let q = Quantization {
            scale: 0.5,
            zero_point: 128,
        };
        assert_eq!(q.quantize_unclamped(0.25), 129);
        assert_eq!(q.quantize_unclamped(-0.25), 127);
        assert_eq!(u8::saturate(q.quantize_unclamped(1000.0)), 255);
        assert_eq!(q.dequantize(130), 1.0);
    }
}
