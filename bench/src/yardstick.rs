//! The int8 yardstick: how many int8 multiply-adds one core can do per second, at most, with
//! AVX2. Two register-only loops, in inline assembly so that the compiler can neither hoist
//! nor drop them, each 8 independent multiply-accumulate chains per iteration (more than
//! enough to hide the multiplies' latency):
//!
//! - [`Int8Loop::Madd16`]: `vpmaddwd` (16 signed 16-bit products, summed in pairs into 8
//!   int32) then `vpaddd` into an accumulator: 16 multiply-adds per `vpmaddwd`. It is exact for
//!   int8 values widened to 16 bits, which is how XNNPACK's and TFLite's AVX2 int8 kernels use it;
//! - [`Int8Loop::Madd8`]: `vpmaddubsw` (32 unsigned x signed 8-bit products, summed in pairs
//!   into 16 int16, saturating), `vpmaddwd` by ones (pairs into 8 int32), `vpaddd`: 32
//!   multiply-adds per three instructions. Faster where the multipliers allow it, but the int16
//!   pair sums saturate for large operands, so exact int8 kernels use it only with operands
//!   kept small (7-bit weights, or offsets).
//!
//! No loads, no requantization, no layout work: a bound no real layer reaches, which is what a
//! peak is for. Timed in the same rounds as the engines, like the sgemm yardstick.

use std::hint::black_box;

use crate::engines::{time_calls, Runner, Slice};
use crate::Error;

/// Which inner loop.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Int8Loop {
    /// `vpmaddwd` + `vpaddd`.
    Madd16,
    /// `vpmaddubsw` + `vpmaddwd` + `vpaddd`.
    Madd8,
}

impl Int8Loop {
    /// Multiply-adds of one iteration (8 chains).
    pub fn mult_adds_per_iteration(self) -> u64 {
        match self {
            Int8Loop::Madd16 => 8 * 16,
            Int8Loop::Madd8 => 8 * 32,
        }
    }

    /// What it is, for the results header.
    pub fn describe(self) -> &'static str {
        match self {
            Int8Loop::Madd16 => "`vpmaddwd`+`vpaddd`, 16 multiply-adds per `vpmaddwd`",
            Int8Loop::Madd8 => "`vpmaddubsw`+`vpmaddwd`+`vpaddd`, 32 multiply-adds per `vpmaddubsw`",
        }
    }
}

/// Iterations of one call: about 1-3 ms on a current x86-64 core.
const ITERATIONS: u64 = 1 << 20;

/// One of the loops as a participant of the rounds.
pub struct Int8Yardstick {
    kind: Int8Loop,
}

impl Int8Yardstick {
    /// The loop `kind`, if this CPU has AVX2.
    pub fn new(kind: Int8Loop) -> Option<Self> {
        has_avx2().then_some(Self { kind })
    }

    /// Operations (2 per multiply-add) of one call.
    pub fn ops_per_call(kind: Int8Loop) -> f64 {
        2.0 * (ITERATIONS * kind.mult_adds_per_iteration()) as f64
    }

