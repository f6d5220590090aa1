//! The contract between the int8 standard-convolution driver (`mod.rs`) and its kernels: the
//! shape as runtime values ([`Shape`]), the packed filter ([`Filter`]), a kernel's signature
//! ([`RowsFn`]) and what an instruction set's kernels declare ([`ConvKernels`]: how they pick
//! a kernel for a shape and how they lay a layer out at load time).

use crate::kernels::i8::requant::ChannelRequant;
use std::ops::Range;

/// One convolution call's shapes, as runtime values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub ow: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub s: usize,
    pub pt: usize,
    pub pl: usize,
}

/// A convolution's packed filter.
pub(crate) struct Filter<'a> {
    /// `w - weight_zero_point` as `i16`, `[kh][kw][cin][coutp]`: the reduction index
    /// `(ky * kw + kx) * cin + ci` major, output channels contiguous.
    pub weights: &'a [i16],
    /// Output channels per reduction step in `weights`: `cout` rounded up, the rest zero.
    pub coutp: usize,
    /// `coutp` values (raw: padded taps contribute nothing, so no zero point is folded in).
    pub bias: &'a [i32],
    /// `coutp` channels.
    pub rq: &'a ChannelRequant,
    pub input_zero_point: i32,
    /// The path's own packing of the layer, if it has kernels.
    // Read only by the SIMD kernels.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    pub packed: Option<&'a Packed>,
}

/// A layer as a path's kernels read it, laid out once, at load time, by the path's
/// [`ConvKernels::pack`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Packed {
    pub weights: Vec<i16>,
    /// The bias with the input zero point folded in (`bias - izp * sum w`).
    pub bias: Vec<i32>,
    /// The requantisation, padded to the kernels' channel blocks.
    pub rq: ChannelRequant,
    /// Vectors of 8 output channels per block.
    pub nv: usize,
}

/// The layer dimensions a packing needs (the map's size is known only at the call).
#[derive(Clone, Copy, Debug)]
// Read only by the SIMD kernels' packing.
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(crate) struct Dims {
    pub kh: usize,
    pub kw: usize,
    pub cin: usize,
    pub cout: usize,
}

/// What an instruction set brings to standard convolutions.
pub(crate) struct ConvKernels {
    /// Its kernel for a shape, if it has one for it (asked once per call).
    pub pick: fn(sh: &Shape) -> Option<RowsFn>,
    /// Lays a layer out for its kernels, from the portable packing.
    pub pack: fn(f: &Filter, d: Dims) -> Packed,
}

/// Output rows `rows` of a convolution of shape `sh` from `input` into `output`.
///
/// # Safety
/// The CPU must run the kernel's instruction set. `input` must be readable for
/// `h * w * cin` bytes and `output` writable for output rows `rows` (`ow * cout` bytes each,
/// from row 0 at `output`) with nothing else accessing them; `f` packed for `sh`.
pub(crate) type RowsFn = unsafe fn(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, rows: Range<usize>);
