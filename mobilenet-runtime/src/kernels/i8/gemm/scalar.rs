//! The portable int8 micro-kernel, in plain Rust that the compiler vectorises for the
//! baseline target: a `PB x NB` block of `i32` accumulators over `[k][NB]` panels of `i16`
//! weights, then the scalar requantisation.

use super::ukernel::{GemmConfig, Layout, Rows, Sweep};
use crate::kernels::i8::requant::Requant;

/// Output channels computed together: the width of every portable panel.
const NB: usize = 8;

/// Output pixels computed together, so that every weight row is reused `PB` times.
const PB: usize = 4;

/// The portable kernels: `NB`-wide `[k][NB]` panels.
pub(crate) const CONFIG: GemmConfig = GemmConfig {
    name: "scalar",
    nr: NB,
    lanes: NB,
    kr: 1,
    layout: Layout::KMajor,
    rows: Rows::Bytes,
    sweep,
};

/// `acc[p][j] += sum_k rows[p][k] * panel[k][j]` for `P` pixels at once, in wrapping `i32`.
/// Not inlined, for the reason given at the f32 kernel's `accumulate` (the accumulators stay
/// vectors behind a call).
#[inline(never)]
fn accumulate<const P: usize>(acc: &mut [[i32; NB]; P], rows: [&[i8]; P], panel: &[[i16; NB]]) {
    let rows = rows.map(|row| &row[..panel.len()]);
    for (k, w) in panel.iter().enumerate() {
        for (a, row) in acc.iter_mut().zip(&rows) {
            let x = row[k] as i32;
            for (a, &w) in a.iter_mut().zip(w) {
                *a = a.wrapping_add(x * w as i32);
            }
        }
    }
}

/// The portable sweep (see [`super::ukernel::SweepFn`]).
///
/// # Safety
/// `s.a` readable for `s.rows` rows of `s.k`, `s.c` writable for `s.rows` rows of `s.n`,
/// nothing else accessing them.
unsafe fn sweep(s: &Sweep) {
    let (panel, _) = s.w.wide().as_chunks::<NB>();
    let panel = &panel[..s.k];
    let bias: [i32; NB] = s.bias.try_into().expect("portable panels are NB wide");
    let rq = |j: usize| Requant {
        multiplier: s.rq.multiplier[j],
        left: s.rq.left[j],
        right: s.rq.right[j],
        zero_point: s.rq.zero_point,
        min: s.rq.min,
        max: s.rq.max,
    };
    let rqs: [Requant; NB] = std::array::from_fn(rq);
    // SAFETY: per the contract, row `r` of `a` has `k` readable bytes.
    let row = |r: usize| unsafe { std::slice::from_raw_parts(s.a.add(r * s.lda), s.k) };
    // SAFETY: per the contract, row `r` of `c` has `n` writable bytes nobody else touches.
    let out = |r: usize| unsafe { std::slice::from_raw_parts_mut(s.c.add(r * s.ldc), s.n) };
    let store = |acc: &[i32; NB], out: &mut [i8]| {
        for ((o, &a), rq) in out.iter_mut().zip(acc).zip(&rqs) {
            *o = rq.apply(a);
        }
    };
    let mut r = 0;
    while r + PB <= s.rows {
        let mut acc = [bias; PB];
        accumulate(&mut acc, std::array::from_fn(|p| row(r + p)), panel);
        for (p, a) in acc.iter().enumerate() {
            store(a, out(r + p));
        }
        r += PB;
    }
    for r in r..s.rows {
        let mut acc = [bias];
        accumulate(&mut acc, [row(r)], panel);
        store(&acc[0], out(r));
    }
}
