//! Per-layer times of the int8 forward pass at one thread: the profile that decides which int8
//! kernel to work on next.
//!
//! ```sh
//! cargo run --release --manifest-path bench/Cargo.toml --example int8_layers -- [1.0-224|0.5-160|0.25-128] [rounds]
//! ```
//!
//! Reads `bench/out/<spec>/<stem>.int8.tflite`, which `bench/run.sh` writes. Each layer's time
//! is the wall time between the forward pass's calls of its inspection hook (a copy of the
//! layer's output rides along, which is small beside the layer); the median over the rounds.

use std::time::Instant;

mod a1_224 {
    mobilenet::mobilenet!("specs/v1_alpha1_224_int8.yaml");
}
mod a05_160 {
    mobilenet::mobilenet!("specs/v1_alpha0.5_160_int8.yaml");
}
mod a025_128 {
    mobilenet::mobilenet!("specs/v1_alpha0.25_128_int8.yaml");
}

/// The sum over layers of each layer's median time.
fn by_kind_total(samples: &[Vec<f64>], median: impl Fn(Vec<f64>) -> f64) -> f64 {
    (0..samples[0].len()).map(|i| median(samples.iter().map(|s| s[i]).collect())).sum()
}

macro_rules! profile {
    ($m:ident, $file:expr, $rounds:expr) => {{
        use $m::*;
        let bytes = std::fs::read($file).unwrap_or_else(|e| panic!("{}: {e} (run bench/run.sh first)", $file));
        let mut model = Model::new(Weights::from_tflite(&bytes).expect("an int8 model of the spec"));
        let input = Box::new([3i8; INPUT_LEN]);
        let mut samples: Vec<Vec<f64>> = Vec::new();
        let mut totals = Vec::new();
        for _ in 0..$rounds {
            let mut times = Vec::new();
            let start = Instant::now();
            let mut last = start;
            model.forward_inspect(&input, |_, _| {
                let now = Instant::now();
                times.push((now - last).as_secs_f64());
                last = Instant::now();
            });
            totals.push(start.elapsed().as_secs_f64());
            samples.push(times);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let total = median(totals);
        println!("{}: median forward {:.3} ms", $file, total * 1e3);
        println!("layer kind      in            out           k s  mult-adds   ms     GMAC/s  share");
        let mut by_kind = std::collections::BTreeMap::<String, (f64, u64, f64)>::new();
        let mut fastest = 0.0;
        for i in 0..samples[0].len() {
            let t = median(samples.iter().map(|s| s[i]).collect());
            let min = samples.iter().map(|s| s[i]).fold(f64::INFINITY, f64::min);
            fastest += min;
            let (desc, madds, kind) = match LAYERS.get(i) {
                Some(l) => (
                    format!(
                        "{:<9} {:<13} {:<13} {} {}",
                        format!("{:?}", l.kind),
                        format!("{:?}", l.input),
                        format!("{:?}", l.output),
                        l.kernel[0],
                        l.stride
                    ),
                    l.mult_adds,
                    format!("{:?}{}", l.kind, if l.kind == mobilenet::runtime::LayerKind::Conv && l.kernel[0] == 1 { " 1x1" } else { "" }),
                ),
                None => ("(after the table)".to_string(), 0, "other".to_string()),
            };
            let e = by_kind.entry(kind).or_default();
            e.0 += t;
            e.1 += madds;
            e.2 += min;
            println!(
                "{i:>5} {desc} {madds:>10} {:>7.3} {:>7.1} {:>5.1}%",
                t * 1e3,
                madds as f64 / t / 1e9,
                100.0 * t / total
            );
        }
        println!("kind         median ms  GMAC/s  share  fastest ms");
        for (k, (t, m, min)) in by_kind {
            println!(
                "{k:<12} {:>7.3} {:>9.1} {:>5.1}% {:>9.3}",
                t * 1e3,
                m as f64 / t / 1e9,
                100.0 * t / total,
                min * 1e3
            );
        }
        println!("sum of the layers' medians {:.3} ms, of their fastest {:.3} ms", by_kind_total(&samples, median) * 1e3, fastest * 1e3);
    }};
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spec = args.get(1).map_or("1.0-224", String::as_str);
    let rounds: usize = args.get(2).map_or(200, |r| r.parse().expect("a number of rounds"));
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/out");
    match spec {
        "1.0-224" => profile!(a1_224, format!("{out}/1.0-224/v1_alpha1_224.int8.tflite"), rounds),
        "0.5-160" => profile!(a05_160, format!("{out}/0.5-160/v1_alpha0.5_160.int8.tflite"), rounds),
        "0.25-128" => profile!(a025_128, format!("{out}/0.25-128/v1_alpha0.25_128.int8.tflite"), rounds),
        s => panic!("unknown spec {s}"),
    }
}
