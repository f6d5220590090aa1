//! The contract between the int8 standard-convolution driver (`mod.rs`) and its kernels: the
//! shape as runtime values ([`Shape`]), the packed filter ([`Filter`]) and a kernel's
//! signature ([`RowsFn`]).

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
}

/// Output rows `rows` of a convolution of shape `sh` from `input` into `output`.
///
/// # Safety
/// The CPU must run the kernel's instruction set. `input` must be readable for
/// `h * w * cin` bytes and `output` writable for output rows `rows` (`ow * cout` bytes each,
/// from row 0 at `output`) with nothing else accessing them; `f` packed for `sh`.
// The portable kernel is called directly; instruction sets' kernels come through this type.
#[allow(dead_code)]
pub(crate) type RowsFn = unsafe fn(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, rows: Range<usize>);
