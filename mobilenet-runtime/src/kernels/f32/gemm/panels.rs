//! Weights and bias packed into column panels for one instruction set's micro-kernels: panel
//! `b` holds output channels `b * nr ..` as `[k][width]` with `width = nr` except for the last
//! panel, which is only as wide as its channels rounded up to one vector (so a 16-channel
//! layer on AVX-512 does not compute a zero-padded 32-channel panel). The widths come from
//! the instruction set's [`GemmConfig`].

use super::ukernel::{GemmConfig, Seg};
use crate::aligned::AlignedBuf;
use crate::kernels::f32::config;
use crate::kernels::isa::Isa;

/// Width of the panels (but the last) of a `k x n` product of about `rows` rows under `cfg`.
///
/// The config's wide panels when every panel can be that wide and either the reduction is
/// short or the product has enough rows. On AVX-512, a 6 x 64 tile loads 10 values per 24
/// FMAs where a 12 x 32 tile loads 14; a 64-wide panel of `k <= 128` rows (at most 32 KiB)
/// stays in L1 while the tiles of a pass sweep it, and longer ones are swept in blocks of
/// `kc` rows that do. Measured in the network against 32-wide panels, layer by layer: faster
/// on every map from 10x10 up, level on 7x7, and slower on 5x5 and 4x4 maps with long
/// reductions, where each block of weights serves too few rows.
fn panel_width(cfg: &GemmConfig, k: usize, n: usize, rows: usize) -> usize {
    match &cfg.wide {
        Some(wide) if n.is_multiple_of(wide.nr) && (k <= wide.kc || rows >= wide.min_rows) => wide.nr,
        _ => cfg.nr,
    }
}

/// Weights and bias packed into panels for one [`Isa`]; see the module docs.
#[derive(Clone)]
pub(crate) struct Panels {
    isa: Isa,
    /// The kernels that read these panels.
    pub(super) cfg: &'static GemmConfig,
    /// Reduction length.
    pub(super) k: usize,
    /// Output channels.
    pub(super) n: usize,
    /// Width of every panel but the last.
    pub(super) nr: usize,
    /// The panels back to back, from a 64-byte boundary so that every weight row load is
    /// aligned.
    pub(super) data: AlignedBuf,
    /// `n` values zero-padded to `count() * nr`, so a panel's bias loads whole vectors.
    pub(super) bias: Vec<f32>,
}

impl Panels {
    /// Packs `n` output channels of reduction length `k` for `isa`, for products of about
    /// `rows` rows (0 if not known): `at(co, ki)` gives the weight of channel `co` at reduction
    /// index `ki`.
    ///
    /// # Panics
    /// If this CPU cannot run `isa`.
    pub(crate) fn new(
        isa: Isa,
        k: usize,
        n: usize,
        rows: usize,
        at: &dyn Fn(usize, usize) -> f32,
        bias: &[f32],
    ) -> Self {
        let cfg = config::for_isa(isa).gemm;
        let nr = panel_width(cfg, k, n, rows);

        let count = n.div_ceil(nr);
        let mut p = Panels {
            isa,
            cfg,
            k,
            n,
            nr,
            data: AlignedBuf::default(),
            bias: vec![0.0; count * nr],
        };
        let len = (0..count).map(|b| p.width(b) * k).sum::<usize>();
        p.data = AlignedBuf::zeroed(len);
        for b in 0..count {
            let (off, width) = (p.offset(b), p.width(b));
            for ki in 0..k {
                for j in 0..width {
                    let co = b * nr + j;
                    if co < n {
                        p.data[off + ki * width + j] = at(co, ki);
                    }
                }
            }
        }
        p.bias[..n].copy_from_slice(bias);
        p
    }

    /// The path these panels are laid out for.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Number of panels.
    pub(crate) fn count(&self) -> usize {
        self.n.div_ceil(self.nr)
    }

    /// Width in floats of panel `b`: `nr`, or for the last panel its channels rounded up to
    /// one vector.
    pub(super) fn width(&self, b: usize) -> usize {
        (self.n - b * self.nr).next_multiple_of(self.cfg.lanes).min(self.nr)
    }

    /// Float offset of panel `b` in `data`; all earlier panels are full width.
    pub(super) fn offset(&self, b: usize) -> usize {
        b * self.nr * self.k
    }

    /// Weight `(co, ki)`, as given to [`Panels::new`].
    pub(crate) fn weight(&self, co: usize, ki: usize) -> f32 {
        let b = co / self.nr;
        self.data[self.offset(b) + ki * self.width(b) + co % self.nr]
    }

    /// The whole reduction as one run: what a plain matrix product reads.
    pub(crate) fn whole(&self) -> [Seg; 1] {
        [Seg {
            a: 0,
            k0: 0,
            len: self.k,
        }]
    }

    /// All panels, back to back.
    pub(crate) fn packed(&self) -> &[f32] {
        &self.data
    }

    /// The bias, as given to [`Panels::new`].
    pub(crate) fn bias(&self) -> &[f32] {
        &self.bias[..self.n]
    }
}
