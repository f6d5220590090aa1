//! Const-generic NHWC kernels, laid out as data type x operator x instruction set:
//! `f32/<operator>/<isa>.rs` (see `docs/ARCHITECTURE.md` for the module graph and how to add
//! an instruction set or a data type). The int8 kernels of TFLite's quantized models live in
//! [`i8`](mod@i8), with the same layout and their own parameter types.
//!
//! # Interface (what generated code relies on)
//! - Activations are NHWC `f32` with batch 1: element `(y, x, c)` of an `H x W x C` map is at
//!   `(y * W + x) * C + c`.
//! - Every kernel takes `input: &[f32]` of at least `H * W * CIN` elements and
//!   `output: &mut [f32]` of at least `OH * OW * COUT`; only those prefixes are read/written.
//! - Padding is given as the zeros above (`PT`) and left of (`PL`) the input; the zeros below
//!   and right follow from `OH`/`OW`: any tap outside the input reads 0.
//! - `ACT` is [`crate::ACT_NONE`], [`crate::ACT_RELU`] or [`crate::ACT_RELU6`], applied after the
//!   bias (batch norm is already folded into weight and bias).
//! - Parameters come in per-family types (`ConvParams`, ...) built once, at load time, from
//!   PyTorch-layout folded weights; they hold whatever packed layout the kernel wants and can
//!   give the PyTorch layout back (`unpack`).
//!
//! # Paths
//! Each operator has portable kernels, which every architecture compiles, and on x86-64 AVX2
//! and AVX-512 kernels chosen at run time ([`isa`]): the path's kernels are looked up once,
//! when a parameter pack is built, in its table (`f32/config.rs`), and a layer call runs the
//! operator's one driver over them. The x86 code is compiled under the cfg `x86_simd`, which
//! `build.rs` sets on x86-64; `--cfg mobilenet_portable_only` leaves it out, so that an x86
//! machine can compile the runtime as aarch64 does (`tests/portable_build.rs`).

//!
//! Without the `std` feature only the portable int8 kernels that need no allocation are here
//! ([`i8::direct`], [`i8::avg_pool`], [`i8::softmax()`] and the requantization they share).

#[cfg(feature = "std")]
mod activation;
#[cfg(feature = "std")]
pub mod f32;
mod geometry;
pub mod i8;
#[cfg(feature = "std")]
pub mod isa;
#[cfg(feature = "std")]
mod shared_ptr;
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod testkit;
#[cfg(all(x86_simd, feature = "std"))]
mod x86;

#[cfg(feature = "std")]
pub use self::f32::conv::{conv2d, ConvParams};
#[cfg(feature = "std")]
pub use self::f32::depthwise::{depthwise, DepthwiseParams};
#[cfg(feature = "std")]
pub use self::f32::fc::{fc, FcParams};
#[cfg(feature = "std")]
pub use self::f32::pointwise::{pointwise, PointwiseParams};
#[cfg(feature = "std")]
pub use self::f32::pool::avg_pool;
#[cfg(feature = "std")]
pub use self::f32::softmax::softmax;
#[cfg(feature = "std")]
pub use isa::Isa;

#[cfg(feature = "std")]
/// The uniform face of every parameter type, so generated code builds and saves any layer the
/// same way.
pub trait Params: Sized {
    /// Packs folded PyTorch-layout `weight` and `bias`; `None` if their lengths do not fit.
    fn new(weight: &[f32], bias: &[f32]) -> Option<Self>;
    /// The PyTorch-layout weight and bias back.
    fn unpack(&self) -> (Vec<f32>, Vec<f32>);
}

#[cfg(feature = "std")]
/// Implements [`Params`] by forwarding to the type's own `new` and `unpack`.
macro_rules! forward_params {
    ($($ty:ident<$($c:ident),+>),+ $(,)?) => {$(
        impl<$(const $c: usize),+> Params for $ty<$($c),+> {
            fn new(weight: &[f32], bias: &[f32]) -> Option<Self> {
                $ty::new(weight, bias)
            }
            fn unpack(&self) -> (Vec<f32>, Vec<f32>) {
                $ty::unpack(self)
            }
        }
    )+};
}

#[cfg(feature = "std")]
forward_params!(
    ConvParams<KH, KW, CIN, COUT>,
    DepthwiseParams<KH, KW, C>,
    PointwiseParams<HW, CIN, COUT>,
    FcParams<IN, OUT>,
);
