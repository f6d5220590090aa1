//! The contract between the int8 matrix-product driver (`driver.rs`) and its micro-kernels
//! (one file per instruction set: `scalar.rs`, `avx2.rs`): what one micro-kernel call computes
//! ([`Sweep`]) and what each instruction set declares about its kernels ([`GemmConfig`]: the
//! function, the panel layout it reads, its tile sizes).
//!
//! The product is exact integer arithmetic: `acc[r][co] = bias[co] + sum_k a[r][k] * w[k][co]`
//! in wrapping `i32`, with `a` the raw `i8` inputs, `w` the weights minus their zero point
//! (`i16`, `-255..=255`) and the input zero point folded into `bias` at pack time
//! (`bias - input_zero_point * sum_k w`, exact modulo 2^32 like every sum here); then each
//! output is requantised ([`super::super::requant::Requant::apply`]). So every path gives the
//! same bits, and the reference checks them for equality.

/// How a config lays a panel's weights out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `[k][width]`: one row of `width` channels per reduction step.
    KMajor,
    /// `[k / 2][width][2]`: the weights of two consecutive reduction steps side by side per
    /// channel, as `vpmaddwd` multiplies pairs (the reduction padded to [`GemmConfig::kr`] with
    /// zero weights). A 16-wide panel holds its channels in the order 0-3, 8-11, 4-7, 12-15
    /// ([`pairs_position`]), the order in which `vpackssdw`, which packs within 128-bit halves,
    /// takes its two vectors: so the packing gives 16 bytes in channel order with no shuffle.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    Pairs,
}

/// Where channel `j` of a panel `width` wide sits in a [`Layout::Pairs`] panel.
pub(crate) fn pairs_position(j: usize, width: usize) -> usize {
    if width == 16 {
        (j % 8 / 4) * 8 + (j / 8) * 4 + j % 4
    } else {
        j
    }
}

/// A panel's requantisation, `width` values per array (see `requant::ChannelRequant`).
#[derive(Clone, Copy)]
pub(crate) struct PanelRequant<'a> {
    pub multiplier: &'a [i32],
    pub left: &'a [i32],
    pub right: &'a [i32],
    pub zero_point: i32,
    pub min: i8,
    pub max: i8,
}

/// One panel over a block of rows: what every path's `sweep` computes.
pub(crate) struct Sweep<'a> {
    /// First row of `a` (not read by a config that reads widened rows, and then possibly
    /// null).
    pub a: *const i8,
    pub lda: usize,
    /// Row 0, channel 0 of the panel in `c`.
    pub c: *mut i8,
    pub ldc: usize,
    pub rows: usize,
    /// Reduction length: `a` is read at `row * lda + 0..k`, never beyond.
    pub k: usize,
    /// For a config that reads widened inputs ([`GemmConfig::widened`]): the same rows as `a`
    /// as `i16`, each `kp` values (`k` rounded up to the config's `kr`, zeros past `k`) and
    /// `kp` apart; null otherwise.
    // Read only by the SIMD kernels.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    pub wide: *const i16,
    /// The panel in the config's [`Layout`], `kp x width` (`kp` is `k` rounded up to the
    /// config's `kr`).
    pub w: &'a [i16],
    /// `width` bias values with the input zero point folded in.
    pub bias: &'a [i32],
    pub rq: PanelRequant<'a>,
    /// Channels to store, `<= width`.
    pub n: usize,
}

/// Sweeps one panel over `s.rows` rows (see [`Sweep`]).
///
/// # Safety
/// The CPU must run the instruction set of the [`GemmConfig`] this came from; `s.a` must be
/// readable at `r * lda + 0..k` and `s.c` writable at `r * ldc + 0..n` for every row
/// `r < rows`, nothing else accessing those outputs; for a widened config, `s.wide` readable
/// at `r * kp + 0..kp` holding those rows' inputs; the panel, bias and requantisation as
/// wide as the config packs.
pub(crate) type SweepFn = unsafe fn(s: &Sweep);

/// What one instruction set brings to the int8 matrix product: its micro-kernel and the panel
/// layout it reads. Chosen once per CPU (`i8/config.rs`), stored with the packed weights.
pub(crate) struct GemmConfig {
    /// Width of every panel but the last.
    pub nr: usize,
    /// Channels per vector: the last panel is its channels rounded up to this.
    pub lanes: usize,
    /// The reduction is padded (with zero weights) to a multiple of this.
    pub kr: usize,
    pub layout: Layout,
    /// Whether the sweep reads the inputs widened to `i16` ([`Sweep::wide`]): the driver
    /// widens each pass's rows once, instead of every panel's sweep widening them again.
    pub widened: bool,
    /// The micro-kernel: one panel over a block of rows.
    pub sweep: SweepFn,
}
