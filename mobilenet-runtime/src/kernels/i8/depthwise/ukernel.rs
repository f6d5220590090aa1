//! The contract between the int8 depthwise driver (`mod.rs`) and its kernels: the shape of a
//! call as runtime values ([`Shape`]), the packed filter ([`Filter`]), a kernel's signature
//! ([`RowsFn`]) and how an instruction set picks its 3x3 kernel for a shape ([`Pick3x3`]).

use crate::kernels::i8::requant::ChannelRequant;
use std::ops::Range;

/// One depthwise call's shapes, as runtime values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub s: usize,
    pub pt: usize,
    pub pl: usize,
}

/// A depthwise layer's packed filter: what every kernel reads.
pub(crate) struct Filter<'a> {
    /// `w - weight_zero_point` as `i16`, `[kh][kw][cp]` (the kernel's own layout where its
    /// config says so; the portable kernel reads this one).
    pub weights: &'a [i16],
    /// Channels per tap in `weights`: `c` rounded up to whole vectors, the rest zero.
    pub cp: usize,
    /// `cp` values (raw bias: padded taps contribute nothing, so no zero point is folded in).
    pub bias: &'a [i32],
    /// `cp` channels.
    pub rq: &'a ChannelRequant,
    pub input_zero_point: i32,
}

/// Output rows `rows` of a depthwise convolution of shape `sh` from `input` into `output`.
///
/// # Safety
/// The CPU must run the kernel's instruction set. `input` must be readable for `h * w * c`
/// bytes and `output` writable for output rows `rows` (`ow * c` bytes each, from row 0 at
/// `output`) with nothing else accessing them; `f` packed for `sh`.
pub(crate) type RowsFn = unsafe fn(input: *const i8, f: &Filter, output: *mut i8, sh: &Shape, rows: Range<usize>);

/// An instruction set's 3x3 kernel for a shape, if it has one for it (made once per call).
pub(crate) type Pick3x3 = fn(sh: &Shape) -> Option<RowsFn>;
