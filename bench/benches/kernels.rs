//! Kernel benchmarks at MobileNet-V1 (224x224, width 1.0) layer shapes, each against a naive
//! direct loop over the PyTorch layout, and the pointwise kernel also against an unblocked
//! axpy over a `[CIN][COUT]` layout (what packing alone buys, without register blocking).
//!
//! The pointwise, depthwise and convolution kernels are measured on every instruction-set
//! path this CPU supports (`kernel-avx512`, `kernel-avx2`, `kernel-portable`), with
//! throughput in multiply-adds per second.
//!
//! Every kernel runs on one thread (a [`Team::single`]); the forward pass's use of two threads is
//! measured by the side-by-side benchmark in `bench/`.
//!
//! Run with `cargo bench --manifest-path bench/Cargo.toml --bench kernels`. It lives in the
//! benchmark's workspace, not beside the kernels, so that `cargo test --workspace` at the
//! repository root does not build criterion.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mobilenet::runtime::kernels::{
    avg_pool, conv2d, depthwise, fc, pointwise, softmax, ConvParams, DepthwiseParams, FcParams, Isa, PointwiseParams,
};
use mobilenet::runtime::{Team, ACT_RELU};
use std::hint::black_box;
use std::time::Duration;

/// Deterministic inputs in [-1, 1) without a rand dependency.
fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Benchmark name of a path.
fn isa_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx512 => "avx512",
        Isa::Avx2 => "avx2",
        Isa::Portable => "portable",
    }
}

fn relu(v: f32) -> f32 {
    v.max(0.0)
}

/// Dot products over the PyTorch `[COUT][CIN]` layout.
fn naive_pointwise(hw: usize, cin: usize, cout: usize, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    for p in 0..hw {
        for co in 0..cout {
            let mut s = b[co];
            for ci in 0..cin {
                s += x[p * cin + ci] * w[co * cin + ci];
            }
            y[p * cout + co] = relu(s);
        }
    }
}

/// One pixel at a time, axpy into the output row over a `[CIN][COUT]` layout.
fn axpy_pointwise(hw: usize, cin: usize, cout: usize, x: &[f32], wt: &[f32], b: &[f32], y: &mut [f32]) {
    for p in 0..hw {
        let out = &mut y[p * cout..(p + 1) * cout];
        out.copy_from_slice(b);
        for ci in 0..cin {
            let a = x[p * cin + ci];
            for (o, &w) in out.iter_mut().zip(&wt[ci * cout..(ci + 1) * cout]) {
                *o += a * w;
            }
        }
        for o in out.iter_mut() {
            *o = relu(*o);
        }
    }
}

/// Direct loops over the PyTorch layouts with padding checks on every tap; `groups == cin`
/// makes it depthwise (then `cout == cin` and the weight is `[C][1][KH][KW]`).
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    (h, w, cin): (usize, usize, usize),
    (oh, ow, cout): (usize, usize, usize),
    (k, s, p): (usize, usize, usize),
    depthwise: bool,
    x: &[f32],
    wt: &[f32],
    b: &[f32],
    y: &mut [f32],
) {
    let cin_per_group = if depthwise { 1 } else { cin };
    for oy in 0..oh {
        for ox in 0..ow {
            for co in 0..cout {
                let mut sum = b[co];
                for cg in 0..cin_per_group {
                    let ci = if depthwise { co } else { cg };
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - p as isize;
                            let ix = (ox * s + kx) as isize - p as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                sum += x[(iy as usize * w + ix as usize) * cin + ci]
                                    * wt[((co * cin_per_group + cg) * k + ky) * k + kx];
                            }
                        }
                    }
                }
                y[(oy * ow + ox) * cout + co] = relu(sum);
            }
        }
    }
}

fn bench_pointwise<const HW: usize, const CIN: usize, const COUT: usize>(c: &mut Criterion, name: &str) {
    let x = data(HW * CIN, 1);
    let w = data(COUT * CIN, 2);
    let b = data(COUT, 3);
    let wt: Vec<f32> = (0..CIN * COUT).map(|i| w[(i % COUT) * CIN + i / COUT]).collect();
    let mut y = vec![0.0; HW * COUT];
    let mut g = c.benchmark_group(format!("pointwise/{name}"));
    g.bench_function("naive", |bch| {
        bch.iter(|| naive_pointwise(HW, CIN, COUT, black_box(&x), &w, &b, &mut y))
    });
    g.bench_function("axpy", |bch| {
        bch.iter(|| axpy_pointwise(HW, CIN, COUT, black_box(&x), &wt, &b, &mut y))
    });
    for isa in Isa::supported() {
        let params = PointwiseParams::<HW, CIN, COUT>::new_for(isa, &w, &b).unwrap();
        g.throughput(Throughput::Elements((HW * CIN * COUT) as u64));
        g.bench_function(format!("kernel-{}", isa_name(isa)), |bch| {
            bch.iter(|| pointwise::<HW, CIN, COUT, ACT_RELU>(black_box(&x), &mut y, &params, &Team::single()))
        });
    }
    g.finish();
}

