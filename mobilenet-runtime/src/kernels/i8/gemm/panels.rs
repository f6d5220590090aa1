//! Int8 weights packed into column panels for one instruction set's micro-kernels: panel `b`
//! holds output channels `b * nr ..` (the last panel only as wide as its channels rounded up
//! to one vector), each weight minus the weight zero point (as `i16`, or as `i8` for a config
//! of [`Layout::Quads`] where every such difference fits), in the layout the config names
//! ([`Layout`]); the bias with the input zero point folded in, and the requantisation, padded
//! to whole panels.

use super::ukernel::{pairs_position, quads_position, GemmConfig, Layout, PanelRequant, PanelWeights, Rows};
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
    data: Data,
    /// `bias - (input_zero_point + flip) * sum_k (w - weight_zero_point)`, padded to
    /// `count() * nr`; `flip` is 128 for a config that reads its rows [`Rows::Flipped`], else
    /// 0.
    pub(super) bias: Vec<i32>,
    /// Padded to `count() * nr`.
    pub(super) rq: ChannelRequant,
    weight_zero_point: i32,
    input_zero_point: i32,
}

/// The panels' weights, of the element type of the config's layout.
#[derive(Clone)]
enum Data {
    Wide(Vec<i16>),
    Bytes(Vec<i8>),
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
        let kernels = config::for_isa(isa);
        // The byte product, where the path has one, takes the layers whose weights fit it: all
        // of an int8 model's (symmetric, zero point 0), and few of a uint8 one's.
        let fits = || (0..n).all(|co| (0..k).all(|ki| i8::try_from(at(co, ki) as i32 - weight_zero_point).is_ok()));
        let cfg = match kernels.gemm_bytes {
            Some(bytes) if fits() => bytes,
            _ => kernels.gemm,
        };
        Self::pack(isa, cfg, (k, n), at, (weight_zero_point, input_zero_point), bias, rq)
    }

    /// [`Panels::new`] for the kernels `cfg` (of `isa`), which must take these weights.
    fn pack(
        isa: Isa,
        cfg: &'static GemmConfig,
        (k, n): (usize, usize),
        at: &dyn Fn(usize, usize) -> i8,
        (weight_zero_point, input_zero_point): (i32, i32),
        bias: &[i32],
        rq: &ChannelRequant,
    ) -> Self {
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
            data: Data::Wide(Vec::new()),
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
        p.data = match cfg.layout {
            Layout::Quads => Data::Bytes(vec![0; len]),
            Layout::KMajor | Layout::Pairs => Data::Wide(vec![0; len]),
        };
        let offset = p.input_offset();
        for (co, &b) in bias.iter().enumerate().take(n) {
            let mut sum = 0i32;
            for ki in 0..k {
                let w = at(co, ki) as i32 - weight_zero_point;
                sum = sum.wrapping_add(w);
                let i = p.index(co, ki);
                // `fits` chose a byte layout only if every difference fits in `i8`.
                match &mut p.data {
                    Data::Wide(d) => d[i] = w as i16,
                    Data::Bytes(d) => d[i] = w as i8,
                }
            }
            p.bias[co] = b.wrapping_sub(offset.wrapping_mul(sum));
        }
        p
    }

    /// What the kernels' rows differ from the raw inputs by, which the bias makes up for:
    /// minus the input zero point, and plus 128 for flipped rows.
    fn input_offset(&self) -> i32 {
        let flip = if self.cfg.rows == Rows::Flipped { 128 } else { 0 };
        self.input_zero_point.wrapping_add(flip)
    }

    /// Weight `(co, ki)` minus the weight zero point, as stored.
    fn stored(&self, co: usize, ki: usize) -> i32 {
        let i = self.index(co, ki);
        match &self.data {
            Data::Wide(d) => d[i] as i32,
            Data::Bytes(d) => d[i] as i32,
        }
    }

    /// Index in `data` of weight `(co, ki)`.
    fn index(&self, co: usize, ki: usize) -> usize {
        let (b, j) = (co / self.nr, co % self.nr);
        let width = self.width(b);
        self.offset(b)
            + match self.cfg.layout {
                Layout::KMajor => ki * width + j,
                Layout::Pairs => (ki / 2 * width + pairs_position(j, width)) * 2 + ki % 2,
                Layout::Quads => (ki / 4 * width + quads_position(j)) * 4 + ki % 4,
            }
    }

    /// The path these panels are laid out for.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the kernels read the rows widened to `i16` ([`super::gemm_widened`]).
    pub(crate) fn widened(&self) -> bool {
        self.cfg.rows == Rows::Widened
    }

    /// The name of the micro-kernel these panels were packed for (for tests and profiles).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn kernel(&self) -> &'static str {
        self.cfg.name
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
    pub(super) fn panel(&self, b: usize) -> (PanelWeights<'_>, &[i32], PanelRequant<'_>) {
        let (off, width) = (self.offset(b), self.width(b));
        let ch = b * self.nr..b * self.nr + width;
        let w = off..off + width * self.kp;
        (
            match &self.data {
                Data::Wide(d) => PanelWeights::Wide(&d[w]),
                Data::Bytes(d) => PanelWeights::Bytes(&d[w]),
            },
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
        (self.stored(co, ki) + self.weight_zero_point) as i8
    }

    /// The bias as given to [`Panels::new`] (the zero point's fold undone).
    pub(crate) fn bias(&self) -> Vec<i32> {
        (0..self.n)
            .map(|co| {
                let sum = (0..self.k).fold(0i32, |s, ki| s.wrapping_add(self.stored(co, ki)));
                self.bias[co].wrapping_add(self.input_offset().wrapping_mul(sum))
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

#[cfg(test)]
mod tests {
    /// A random layer of `testkit::q::layer`'s `case` (`k` inputs, `n` outputs), `rows` rows
    /// of input, and the layer packed for `cfg`, from the seed `seed`.
    #[cfg(x86_simd)]
    fn packed(
        cfg: &'static super::GemmConfig,
        (rows, k, n): (usize, usize, usize),
        seed: u64,
        case: usize,
    ) -> (super::QuantConv, Vec<i8>, super::Panels) {
        use crate::kernels::testkit::{q, Rng};
        let mut rng = Rng::new(seed);
        let layer = q::layer(&mut rng, n * k, n, k, case);
        let input = rng.bytes(rows * k);
        let rq = layer.check("t", n * k, n, n).unwrap();
        let at = |co: usize, ki: usize| layer.weights[co * k + ki];
        let zps = (layer.weight_zero_point, layer.input_zero_point);
        let p = super::Panels::pack(super::Isa::Portable, cfg, (k, n), &at, zps, &layer.bias, &rq);
        (layer, input, p)
    }

    /// The `vpdpbusd` panels read back the way its kernel reads them, in scalar code: rows
    /// flipped to `x + 128` and padded, quads of bytes per lane, 16 lanes per vector in
    /// `quads_position` order, the bias with `128 * sum w` folded out. Equal to the reference
    /// product, so the layout and the fold are right on any CPU, whether or not it can run the
    /// kernel itself.
    #[cfg(x86_simd)]
    #[test]
    fn quad_panels_give_the_reference_product() {
        use super::*;
        use crate::kernels::testkit::q;
        let cfg = &super::super::avx512_vnni::CONFIG;
        for (case, (rows, k, n)) in [(3, 27, 8), (2, 64, 32), (4, 33, 40), (1, 5, 17), (2, 100, 70)]
            .into_iter()
            .enumerate()
        {
            // Case multiples of 3 have weight zero point 0: weights that fit the quads.
            let (layer, input, p) = packed(cfg, (rows, k, n), case as u64 + 40, 3 * case);
            assert_eq!(layer.weight_zero_point, 0);
            assert_eq!(p.to_quant(), layer, "case {case}: to_quant");
            let kp = k.next_multiple_of(4);
            let mut got = vec![0i8; rows * n];
            for r in 0..rows {
                let mut flipped = vec![0u8; kp];
                for (f, &x) in flipped.iter_mut().zip(&input[r * k..(r + 1) * k]) {
                    *f = (x as i32 + 128) as u8;
                }
                for b in 0..p.count() {
                    let (w, bias, _) = p.panel(b);
                    let (w, width) = (w.bytes(), p.width(b));
                    for j in (0..width).filter(|j| b * p.nr + j < n) {
                        let lane = quads_position(j);
                        let mut acc = bias[j];
                        for (quad, xs) in flipped.chunks_exact(4).enumerate() {
                            for (t, &x) in xs.iter().enumerate() {
                                let wt = w[(quad * width + lane) * 4 + t] as i32;
                                acc = acc.wrapping_add(x as i32 * wt);
                            }
                        }
                        let co = b * p.nr + j;
                        got[r * n + co] = p.requant().at(co).apply(acc);
                    }
                }
            }
            assert_eq!(got, q::matmul(rows, k, n, &layer, &input), "case {case}");
        }
    }

    /// Every byte kernel this CPU runs, whichever table would choose it, through the driver
    /// (one thread and a team), against the reference product: shapes with partial tiles,
    /// partial panels and reductions that are not whole quads. Prints which kernels ran, so
    /// that a run on an emulator shows it tested them.
    #[cfg(x86_simd)]
    #[test]
    fn every_byte_kernel_this_cpu_runs_gives_the_reference_product() {
        use super::super::{avx512_vnni, avx_vnni, gemm, gemm_team};
        use crate::kernels::testkit::q;
        use crate::parallel::Team;
        use std::arch::is_x86_feature_detected as has;
        let kernels = [
            (&avx512_vnni::CONFIG, has!("avx512f") && has!("avx512vnni")),
            (&avx_vnni::EVEX, has!("avx512vl") && has!("avx512vnni")),
            (&avx_vnni::VEX, has!("avxvnni")),
        ];
        let team = Team::new(2).unwrap();
        for (cfg, runs) in kernels {
            if !runs {
                eprintln!("{}: this CPU cannot run it", cfg.name);
                continue;
            }
            let shapes = [
                (1, 1, 1),
                (9, 27, 8),
                (17, 64, 32),
                (13, 33, 40),
                (8, 5, 17),
                (50, 100, 70),
                (300, 256, 48),
            ];
            for (i, &(rows, k, n)) in shapes.iter().enumerate() {
                for case in [0, 3, 5, 6] {
                    let (layer, input, p) = packed(cfg, (rows, k, n), (i * 10 + case) as u64, case);
                    let want = q::matmul(rows, k, n, &layer, &input);
                    let mut got = vec![0i8; rows * n];
                    gemm(&input, k, &mut got, n, rows, &p);
                    assert_eq!(got, want, "{} rows={rows} k={k} n={n} case {case}", cfg.name);
                    got.fill(0);
                    gemm_team(&input, k, &mut got, n, rows, &p, &team);
                    assert_eq!(got, want, "{} (team) rows={rows} k={k} n={n} case {case}", cfg.name);
                }
            }
            eprintln!("{}: ran and matched", cfg.name);
        }
    }
}
