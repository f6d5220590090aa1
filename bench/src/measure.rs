//! How runs are scheduled and summarised.
//!
//! The machine is shared and noisy, so no engine gets a quiet stretch to itself: after a
//! warm-up, every runner gets a short slice of calls in turn, round after round, until each
//! has used its time budget. A burst of outside load then lands on all engines alike instead
//! of on whichever was running. Every other round runs in reverse order (A B C, C B A, A B C,
//! ...), so that a machine speeding up or slowing down over a round (its slow spells last
//! seconds, a round about as long) favours no position in it. Results are the median and the
//! 10th-90th percentile spread of the individual calls.

use std::thread::sleep;
use std::time::Duration;

use crate::engines::{Runner, Slice};
use crate::Error;

/// Length of one slice, aimed at: short, so that a slow spell of the machine (they last
/// seconds on a shared host) is spread over every participant. Rounds are budget / this, at
/// least [`MIN_ROUNDS`] and at most [`MAX_ROUNDS`].
const SLICE: Duration = Duration::from_millis(150);

/// Fewest rounds, so that a short budget is still spread out.
const MIN_ROUNDS: u32 = 10;

/// Most rounds: every slice holds at least one call, so a participant slower than its slice
/// overshoots its budget by one call per round.
const MAX_ROUNDS: u32 = 40;

/// Rounds for a per-participant time budget.
pub fn rounds_for(budget: Duration) -> u32 {
    ((budget.as_secs_f64() / SLICE.as_secs_f64()).round() as u32).clamp(MIN_ROUNDS, MAX_ROUNDS)
}

/// Pause between two slices, so that threads one engine leaves spinning (ONNX Runtime's and
/// our team's workers spin briefly before they sleep) do not eat into the next engine's time.
/// 10 ms was not enough on a 2-core AMD EPYC: the batch-8 row that follows ONNX Runtime's
/// 2-thread session had one core shared for a good part of each slice (its "cores busy"
/// well under 2, its median far above what the same row measures with a longer pause),
/// while rows that follow a 1-thread session were unaffected. 100 ms adds about 20 s to a
/// full run of one spec.
const SETTLE: Duration = Duration::from_millis(100);

/// Summary statistics of a set of durations, in milliseconds.
#[derive(Copy, Clone, Debug)]
pub struct Stats {
    /// Number of calls.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
}

impl Stats {
    /// Statistics of `times`; `None` when there are none.
    pub fn of(times: &[Duration]) -> Option<Self> {
        let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        if ms.is_empty() {
            return None;
        }
        ms.sort_by(f64::total_cmp);
        Some(Self {
            n: ms.len(),
            median: quantile(&ms, 0.5),
            p10: quantile(&ms, 0.1),
            p90: quantile(&ms, 0.9),
        })
    }
}

/// Quantile `q` of sorted values, interpolating linearly between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A runner and everything measured of it so far.
pub struct Entry {
    /// The engine in one configuration.
    pub runner: Box<dyn Runner>,
    /// Every timed call, across rounds.
    pub times: Vec<Duration>,
    /// Wall time of the timed slices.
    pub wall: Duration,
    /// CPU time of the timed slices, when every slice reported one.
    pub cpu: Option<Duration>,
    /// Time of one call, from the warm-up: sizes the slices.
    estimate: Duration,
    /// Whether each slice starts with one extra call that is not kept.
    discard_first: bool,
}

impl Entry {
    /// A runner not yet measured.
    pub fn new(runner: Box<dyn Runner>) -> Self {
        Self {
            runner,
            times: Vec::new(),
            wall: Duration::ZERO,
            cpu: Some(Duration::ZERO),
            estimate: Duration::ZERO,
            discard_first: false,
        }
    }

    /// A yardstick measures steady-state speed: the first call of each slice, which runs cold
    /// after the other participants (about 25% slower for the sgemm), is made but not kept.
    pub fn yardstick(runner: Box<dyn Runner>) -> Self {
        Self {
            discard_first: true,
            ..Self::new(runner)
        }
    }

    fn record(&mut self, slice: Slice) {
        self.wall += slice.wall;
        self.cpu = self.cpu.zip(slice.cpu).map(|(a, b)| a + b);
        self.times
            .extend(slice.times.into_iter().skip(usize::from(self.discard_first)));
    }

    /// CPU time over wall time while timed: how many cores the engine kept busy.
    pub fn cores_busy(&self) -> Option<f64> {
        self.cpu
            .filter(|_| !self.wall.is_zero())
            .map(|cpu| cpu.as_secs_f64() / self.wall.as_secs_f64())
    }

    /// Calls that fill `target` at the warm-up's pace (at least one).
    fn calls_for(&self, target: Duration) -> usize {
        let est = self.estimate.max(Duration::from_micros(1));
        (target.as_secs_f64() / est.as_secs_f64()).round().max(1.0) as usize
    }
}

