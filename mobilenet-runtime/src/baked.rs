//! What the expansion of `mobilenet!("spec.yaml", weights = "model.tflite")` uses: the
//! activation arena the caller owns, and the helpers that let every layer's parameters be
//! plain `static` data.
//!
//! That form of the macro reads the quantized model at compile time, checks it against the
//! table, and writes each layer's weights, biases and requantization into the program in the
//! layout [`crate::kernels::i8::direct`] reads. Nothing is loaded, packed or allocated when
//! the program runs, which is what a microcontroller without a heap needs; the same code runs
//! anywhere, with or without `std`.
//!
//! The forward pass runs in one [`Arena`] of `ARENA_BYTES` bytes: two buffers that the layers
//! write in turn, the second of which also holds the input image, so that the image costs no
//! memory of its own.

use crate::quant::QuantElem;

/// The bytes one forward pass of a compile-time-weights network works in: `BYTES` is the
/// expansion's `ARENA_BYTES`. Put it where the memory is: a `static` (zeroed, so it costs
/// nothing in flash), or the stack.
#[derive(Clone)]
pub struct Arena<const BYTES: usize> {
    bytes: [i8; BYTES],
}

impl<const BYTES: usize> Arena<BYTES> {
    /// A zeroed arena; `const`, so that it can initialise a `static`.
    pub const fn new() -> Self {
        Arena { bytes: [0; BYTES] }
    }

    /// All of it, for the generated forward pass.
    pub fn bytes_mut(&mut self) -> &mut [i8; BYTES] {
        &mut self.bytes
    }

    /// `LEN` bytes from `AT`, seen as the model's element type: where the generated code puts
    /// the input image. A slot past the end is a compile error.
    pub fn slot_mut<E: QuantElem, const AT: usize, const LEN: usize>(&mut self) -> &mut [E; LEN] {
        const { assert!(AT + LEN <= BYTES, "Arena::slot_mut: the slot ends past the arena") };
        let (_, rest) = self.bytes.split_at_mut(AT);
        let (slot, _) = rest.split_at_mut(LEN);
        let slot: &mut [i8; LEN] = slot.try_into().expect("the slot is LEN bytes long");
        E::view_mut(slot)
    }
}

impl<const BYTES: usize> Default for Arena<BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BYTES: usize> core::fmt::Debug for Arena<BYTES> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Arena<{BYTES}>")
    }
}

/// Byte-string data seen as `i8`: lets the generated code write a layer's weights as one
/// `b"..."` literal, which compiles far faster than an array of as many integer tokens.
pub const fn i8s(bytes: &[u8]) -> &[i8] {
    // SAFETY: `u8` and `i8` have the same size and alignment and every bit pattern is valid
    // for both; the new slice covers exactly the old one's bytes, for the same lifetime.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) }
}

/// Moves an image written in the caller's element type into the int8 domain the kernels
/// compute in, in place (a uint8 value `v` becomes `v - 128`; int8 values stay).
pub fn enter_domain<E: QuantElem>(slot: &mut [i8]) {
    for v in slot {
        *v = E::from_bits(*v).to_domain();
    }
}

/// The network's output, from the int8 domain to the caller's element type.
pub fn leave_domain<E: QuantElem, const N: usize>(output: &[i8]) -> [E; N] {
    core::array::from_fn(|i| E::from_domain(output[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8s_reinterprets_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let signed = i8s(&all);
        assert_eq!(signed.len(), 256);
        for (&u, &s) in all.iter().zip(signed) {
            assert_eq!(s, u as i8);
        }
        static WEIGHTS: &[i8] = i8s(b"\x00\x7f\x80\xff");
        assert_eq!(WEIGHTS, &[0, 127, -128, -1]);
    }

    #[test]
    fn a_uint8_image_enters_and_leaves_the_int8_domain() {
        let mut arena = Arena::<8>::new();
        *arena.slot_mut::<u8, 3, 4>() = [0, 1, 128, 255];
        assert_eq!(arena.bytes_mut(), &[0, 0, 0, 0, 1, -128, -1, 0]);
        enter_domain::<u8>(&mut arena.bytes_mut()[3..7]);
        assert_eq!(&arena.bytes_mut()[3..7], &[-128, -127, 0, 127]);
        let back: [u8; 4] = leave_domain(&arena.bytes_mut()[3..7]);
        assert_eq!(back, [0, 1, 128, 255]);

        let mut arena = Arena::<4>::new();
        *arena.slot_mut::<i8, 0, 4>() = [-128, -1, 0, 127];
        enter_domain::<i8>(arena.bytes_mut());
        assert_eq!(arena.bytes_mut(), &[-128, -1, 0, 127]);
    }
}
