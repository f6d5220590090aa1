//! The cost model: multiply-adds and parameters per layer, counted as the paper counts them.
//!
//! Mult-adds cover convolutions and the fc layer (pooling, batch norm, ReLU and softmax are not
//! counted); parameters are convolution and fc weights only, no biases and no batch norm. That
//! convention reproduces Table 2's shares to the digit. `stored` counts what a weights file
//! holds on top of that: for a float model four batch-norm vectors per convolution and the fc
//! bias; for a quantized one (whose batch norm is folded into int32 biases) one bias per output
//! channel.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::limits::{MAX_ARENA_FLOATS, MAX_MULT_ADDS, MAX_STORED_PARAMS};
use crate::numbers::group_digits;
use crate::shapes::{fmt_shape, Layer, Plan};
use crate::spec::{Kind, Precision};

/// Costs of one layer.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Weights, the paper's convention.
    pub params: u64,
    /// Every stored number (BN and bias included).
    pub stored: u64,
    /// Biases: one per output channel of a convolution or fc (batch norm folded into them).
    pub biases: u64,
    /// Multiply-adds, the paper's convention.
    pub mult_adds: u64,
}

/// The layer groups of Table 2, named as specs name them in `paper.breakdown`.
pub fn group(layer: &Layer) -> Option<String> {
    let [kh, kw] = layer.kernel;
    match layer.row.kind {
        Kind::Conv => Some(format!("conv_{kh}x{kw}")),
        Kind::ConvDw => Some(format!("conv_dw_{kh}x{kw}")),
        Kind::Fc => Some("fc".to_string()),
        Kind::AvgPool | Kind::Softmax => None,
    }
}

/// Counts one layer; `None` if a count overflows `u64` (impossible within the limits, but a
/// count that cannot be made is an error, not a wrapped number).
pub fn layer_cost(layer: &Layer, precision: Precision) -> Option<Cost> {
    let mut c = float_cost(layer)?;
    if precision.is_quantized() {
        c.stored = c.params.checked_add(c.biases)?;
    }
    Some(c)
}

fn float_cost(layer: &Layer) -> Option<Cost> {
    let [kh, kw] = layer.kernel.map(|k| k as u64);
    let [_, _, cin] = layer.input.map(|x| x as u64);
    let [oh, ow, cout] = layer.output.map(|x| x as u64);
    let mul = |a: u64, b: u64| a.checked_mul(b);
    Some(match layer.row.kind {
        Kind::Conv => {
            let params = mul(mul(mul(kh, kw)?, cin)?, cout)?;
            Cost {
                params,
                stored: params.checked_add(mul(4, cout)?)?,
                biases: cout,
                mult_adds: mul(mul(params, oh)?, ow)?,
            }
        }
        Kind::ConvDw => {
            let params = mul(mul(kh, kw)?, cin)?;
            Cost {
                params,
                stored: params.checked_add(mul(4, cin)?)?,
                biases: cin,
                mult_adds: mul(mul(params, oh)?, ow)?,
            }
        }
        Kind::Fc => {
            let params = mul(cin, cout)?;
            Cost {
                params,
                stored: params.checked_add(cout)?,
                biases: cout,
                mult_adds: params,
            }
        }
        Kind::AvgPool | Kind::Softmax => Cost::default(),
    })
}

impl Cost {
    /// The sum of two costs, `None` on overflow.
    fn checked_add(self, other: Cost) -> Option<Cost> {
        Some(Cost {
            params: self.params.checked_add(other.params)?,
            stored: self.stored.checked_add(other.stored)?,
            biases: self.biases.checked_add(other.biases)?,
            mult_adds: self.mult_adds.checked_add(other.mult_adds)?,
        })
    }
}

/// Totals of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    /// Per layer, in order.
    pub layers: Vec<Cost>,
    /// Sum of all layers.
    pub total: Cost,
    /// Sum per Table 2 group, in order of first appearance.
    pub groups: Vec<(String, Cost)>,
    /// Elements (of `precision`) of the two ping-pong activation buffers the forward pass uses.
    pub arena: [usize; 2],
    /// The number type of weights and activations.
    pub precision: Precision,
    /// How the two buffers are laid out.
    pub layout: ArenaLayout,
}

/// Which forward pass the arena is planned for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaLayout {
    /// The runtime's `Model`: the caller's image is read where it is, and the first buffer is
    /// padded against 4K aliasing ([`ARENA_SKEW_BYTES`]).
    Runtime,
    /// Compile-time weights (`weights = ...`), for memory-bound targets: the image is written
    /// into the second buffer (which layer 0 does not write), and nothing is padded.
    Baked,
}