    fn call(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked that the CPU has AVX2; the loops touch only registers.
        unsafe {
            match self.kind {
                Int8Loop::Madd16 => madd16(black_box(ITERATIONS)),
                Int8Loop::Madd8 => madd8(black_box(ITERATIONS)),
            }
        }
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Runner for Int8Yardstick {
    fn run(&mut self, n: usize) -> Result<Slice, Error> {
        time_calls(n, || {
            self.call();
            Ok(())
        })
    }

    fn output(&mut self) -> Result<Vec<f32>, Error> {
        Ok(Vec::new())
    }
}

/// `iterations` x 8 x (`vpmaddwd`, `vpaddd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn madd16(iterations: u64) {
    // SAFETY: registers only; the caller checked AVX2.
    unsafe {
        std::arch::asm!(
            "vpcmpeqd {a}, {a}, {a}",
            "vpsrlw {a}, {a}, 9",
            "vmovdqa {b}, {a}",
            "vpxor {c0}, {c0}, {c0}", "vpxor {c1}, {c1}, {c1}", "vpxor {c2}, {c2}, {c2}",
            "vpxor {c3}, {c3}, {c3}", "vpxor {c4}, {c4}, {c4}", "vpxor {c5}, {c5}, {c5}",
            "vpxor {c6}, {c6}, {c6}", "vpxor {c7}, {c7}, {c7}",
            "2:",
            "vpmaddwd {t0}, {a}, {b}", "vpaddd {c0}, {c0}, {t0}",
            "vpmaddwd {t1}, {a}, {b}", "vpaddd {c1}, {c1}, {t1}",
            "vpmaddwd {t2}, {a}, {b}", "vpaddd {c2}, {c2}, {t2}",
            "vpmaddwd {t3}, {a}, {b}", "vpaddd {c3}, {c3}, {t3}",
            "vpmaddwd {t0}, {a}, {b}", "vpaddd {c4}, {c4}, {t0}",
            "vpmaddwd {t1}, {a}, {b}", "vpaddd {c5}, {c5}, {t1}",
            "vpmaddwd {t2}, {a}, {b}", "vpaddd {c6}, {c6}, {t2}",
            "vpmaddwd {t3}, {a}, {b}", "vpaddd {c7}, {c7}, {t3}",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iterations => _,
            a = out(ymm_reg) _, b = out(ymm_reg) _,
            t0 = out(ymm_reg) _, t1 = out(ymm_reg) _, t2 = out(ymm_reg) _, t3 = out(ymm_reg) _,
            c0 = out(ymm_reg) _, c1 = out(ymm_reg) _, c2 = out(ymm_reg) _, c3 = out(ymm_reg) _,
            c4 = out(ymm_reg) _, c5 = out(ymm_reg) _, c6 = out(ymm_reg) _, c7 = out(ymm_reg) _,
            options(nostack, nomem),
        );
    }
}

/// `iterations` x 8 x (`vpmaddubsw`, `vpmaddwd` by ones, `vpaddd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn madd8(iterations: u64) {
    // SAFETY: registers only; the caller checked AVX2.
    unsafe {
        std::arch::asm!(
            "vpcmpeqd {ones}, {ones}, {ones}",
            "vpsrlw {ones}, {ones}, 15",
            "vpcmpeqd {a}, {a}, {a}",
            "vpsrlw {a}, {a}, 10",
            "vmovdqa {b}, {a}",
            "vpxor {c0}, {c0}, {c0}", "vpxor {c1}, {c1}, {c1}", "vpxor {c2}, {c2}, {c2}",
            "vpxor {c3}, {c3}, {c3}", "vpxor {c4}, {c4}, {c4}", "vpxor {c5}, {c5}, {c5}",
            "vpxor {c6}, {c6}, {c6}", "vpxor {c7}, {c7}, {c7}",
            "2:",
            "vpmaddubsw {t0}, {a}, {b}", "vpmaddwd {t0}, {t0}, {ones}", "vpaddd {c0}, {c0}, {t0}",
            "vpmaddubsw {t1}, {a}, {b}", "vpmaddwd {t1}, {t1}, {ones}", "vpaddd {c1}, {c1}, {t1}",
            "vpmaddubsw {t2}, {a}, {b}", "vpmaddwd {t2}, {t2}, {ones}", "vpaddd {c2}, {c2}, {t2}",
            "vpmaddubsw {t3}, {a}, {b}", "vpmaddwd {t3}, {t3}, {ones}", "vpaddd {c3}, {c3}, {t3}",
            "vpmaddubsw {t0}, {a}, {b}", "vpmaddwd {t0}, {t0}, {ones}", "vpaddd {c4}, {c4}, {t0}",
            "vpmaddubsw {t1}, {a}, {b}", "vpmaddwd {t1}, {t1}, {ones}", "vpaddd {c5}, {c5}, {t1}",
            "vpmaddubsw {t2}, {a}, {b}", "vpmaddwd {t2}, {t2}, {ones}", "vpaddd {c6}, {c6}, {t2}",
            "vpmaddubsw {t3}, {a}, {b}", "vpmaddwd {t3}, {t3}, {ones}", "vpaddd {c7}, {c7}, {t3}",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iterations => _,
            ones = out(ymm_reg) _, a = out(ymm_reg) _, b = out(ymm_reg) _,
            t0 = out(ymm_reg) _, t1 = out(ymm_reg) _, t2 = out(ymm_reg) _, t3 = out(ymm_reg) _,
            c0 = out(ymm_reg) _, c1 = out(ymm_reg) _, c2 = out(ymm_reg) _, c3 = out(ymm_reg) _,
            c4 = out(ymm_reg) _, c5 = out(ymm_reg) _, c6 = out(ymm_reg) _, c7 = out(ymm_reg) _,
            options(nostack, nomem),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a check: prints each loop's rate on this machine
    /// (`cargo test --release --manifest-path bench/Cargo.toml -- --ignored --nocapture yardstick`).
    #[test]
    #[ignore = "prints timings"]
    fn yardstick_rates() {
        for kind in [Int8Loop::Madd16, Int8Loop::Madd8] {
            let Some(mut y) = Int8Yardstick::new(kind) else { return };
            let slice = y.run(200).unwrap();
            let mut times = slice.times;
            times.sort();
            let median = times[times.len() / 2].as_secs_f64();
            println!(
                "{kind:?}: {:.1} GOP/s",
                Int8Yardstick::ops_per_call(kind) / median / 1e9
            );
        }
    }
}
