//! Const-generic NHWC kernels, one file per kernel family.
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

/// Defines `$name::<ACT>`, the entry to the SIMD bodies that shape-generic code calls, over
/// `$body::<ACT>`: a shim that calls one of three non-generic functions, each `$body` for one
/// activation code.
///
/// The shape-generic kernels (`pointwise`, `conv2d`, ...) are instantiated in the crate that
/// expands `mobilenet!`. If they named `$body::<ACT>` directly, every such crate (each user
/// crate, each test binary) would compile all of the bodies below it again: they were 96% of
/// the LLVM IR of a 1.0-224 user crate, whose release build took 18 s with them and 2.4 s
/// without (dependencies built). The three functions are not generic, so they are compiled
/// once, with this crate; `ACT` is a constant in the shim, so a binary links only the
/// activations it uses (the binary's size did not change). The depthwise kernel goes further
/// and takes the activation as a value (`Shape::act`): it is compiled once for all three,
/// which halved this crate's own release build (35 s to 17 s) at no measurable cost.
macro_rules! per_activation {
    ($(#[$attr:meta])* $vis:vis unsafe fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?);) => {
        $(#[$attr])*
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        $vis unsafe fn $name<const ACT: u8>($($arg: $ty),*) {
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn none($($arg: $ty),*) {
                // SAFETY: the shim's contract, which is the body's.
                unsafe { $body::<{ $crate::ACT_NONE }>($($arg),*) }
            }
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn relu($($arg: $ty),*) {
                // SAFETY: as above.
                unsafe { $body::<{ $crate::ACT_RELU }>($($arg),*) }
            }
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn relu6($($arg: $ty),*) {
                // SAFETY: as above.
                unsafe { $body::<{ $crate::ACT_RELU6 }>($($arg),*) }
            }
            const { assert!(ACT <= $crate::ACT_RELU6, "unknown activation code") };
            // SAFETY: the caller's contract, passed on.
            unsafe {
                match ACT {
                    $crate::ACT_NONE => none($($arg),*),
                    $crate::ACT_RELU => relu($($arg),*),
                    _ => relu6($($arg),*),
                }
            }
        }
    };
}

pub mod conv;
mod conv_pairs;
mod conv_pairs_avx2;
mod conv_pairs_avx512;
pub mod depthwise;
mod depthwise_3x3_c8_avx512;
mod depthwise_3x3_simd;
pub mod fc;
mod gemm;
mod gemm_avx2;
mod gemm_avx512;
pub mod isa;
pub mod pointwise;
pub mod pool;
pub mod softmax;

pub use conv::{conv2d, ConvParams};
pub use depthwise::{depthwise, DepthwiseParams};
pub use fc::{fc, FcParams};
pub use isa::Isa;
pub use pointwise::{pointwise, PointwiseParams};
pub use pool::avg_pool;
pub use softmax::softmax;

/// The uniform face of every parameter type, so generated code builds and saves any layer the
/// same way.
pub trait Params: Sized {
    /// Packs folded PyTorch-layout `weight` and `bias`; `None` if their lengths do not fit.
    fn new(weight: &[f32], bias: &[f32]) -> Option<Self>;
    /// The PyTorch-layout weight and bias back.
    fn unpack(&self) -> (Vec<f32>, Vec<f32>);
}

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

forward_params!(
    ConvParams<KH, KW, CIN, COUT>,
    DepthwiseParams<KH, KW, C>,
    PointwiseParams<HW, CIN, COUT>,
    FcParams<IN, OUT>,
);