fn bench_depthwise<const H: usize, const C: usize, const OH: usize, const S: usize>(c: &mut Criterion, name: &str) {
    let x = data(H * H * C, 1);
    let w = data(C * 9, 2);
    let b = data(C, 3);
    let mut y = vec![0.0; OH * OH * C];
    let mut g = c.benchmark_group(format!("depthwise/{name}"));
    g.bench_function("naive", |bch| {
        bch.iter(|| naive_conv((H, H, C), (OH, OH, C), (3, S, 1), true, black_box(&x), &w, &b, &mut y))
    });
    g.throughput(Throughput::Elements((OH * OH * C * 9) as u64));
    for isa in Isa::supported() {
        let params = DepthwiseParams::<3, 3, C>::new_for(isa, &w, &b).unwrap();
        g.bench_function(format!("kernel-{}", isa_name(isa)), |bch| {
            bch.iter(|| {
                depthwise::<H, H, C, OH, OH, 3, 3, S, 1, 1, ACT_RELU>(black_box(&x), &mut y, &params, &Team::single())
            })
        });
    }
    g.finish();
}

fn bench_conv<const H: usize, const CIN: usize, const OH: usize, const COUT: usize, const S: usize>(
    c: &mut Criterion,
    name: &str,
) {
    let x = data(H * H * CIN, 1);
    let w = data(COUT * CIN * 9, 2);
    let b = data(COUT, 3);
    let mut y = vec![0.0; OH * OH * COUT];
    let mut g = c.benchmark_group(format!("conv/{name}"));
    g.bench_function("naive", |bch| {
        bch.iter(|| {
            naive_conv(
                (H, H, CIN),
                (OH, OH, COUT),
                (3, S, 1),
                false,
                black_box(&x),
                &w,
                &b,
                &mut y,
            )
        })
    });
    g.throughput(Throughput::Elements((OH * OH * COUT * CIN * 9) as u64));
    for isa in Isa::supported() {
        let params = ConvParams::<3, 3, CIN, COUT>::new_for(isa, &w, &b).unwrap();
        g.bench_function(format!("kernel-{}", isa_name(isa)), |bch| {
            bch.iter(|| {
                conv2d::<H, H, CIN, OH, OH, COUT, 3, 3, S, 1, 1, ACT_RELU>(
                    black_box(&x),
                    &mut y,
                    &params,
                    &Team::single(),
                )
            })
        });
    }
    g.finish();
}

fn pointwise_layers(c: &mut Criterion) {
    bench_pointwise::<{ 112 * 112 }, 32, 64>(c, "112x112x32-64");
    bench_pointwise::<{ 56 * 56 }, 128, 128>(c, "56x56x128-128");
    bench_pointwise::<{ 14 * 14 }, 512, 512>(c, "14x14x512-512");
    bench_pointwise::<{ 7 * 7 }, 1024, 1024>(c, "7x7x1024-1024");
}

fn depthwise_layers(c: &mut Criterion) {
    bench_depthwise::<112, 32, 112, 1>(c, "112x112x32-s1");
    bench_depthwise::<112, 64, 56, 2>(c, "112x112x64-s2");
    bench_depthwise::<14, 512, 14, 1>(c, "14x14x512-s1");
    bench_depthwise::<7, 1024, 7, 1>(c, "7x7x1024-s1");
}

fn conv_layers(c: &mut Criterion) {
    bench_conv::<224, 3, 112, 32, 2>(c, "224x224x3-32-s2");
    bench_conv::<14, 512, 14, 512, 1>(c, "14x14x512-512-s1");
}

fn head_layers(c: &mut Criterion) {
    let x = data(7 * 7 * 1024, 1);
    let mut pooled = vec![0.0; 1024];
    c.bench_function("avg_pool/7x7x1024-global", |bch| {
        bch.iter(|| avg_pool::<7, 7, 1024, 1, 1, 7, 7, 1>(black_box(&x), &mut pooled))
    });

    let w = data(1000 * 1024, 2);
    let b = data(1000, 3);
    let params = FcParams::<1024, 1000>::new(&w, &b).unwrap();
    let mut logits = vec![0.0; 1000];
    let mut g = c.benchmark_group("fc/1024-1000");
    g.bench_function("naive", |bch| {
        bch.iter(|| {
            let x = black_box(&pooled);
            for (o, out) in logits.iter_mut().enumerate() {
                let mut s = b[o];
                for i in 0..1024 {
                    s += x[i] * w[o * 1024 + i];
                }
                *out = s;
            }
        })
    });
    g.bench_function("kernel", |bch| {
        bch.iter(|| fc::<1024, 1000>(black_box(&pooled), &mut logits, &params, &Team::single()))
    });
    g.finish();

    let mut probs = vec![0.0; 1000];
    c.bench_function("softmax/1000", |bch| {
        bch.iter(|| softmax::<1000>(black_box(&logits), &mut probs))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = pointwise_layers, depthwise_layers, conv_layers, head_layers
}
criterion_main!(benches);
