//! Int8 weights packed into column panels for one instruction set's micro-kernels: panel `b`
//! holds output channels `b * nr ..` (the last panel only as wide as its channels rounded up
//! to one vector), each weight minus the weight zero point as `i16`, in the layout the config
//! names ([`Layout`]); the bias with the input zero point folded in, and the requantisation,
//! padded to whole panels.

use super::ukernel::{pairs_position, GemmConfig, Layout, PanelRequant};
use crate::kernels::i8::config;
use crate::kernels::i8::quant::QuantConv;
use crate::kernels::i8::requant::ChannelRequant;
use crate::kernels::isa::Isa;

/// A `k x n` product's weights and epilogue, packed for one [`Isa`].
#[derive(Clone)]
pub(crate) struct Panels {
    isa: Isa,
    /// The kernels that read these panels.
    pub(super) cfg: &'static GemmConfig,
    /// Reduction length.
    pub(super) k: usize,
    /// `k` rounded up to `cfg.kr`.
    pub(super) kp: usize,
    /// Output channels.
    pub(super) n: usize,
    /// Width of every panel but the last.
    pub(super) nr: usize,
    /// The panels back to back.
    pub(super) data: Vec<i16>,
    /// `bias - input_zero_point * sum_k (w - weight_zero_point)`, padded to `count() * nr`.
    pub(super) bias: Vec<i32>,
    /// Padded to `count() * nr`.
    pub(super) rq: ChannelRequant,
    weight_zero_point: i32,
    input_zero_point: i32,
}

impl Panels {
    /// Checks and packs a layer whose weights are `[n][k]` rows (pointwise OHWI with a 1x1
    /// kernel, and fc), as `name` in messages.
    ///
    /// # Errors
    /// As [`QuantConv::check`].
    ///
    /// # Panics
    /// If this CPU cannot run `isa`.
    pub(crate) fn from_rows(isa: Isa, name: &str, (k, n): (usize, usize), q: &QuantConv) -> Result<Self, String> {
        let rq = q.check(name, n * k, n, n)?;
        Ok(Self::new(
            isa,
            (k, n),
            &|co, ki| q.weights[co * k + ki],
            (q.weight_zero_point, q.input_zero_point),
            &q.bias,
            &rq,
        ))
    }

    /// Packs `n` output channels of reduction length `k` for `isa`: `at(co, ki)` gives weight
    /// `(co, ki)`; `bias` has `n` values; `rq` at least `n` channels (it is re-padded here).
    ///
    /// # Panics
    /// If this CPU cannot run `isa`.
    pub(crate) fn new(
        isa: Isa,
        (k, n): (usize, usize),
        at: &dyn Fn(usize, usize) -> i8,
        (weight_zero_point, input_zero_point): (i32, i32),
        bias: &[i32],
        rq: &ChannelRequant,
    ) -> Self {
        let cfg = config::for_isa(isa).gemm;
        let nr = cfg.nr;
        let kp = k.next_multiple_of(cfg.kr);
        let count = n.div_ceil(nr);
        let mut p = Panels {
            isa,
            cfg,
            k,
            kp,
            n,
            nr,
            data: Vec::new(),
            bias: vec![0; count * nr],
            rq: ChannelRequant::new(
                &rq.multiplier[..n],
                &rq.shifts(n),
                rq.zero_point,
                (rq.min, rq.max),
                count * nr,
            ),
            weight_zero_point,
            input_zero_point,
        };
        let len = (0..count).map(|b| p.width(b) * kp).sum::<usize>();
        p.data = vec![0; len];
        for (co, &b) in bias.iter().enumerate().take(n) {
            let mut sum = 0i32;
            for ki in 0..k {
                let w = at(co, ki) as i32 - weight_zero_point;
                sum = sum.wrapping_add(w);
                let i = p.index(co, ki);
                p.data[i] = w as i16;
            }
            p.bias[co] = b.wrapping_sub(input_zero_point.wrapping_mul(sum));
        }
        p
    }

    /// Index in `data` of weight `(co, ki)`.
    fn index(&self, co: usize, ki: usize) -> usize {
        let (b, j) = (co / self.nr, co % self.nr);
        let width = self.width(b);
        self.offset(b)
            + match self.cfg.layout {
                Layout::KMajor => ki * width + j,
                Layout::Pairs => (ki / 2 * width + pairs_position(j, width)) * 2 + ki % 2,
            }
    }

    /// The path these panels are laid out for.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the kernels read the rows widened to `i16` ([`super::gemm_widened`]).
    pub(crate) fn widened(&self) -> bool {
        self.cfg.widened
    }

    /// The reduction length rows are padded to when widened.
    pub(crate) fn kp(&self) -> usize {
        self.kp
    }

    /// Number of panels.
    pub(crate) fn count(&self) -> usize {
        self.n.div_ceil(self.nr)
    }

    /// Width of panel `b`: `nr`, or for the last panel its channels rounded up to one vector.
    pub(super) fn width(&self, b: usize) -> usize {
        (self.n - b * self.nr).next_multiple_of(self.cfg.lanes).min(self.nr)
    }

    /// Offset of panel `b` in `data`; all earlier panels are full width.
    pub(super) fn offset(&self, b: usize) -> usize {
        b * self.nr * self.kp
    }

    /// Panel `b`'s weights, bias and requantisation.
    pub(super) fn panel(&self, b: usize) -> (&[i16], &[i32], PanelRequant<'_>) {
        let (off, width) = (self.offset(b), self.width(b));
        let ch = b * self.nr..b * self.nr + width;
        (
            &self.data[off..off + width * self.kp],
            &self.bias[ch.clone()],
            PanelRequant {
                multiplier: &self.rq.multiplier[ch.clone()],
                left: &self.rq.left[ch.clone()],
                right: &self.rq.right[ch],
                zero_point: self.rq.zero_point,
                min: self.rq.min,
                max: self.rq.max,
            },
        )
    }

    /// Weight `(co, ki)`, as given to [`Panels::new`].
    pub(crate) fn weight(&self, co: usize, ki: usize) -> i8 {
        (self.data[self.index(co, ki)] as i32 + self.weight_zero_point) as i8
    }

    /// The bias as given to [`Panels::new`] (the zero point's fold undone).
    pub(crate) fn bias(&self) -> Vec<i32> {
        (0..self.n)
            .map(|co| {
                let sum = (0..self.k).fold(0i32, |s, ki| s.wrapping_add(self.data[self.index(co, ki)] as i32));
                self.bias[co].wrapping_add(self.input_zero_point.wrapping_mul(sum))
            })
            .collect()
    }

    /// The requantisation as given to [`Panels::new`] (its first `n` channels).
    pub(crate) fn requant(&self) -> &ChannelRequant {
        &self.rq
    }

    /// The zero points, `(weight, input)`.
    pub(crate) fn zero_points(&self) -> (i32, i32) {
        (self.weight_zero_point, self.input_zero_point)
    }

    /// Output channels.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Reduction length.
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// The [`QuantConv`] these panels were packed from, with OHWI weights `[n][k]`.
    pub(crate) fn to_quant(&self) -> QuantConv {
        let (n, k) = (self.n(), self.k());
        let rq = self.requant();
        let (weight_zero_point, input_zero_point) = self.zero_points();
        QuantConv {
            weights: (0..n * k).map(|i| self.weight(i / k, i % k)).collect(),
            weight_zero_point,
            bias: self.bias(),
            input_zero_point,
            output_zero_point: rq.zero_point,
            multiplier: rq.multiplier[..n].to_vec(),
            shift: rq.shifts(n),
            act_min: rq.min,
            act_max: rq.max,
        }
    }
}
