//! The contract between the int8 matrix-product driver (`driver.rs`) and its micro-kernels
//! (one file per instruction set: `scalar.rs`, `avx2.rs`, `avx_vnni.rs`, `avx512_vnni.rs`):
//! what one micro-kernel call computes ([`Sweep`]) and what each instruction set declares about
//! its kernels ([`GemmConfig`]: the function, the panel layout it reads, how it reads the rows,
//! its tile sizes).
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
    /// `[k / 4][width][4]` of `i8` weights: four consecutive reduction steps side by side per
    /// channel, as `vpdpbusd` multiplies quads (the reduction padded to [`GemmConfig::kr`]
    /// with zero weights). Every 16 channels of a panel are one vector, in the order of
    /// [`pairs_position`] for 16, so that each half of the vector packs as a `Pairs` one
    /// does ([`quads_position`]). Only for layers whose weights minus their zero point fit
    /// in `i8`.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    Quads,
}

/// Where channel `j` of a [`Layout::Quads`] panel sits: in its group of 16, at the position
/// [`pairs_position`] gives a 16-wide pair panel.
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(crate) fn quads_position(j: usize) -> usize {
    j / 16 * 16 + pairs_position(j % 16, 16)
}

/// How a config reads the rows of `a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rows {
    /// The raw `i8` bytes at [`Sweep::a`], `lda` apart, `k` of them per row.
    Bytes,
    /// Widened to `i16` by the driver ([`Sweep::wide`]): each pass's rows once, instead of
    /// every panel's sweep widening them again.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    Widened,
    /// Made unsigned by the driver, `x + 128` (the sign bit flipped), as `vpdpbusd` wants
    /// its first operand, and padded with zeros to `kp`: [`Sweep::a`] then points at these
    /// rows and `lda` is `kp`. The panels fold `128 * sum w` out of the bias to make up for
    /// it.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    Flipped,
}

/// A panel's weights: `i16` for the layouts of widened products, `i8` for [`Layout::Quads`].
#[derive(Clone, Copy)]
pub(crate) enum PanelWeights<'a> {
    /// [`Layout::KMajor`] or [`Layout::Pairs`].
    Wide(&'a [i16]),
    /// [`Layout::Quads`].
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    Bytes(&'a [i8]),
}

impl<'a> PanelWeights<'a> {
    /// The `i16` weights.
    ///
    /// # Panics
    /// For `i8` weights: only the configs whose panels are `i16` call it.
    pub(crate) fn wide(self) -> &'a [i16] {
        match self {
            PanelWeights::Wide(w) => w,
            PanelWeights::Bytes(_) => unreachable!("an i16 kernel was given an i8 panel"),
        }
    }

    /// The `i8` weights.
    ///
    /// # Panics
    /// For `i16` weights: only the configs whose panels are `i8` call it.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    pub(crate) fn bytes(self) -> &'a [i8] {
        match self {
            PanelWeights::Bytes(w) => w,
            PanelWeights::Wide(_) => unreachable!("an i8 kernel was given an i16 panel"),
        }
    }
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
    /// null; for [`Rows::Flipped`], the driver's flipped rows).
    pub a: *const i8,
    pub lda: usize,
    /// Row 0, channel 0 of the panel in `c`.
    pub c: *mut i8,
    pub ldc: usize,
    pub rows: usize,
    /// Reduction length: `a` is read at `row * lda + 0..k`, never beyond.
    pub k: usize,
    /// For a config that reads widened inputs ([`Rows::Widened`]): the same rows as `a`
    /// as `i16`, each `kp` values (`k` rounded up to the config's `kr`, zeros past `k`) and
    /// `kp` apart; null otherwise.
    // Read only by the SIMD kernels.
    #[cfg_attr(not(x86_simd), allow(dead_code))]
    pub wide: *const i16,
    /// The panel in the config's [`Layout`], `kp x width` (`kp` is `k` rounded up to the
    /// config's `kr`).
    pub w: PanelWeights<'a>,
    /// `width` bias values with the input zero point (and for [`Rows::Flipped`] the 128)
    /// folded in.
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
/// at `r * kp + 0..kp` holding those rows' inputs; for a flipped one, `s.a` readable at
/// `r * lda + 0..kp` holding them flipped; the panel, bias and requantisation as wide as the
/// config packs.
pub(crate) type SweepFn = unsafe fn(s: &Sweep);

/// What one instruction set brings to the int8 matrix product: its micro-kernel and the panel
/// layout it reads. Chosen once per CPU (`i8/config.rs`), stored with the packed weights.
pub(crate) struct GemmConfig {
    /// A short name, for tests and profiles.
    pub name: &'static str,
    /// Width of every panel but the last.
    pub nr: usize,
    /// Channels per vector: the last panel is its channels rounded up to this.
    pub lanes: usize,
    /// The reduction is padded (with zero weights) to a multiple of this.
    pub kr: usize,
    pub layout: Layout,
    /// How the sweep reads the rows of `a`.
    pub rows: Rows,
    /// The micro-kernel: one panel over a block of rows.
    pub sweep: SweepFn,
}