impl Totals {
    /// Activation memory in elements.
    pub fn arena_len(&self) -> usize {
        self.arena[0] + self.arena[1]
    }

    /// Activation memory in bytes.
    pub fn arena_bytes(&self) -> usize {
        self.arena_len() * self.precision.bytes()
    }

    /// Bytes the loaded weights take as the file stores them: f32 numbers for a float model
    /// (batch norm included); int8 or uint8 weights and int32 biases for a quantized one.
    pub fn weight_bytes(&self) -> u64 {
        match self.precision {
            Precision::Float32 => 4 * self.total.stored,
            Precision::Int8 | Precision::Uint8 => self.total.params + 4 * self.total.biases,
        }
    }
}

/// Counts every layer and plans the activation buffers. A total past its limit
/// ([`MAX_STORED_PARAMS`], [`MAX_MULT_ADDS`], [`MAX_ARENA_FLOATS`]) or a count that
/// overflows is reported at the row that takes it there, and gives `None`.
pub fn count(plan: &Plan, precision: Precision, layout: ArenaLayout, ds: &mut Diagnostics) -> Option<Totals> {
    let mut layers = Vec::with_capacity(plan.layers.len());
    let mut total = Cost::default();
    let mut groups: Vec<(String, Cost)> = Vec::new();
    for layer in &plan.layers {
        let overflow = || {
            Diagnostic::at(
                &layer.row.loc,
                format!(
                    "{}: counting the network's cost up to this row overflows 64 bits",
                    layer.row.label()
                ),
            )
        };
        let Some(c) = layer_cost(layer, precision) else {
            ds.push(overflow());
            return None;
        };
        let Some(sum) = total.checked_add(c) else {
            ds.push(overflow());
            return None;
        };
        total = sum;
        for (what, value, limit) in [
            ("the weights' stored numbers to", total.stored, MAX_STORED_PARAMS),
            ("one image's mult-adds to", total.mult_adds, MAX_MULT_ADDS),
        ] {
            if value > limit {
                let message = format!(
                    "{} brings {what} {}, above the limit of {}",
                    layer.row.label(),
                    group_digits(value as i64),
                    group_digits(limit as i64)
                );
                ds.push(crate::diagnostics::beyond_limit(&layer.row.loc, message));
                return None;
            }
        }
        layers.push(c);
        if let Some(g) = group(layer) {
            match groups.iter_mut().find(|(name, _)| *name == g) {
                // Within the total, which did not overflow.
                Some((_, sum)) => *sum = sum.checked_add(c)?,
                None => groups.push((g, c)),
            }
        }
    }
    let arena = arena_plan(plan, precision, layout);
    let elements = arena.iter().sum::<u64>();
    // The limit is on bytes: a quantized arena may hold four times the values.
    let limit = MAX_ARENA_FLOATS * 4 / precision.bytes() as u64;
    if elements > limit {
        // The largest map decides it: that row is what to change.
        let largest = plan
            .layers
            .iter()
            .max_by_key(|l| l.output.iter().map(|&x| x as u64).product::<u64>())?;
        let unit = match precision {
            Precision::Float32 => "floats",
            Precision::Int8 | Precision::Uint8 => "bytes",
        };
        let message = format!(
            "{} outputs {}: the activation arena would hold {} {unit}, above the limit of {}",
            largest.row.label(),
            fmt_shape(largest.output),
            group_digits(elements as i64),
            group_digits(limit as i64)
        );
        ds.push(crate::diagnostics::beyond_limit(&largest.row.loc, message));
        return None;
    }
    Some(Totals {
        layers,
        total,
        groups,
        arena: arena.map(|n| n as usize),
        precision,
        layout,
    })
}