/// Runs each entry untimed for about `budget` (and at least 3 calls), in turn, and takes the
/// median call as its pace. The first calls of an engine fault in its buffers and fill caches;
/// none of that belongs in the results.
pub fn warm_up(entries: &mut [Entry], budget: Duration) -> Result<(), Error> {
    for entry in entries.iter_mut() {
        let mut times = entry.runner.run(1)?.times;
        while times.len() < 3 || times.iter().sum::<Duration>() < budget {
            let next = (budget.as_secs_f64() / times[0].as_secs_f64().max(1e-6)).clamp(1.0, 1000.0) as usize;
            times.extend(entry.runner.run(next)?.times);
        }
        entry.estimate = Stats::of(&times).map_or(times[0], |s| Duration::from_secs_f64(s.median / 1e3));
        sleep(SETTLE);
    }
    Ok(())
}

/// Interleaved timing: [`rounds_for`] `budget` rounds, each giving every entry one slice of
/// `budget / rounds`, in [`round_order`].
/// `progress` is told after each round.
pub fn interleaved(entries: &mut [Entry], budget: Duration, mut progress: impl FnMut(u32, u32)) -> Result<(), Error> {
    let rounds = rounds_for(budget);
    let slice = budget / rounds;
    for round in 1..=rounds {
        for i in round_order(round, entries.len()) {
            let entry = &mut entries[i];
            let n = entry.calls_for(slice) + usize::from(entry.discard_first);
            let result = entry.runner.run(n)?;
            entry.record(result);
            sleep(SETTLE);
        }
        progress(round, rounds);
    }
    Ok(())
}

/// The order in which round `round` (from 1) visits `n` entries: forward in odd rounds,
/// backward in even ones, so that over each pair of rounds every entry's slices sit, on
/// average, at the middle of the pair.
pub fn round_order(round: u32, n: usize) -> impl Iterator<Item = usize> {
    let forward = round % 2 == 1;
    (0..n).map(move |i| if forward { i } else { n - 1 - i })
}

/// CPU time of the whole machine so far (the `cpu` line of /proc/stat, all cores), to tell
/// how much of the machine the benchmark had while it timed.
#[derive(Copy, Clone, Debug)]
pub struct CpuLoad {
    /// Ticks spent running anything (user, nice, system, irq, softirq).
    busy: u64,
    /// Ticks the hypervisor gave to someone else.
    steal: u64,
    /// All ticks, idle included.
    total: u64,
}

/// How the machine's CPU time was spent over an interval, as shares of all its cores' time.
#[derive(Copy, Clone, Debug)]
pub struct LoadShare {
    /// The benchmark's processes (this one and the Python worker), while timing.
    pub ours: f64,
    /// Everything else running on the machine.
    pub others: f64,
    /// Taken by the hypervisor for other machines.
    pub steal: f64,
}

impl CpuLoad {
    /// The counters now; `None` where /proc/stat is unreadable.
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|w| w.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal, ..] = v[..] else {
            return None;
        };
        let busy = user + nice + system + irq + softirq;
        Some(Self {
            busy,
            steal,
            total: busy + idle + iowait + steal,
        })
    }

    /// Shares of the machine's time from `self` to `later`, given the CPU time the benchmark's
    /// own processes measured over it.
    pub fn share_since(self, later: Self, ours: Duration) -> LoadShare {
        // /proc/stat counts in USER_HZ ticks, 100 per second on Linux.
        let total = later.total.saturating_sub(self.total).max(1) as f64;
        let busy = later.busy.saturating_sub(self.busy) as f64 / total;
        let ours = (ours.as_secs_f64() * 100.0 / total).min(busy);
        LoadShare {
            ours,
            others: busy - ours,
            steal: later.steal.saturating_sub(self.steal) as f64 / total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_direction() {
        let order = |round| round_order(round, 3).collect::<Vec<_>>();
        assert_eq!(order(1), [0, 1, 2]);
        assert_eq!(order(2), [2, 1, 0]);
        assert_eq!(order(3), [0, 1, 2]);
        // A drift that grows linearly over a pair of rounds reaches every entry equally.
        let positions = |i: usize| -> usize {
            (1..=2)
                .map(|r| round_order(r, 3).position(|j| j == i).unwrap() + 3 * (r as usize - 1))
                .sum()
        };
        assert!((0..3).all(|i| positions(i) == positions(0)));
    }

    #[test]
    fn quantiles_interpolate() {
        let ms: Vec<Duration> = [4, 1, 3, 2, 5].iter().map(|&v| Duration::from_millis(v)).collect();
        let s = Stats::of(&ms).unwrap();
        assert_eq!(s.n, 5);
        assert!((s.median - 3.0).abs() < 1e-9);
        assert!((s.p10 - 1.4).abs() < 1e-9);
        assert!((s.p90 - 4.6).abs() < 1e-9);
        assert!(Stats::of(&[]).is_none());
    }
}