/// Sizes of the two buffers layers alternate between: layer `i` writes buffer `i % 2` and
/// reads the other. Layer 0 reads the caller's image where it is ([`ArenaLayout::Runtime`])
/// or in the second buffer ([`ArenaLayout::Baked`]), which then holds the image too.
///
/// For the runtime the first buffer is padded so that the second starts [`ARENA_SKEW_BYTES`]
/// past a 4 KiB boundary relative to the first (see there). Counted in elements of
/// `precision`, in `u64`, where a map of limited sides and channels cannot overflow, so that
/// [`count`] can compare it with its limit.
pub fn arena_plan(plan: &Plan, precision: Precision, layout: ArenaLayout) -> [u64; 2] {
    let mut sizes = [0u64; 2];
    for (i, l) in plan.layers.iter().enumerate() {
        let n = l.output.iter().map(|&x| x as u64).product::<u64>();
        sizes[i % 2] = sizes[i % 2].max(n);
    }
    match layout {
        ArenaLayout::Runtime => {
            let bytes = precision.bytes() as u64;
            sizes[0] = skewed(sizes[0], PAGE_BYTES / bytes, ARENA_SKEW_BYTES / bytes);
        }
        ArenaLayout::Baked => {
            let input = plan.input.iter().map(|&x| x as u64).product::<u64>();
            sizes[1] = sizes[1].max(input);
        }
    }
    sizes
}

/// A 4 KiB page.
const PAGE_BYTES: u64 = 4096;

/// Where the second activation buffer starts relative to a page boundary of the first, in
/// bytes. Feature maps are mostly whole pages (112x112x64 floats, 14x14x512), so
/// back to back the two buffers would lie a whole number of pages apart, and a layer's
/// stores would share their low 12 address bits with the loads of the input pixels next to
/// them: the CPU then suspects each such load of depending on the store (4K aliasing) and
/// holds it back. Measured on an AMD EPYC (AVX2), depthwise alone: the 7x7x1024 layer took
/// 106 us with the buffers a whole number of pages apart and 62 us at 1 KiB past; 14x14x512
/// 57 and 44. Some skews were as bad as none for one shape or another (0.25, 0.75, 2, 2.5,
/// 3.5 KiB); 1 KiB, seen from either buffer (1 and 3 KiB), was good for every shape tried
/// but 14x14x512 at 3 KiB.
pub const ARENA_SKEW_BYTES: u64 = 1024;

/// `n` rounded up to the next length that is `skew` past a whole `page` (both in elements).
fn skewed(n: u64, page: u64, skew: u64) -> u64 {
    let base = n.saturating_sub(skew).next_multiple_of(page);
    base + skew
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostics;
    use std::path::Path;

    fn totals(text: &str) -> Totals {
        let spec = crate::spec::load(
            Path::new("s.yaml"),
            "s.yaml",
            &crate::spec::tests::mem(&[("s.yaml", text)]),
        )
        .unwrap();
        let mut ds = Diagnostics::new();
        let plan = infer_ok(&spec, &mut ds);
        let t = count(&plan, spec.precision, ArenaLayout::Runtime, &mut ds);
        ds.into_result(t).unwrap().unwrap()
    }

    fn infer_ok(spec: &crate::spec::Spec, ds: &mut Diagnostics) -> Plan {
        let p = crate::shapes::infer(spec, ds);
        std::mem::take(ds).into_result(p).unwrap().unwrap()
    }

    #[test]
    fn small_spec_by_hand() {
        let t = totals(crate::spec::tests::SMALL);
        // conv 3x3x3x8 on a 4x4 output; dw 3x3x8 and pw 8x8 twice on 4x4; fc 8x10.
        assert_eq!(
            t.layers[0],
            Cost {
                params: 216,
                stored: 216 + 32,
                biases: 8,
                mult_adds: 216 * 16
            }
        );
        assert_eq!(t.layers[1].mult_adds, 72 * 16);
        assert_eq!(t.layers[2].params, 64);
        assert_eq!(
            t.layers[6],
            Cost {
                params: 80,
                stored: 90,
                biases: 10,
                mult_adds: 80
            }
        );
        assert_eq!(t.total.params, 216 + 2 * (72 + 64) + 80);
        let names: Vec<_> = t.groups.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, ["conv_3x3", "conv_dw_3x3", "conv_1x1", "fc"]);
        // 4x4x8 = 128 is the largest map in both buffers; the first is padded to 256, so
        // that the second starts 1 KiB past a page of the first.
        assert_eq!(t.arena, [256, 128]);
    }

    #[test]
    fn the_first_buffer_ends_a_quarter_page_past_a_page() {
        for (n, padded) in [
            (0, 256),
            (1, 256),
            (256, 256),
            (257, 1280),
            (1280, 1280),
            (112 * 112 * 64, 112 * 112 * 64 + 256),
        ] {
            assert_eq!(skewed(n, 1024, 256), padded, "{n}");
            assert_eq!(skewed(n, 1024, 256) % 1024, 256);
        }
    }
}
