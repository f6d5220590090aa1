//! A fixed team of threads that splits one layer's work, for batch-1 inference on several
//! cores without allocating per call.
//!
//! A general pool (rayon) costs tens of microseconds to wake and may allocate when a job is
//! queued; a MobileNet layer can take under ten microseconds and the forward pass must not
//! allocate. So a [`Team`] keeps its workers spinning on a shared counter for a while after
//! each job (then parks them), publishes each job as a pointer to a closure on the caller's
//! stack, runs part 0 itself and waits for the rest.

mod helping;
mod queue;

pub(crate) use helping::Desk;
use queue::{work_through, Queue};
use std::cell::UnsafeCell;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks: long enough to span the gap between two
/// layers or two back-to-back images, short enough not to burn a core between sparse calls.
const SPIN: Duration = Duration::from_millis(2);

/// Most threads a [`Team`] takes. A layer splits into far fewer useful parts than this; the
/// bound turns a nonsense count (`usize::MAX`, a negative number cast) into an error instead
/// of an attempt to allocate bookkeeping for it.
pub const MAX_THREADS: usize = 1024;

/// One job: called once with every part index `0..threads`.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// What the caller and the workers share.
struct Shared {
    /// Bumped once per job (and once to quit); workers wait for it to change.
    epoch: AtomicU64,
    /// The current job, valid from an `epoch` bump until `pending` drops to 0.
    job: UnsafeCell<Option<Job<'static>>>,
    /// Workers still running the current job.
    pending: AtomicUsize,
    /// A worker's job panicked; the caller re-raises it.
    panicked: AtomicBool,
    quit: AtomicBool,
    /// Per worker: it is parked, or about to park, and needs an `unpark`.
    parked: Vec<AtomicBool>,
}

// SAFETY: `job` is written only inside `Team::run`, under the team's `turn` lock and while no
// job is in flight, and read by workers only between the `epoch` bump that publishes it and
// their decrement of `pending`, which `run` waits for; the other fields are atomics.
unsafe impl Sync for Shared {}

/// A team of `threads` threads: the caller plus `threads - 1` workers it owns.
///
/// [`Team::run`] splits a job into `threads` parts. A team of one ([`Team::single`]) runs
/// jobs inline and owns no thread. Dropping a team stops and joins its workers.
pub struct Team {
    shared: Option<Arc<Shared>>,
    workers: Vec<(Thread, JoinHandle<()>)>,
    /// Held for the whole of a `run`, so that a team shared between threads runs one job at a
    /// time.
    turn: Mutex<()>,
    /// For a team made by [`Team::helped`]: the batch's desk and this thread's place at it.
    desk: Option<(Arc<Desk>, usize)>,
}

impl Team {
    /// A team of one: runs every job on the calling thread.
    pub const fn single() -> Self {
        Team {
            shared: None,
            workers: Vec::new(),
            turn: Mutex::new(()),
            desk: None,
        }
    }

    /// A team of `threads` threads (at least 1, at most [`MAX_THREADS`]): spawns
    /// `threads - 1` workers, now.
    ///
    /// # Errors
    /// If `threads` is above [`MAX_THREADS`], or the operating system refuses to start a
    /// thread.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        if threads <= 1 {
            return Ok(Self::single());
        }
        if threads > MAX_THREADS {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{threads} threads asked for; a team has at most {MAX_THREADS}"),
            ));
        }
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            pending: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            quit: AtomicBool::new(false),
            parked: (1..threads).map(|_| AtomicBool::new(false)).collect(),
        });
        let mut team = Team {
            shared: Some(Arc::clone(&shared)),
            workers: Vec::with_capacity(threads - 1),
            turn: Mutex::new(()),
            desk: None,
        };
        for part in 1..threads {
            let shared = Arc::clone(&shared);
            // On failure `team` is dropped, which stops the workers already started.
            let handle = thread::Builder::new()
                .name(format!("mobilenet-{part}"))
                .spawn(move || work(&shared, part))?;
            team.workers.push((handle.thread().clone(), handle));
        }
        Ok(team)
    }

    /// The team batch thread `me` of a batch's `desk` runs its images with: one thread until
    /// another thread of the batch is idle, then two (see [`helping`]).
    pub(crate) fn helped(desk: Arc<Desk>, me: usize) -> Team {
        let mut team = Team::single();
        team.desk = Some((desk, me));
        team
    }

    /// Number of threads jobs are split over, the caller included. Fixed for a team of its
    /// own; a team lent help within a batch (`predict_batch`) goes from 1 to 2 when another
    /// thread of the batch runs out of images, so a job reads it once and treats parts from
    /// that count on as empty.
    pub fn threads(&self) -> usize {
        match &self.desk {
            Some((desk, _)) => desk.threads(),
            None => self.workers.len() + 1,
        }
    }

    /// Calls `job(part)` for every `part` in `0..self.threads()`, part 0 on this thread and the
    /// others on the workers, and returns when all are done. Allocates nothing. Calls from
    /// several threads take turns; a job must not call `run` on its own team.
    ///
    /// # Panics
    /// If any part panics (after every part has finished).
    pub fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        if self.desk.is_some() {
            return self.run_pieces(1, &|part, _| job(part));
        }
        let Some(shared) = &self.shared else {
            return job(0);
        };
        // A panic in an earlier job poisons nothing that matters: the state is reset below.
        let _turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: no job is in flight (the previous `run` waited for `pending == 0`, and the
        // `turn` lock keeps other threads out of `run`), so nobody reads `job` now. The lifetime is extended only until this call returns: `Wait` below waits
        // for every worker to finish with it, even if part 0 panics.
        unsafe {
            *shared.job.get() = Some(std::mem::transmute::<Job<'_>, Job<'static>>(job));
        }
        shared.pending.store(self.workers.len(), Relaxed);
        // SeqCst pairs with the workers' SeqCst `parked` store and `epoch` re-check, so either
        // a worker sees the new epoch before parking or this thread sees it parked.
        shared.epoch.fetch_add(1, SeqCst);
        for ((thread, _), parked) in self.workers.iter().zip(&shared.parked) {
            if parked.load(SeqCst) {
                thread.unpark();
            }
        }
        let wait = Wait(shared);
        job(0);
        drop(wait);
        if shared.panicked.swap(false, Relaxed) {
            panic!("a mobilenet worker thread panicked while running a layer");
        }
    }

    /// Runs a job cut into `pieces` pieces per part: `job(owner, piece)` for every `owner` in
    /// `0..self.threads()` and `piece` in `0..pieces`, each exactly once. Every part first runs
    /// its own pieces in order; a part that runs out takes the pieces other parts have not
    /// started yet, last first. Allocates nothing.
    ///
    /// This is for splits whose even shares can finish unevenly: on a shared machine one core
    /// is often slower than the other for seconds at a time (the benchmark saw one take 25%
    /// longer over the same images), and an even split then waits for it at every layer. When
    /// the cores keep pace, each part runs just its own pieces, in the order a plain split
    /// would.
    ///
    /// Teams of more than [`MAX_STEALING_PARTS`] threads run without taking pieces from each
    /// other. Panics as [`Team::run`].
    pub fn run_pieces(&self, pieces: usize, job: &(dyn Fn(usize, usize) + Sync)) {
        if let Some((desk, me)) = &self.desk {
            return desk.run_pieces(*me, pieces, job);
        }
        let parts = self.threads();
        if parts > MAX_STEALING_PARTS || pieces > u32::MAX as usize {
            return self.run(&|part| (0..pieces).for_each(|j| job(part, j)));
        }
        // Per part: the next piece its owner runs (low half) and one past the last piece
        // nobody has taken (high half), claimed by compare-and-swap on both at once.
        let queues: [Queue; MAX_STEALING_PARTS] = std::array::from_fn(|_| Queue::new(pieces));
        self.run(&|part| {
            work_through(&queues[..parts], part, job);
        });
    }

    /// Calls `body` on ranges that together cover `0..n` once: each part of the team gets its
    /// even share ([`share`], boundaries on multiples of `unit`), run as pieces
    /// ([`pieces_for`] the layer's `madds`) through [`Team::run_pieces`], so that a part whose
    /// core is slowed hands its last pieces to a faster one.
    pub(crate) fn split(&self, n: usize, unit: usize, madds: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        let parts = self.threads();
        if parts == 1 {
            return body(0..n);
        }
        let pieces = pieces_for(madds, parts, n / parts / unit.max(1));
        self.run_pieces(pieces, &|part, piece| {
            let own = share(n, unit, parts, part);
            let sub = share(own.len(), unit, pieces, piece);
            if !sub.is_empty() {
                body(own.start + sub.start..own.start + sub.end);
            }
        });
    }
}

/// Most pieces per part of a layer split over a team (see [`Team::run_pieces`]). More pieces
/// move work between cores more finely, but each piece sets up its loops again, and a piece
/// taken by the other core reads its input from this core's cache.
pub(crate) const PIECES: usize = 4;

/// Least work of a piece, in multiply-adds (about 12 us of one core): below it, the cost of
/// the pieces outweighed what moving work between cores saved. Lower under Miri, so that the
/// kernel tests' small shapes are cut into pieces too (see `MIN_SPLIT_MADDS` in
/// `kernels/f32/gemm/driver.rs`).
pub(crate) const PIECE_MIN_MADDS: usize = if cfg!(miri) { 1 << 9 } else { 1 << 20 };

/// Pieces per part for a split of `madds` multiply-adds over `parts` parts, and at most
/// `max` (the items to split).
pub(crate) fn pieces_for(madds: usize, parts: usize, max: usize) -> usize {
    (madds / parts / PIECE_MIN_MADDS).clamp(1, PIECES).min(max.max(1))
}

/// Most threads a team may have for [`Team::run_pieces`] to move pieces between them (the
/// queues live on the stack).
pub const MAX_STEALING_PARTS: usize = 8;

/// Waits, on drop, until every worker has finished the current job.
struct Wait<'a>(&'a Shared);

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut spins = 0u32;
        while self.0.pending.load(Acquire) != 0 {
            spins = spins.wrapping_add(1);
            // On a busy machine a worker may have been descheduled: let it run.
            if spins.is_multiple_of(1 << 12) {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

impl Default for Team {
    /// A team of one ([`Team::single`]).
    fn default() -> Self {
        Team::single()
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        let Some(shared) = &self.shared else { return };
        shared.quit.store(true, SeqCst);
        shared.epoch.fetch_add(1, SeqCst);
        for (thread, handle) in self.workers.drain(..) {
            thread.unpark();
            // A worker never panics outside a job (jobs are caught), so join cannot fail.
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Team({} threads)", self.threads())
    }
}

/// A worker's loop: wait for an epoch bump, run part `part` of the job, report, repeat.
fn work(shared: &Shared, part: usize) {
    let parked = &shared.parked[part - 1];
    // Not `epoch.load()`: a job (or the quit) may have been published before this thread got
    // to run, and it must not be mistaken for the starting point.
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while shared.epoch.load(Acquire) == seen {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
            } else if start.elapsed() > SPIN {
                // Re-check after announcing: `run` bumps the epoch before reading `parked`.
                // A swap, where the memory model is content with a store: under QEMU's aarch64
                // emulation on an x86 host, the runtime's tests hung with a store in 3 of 62
                // runs (this worker parked, the caller waiting for it). The likely cause: the
                // emulation lets the store pass the load after it, which ARM itself forbids.
                // With the swap, a read-modify-write that no host reorders so, 0 of 101 hung.
                parked.swap(true, SeqCst);
                while shared.epoch.load(SeqCst) == seen {
                    thread::park();
                }
                parked.store(false, Relaxed);
            }
        }
        seen = shared.epoch.load(Acquire);
        if shared.quit.load(Acquire) {
            return;
        }
        // SAFETY: the epoch bump that woke us was published after `job` was set, and `run`
        // keeps the job alive until `pending` reaches 0 below.
        let job = unsafe { (*shared.job.get()).expect("a job is published before the epoch bump") };
        if catch_unwind(AssertUnwindSafe(|| job(part))).is_err() {
            shared.panicked.store(true, Relaxed);
        }
        shared.pending.fetch_sub(1, Release);
    }
}

/// Splits `0..n` into `parts` contiguous ranges and returns range `part`: every boundary is
/// the multiple of `unit` nearest to an even split, so the lengths are multiples of `unit`
/// (but for the last) and within `unit` of `n / parts`.
///
/// Rounding each boundary, rather than handing out whole units, keeps a ragged end from
/// counting as a whole unit: 196 rows (a 14x14 map) in units of 12 split 96 + 100, where
/// counting 17 units split 108 + 88 and left one thread waiting a tenth of the layer.
pub(crate) fn share(n: usize, unit: usize, parts: usize, part: usize) -> Range<usize> {
    let cut = |p: usize| {
        if p >= parts {
            n
        } else {
            // Nearest multiple of `unit` to `n * p / parts`, halves rounded up, so that an odd
            // unit goes to an earlier part: part 0 runs on the calling thread, which starts first.
            ((2 * n * p + parts * unit) / (2 * parts * unit) * unit).min(n)
        }
    };
    cut(part)..cut(part + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_part_runs_once_per_job() {
        for threads in 1..=4 {
            let team = Team::new(threads).unwrap();
            assert_eq!(team.threads(), threads);
            let hits: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..1000 {
                team.run(&|part| {
                    hits[part].fetch_add(1, Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Relaxed) == 1000), "threads={threads}");
        }
    }

    #[test]
    fn parts_see_the_callers_stack_and_finish_before_run_returns() {
        let team = Team::new(3).unwrap();
        let mut out = [0usize; 300];
        for round in 0..50 {
            let ptr = SyncPtr(out.as_mut_ptr());
            team.run(&|part| {
                for i in share(300, 7, 3, part) {
                    // SAFETY: `share` gives disjoint ranges inside the 300-element array.
                    unsafe { *ptr.get().add(i) = i + round };
                }
            });
            assert!(out.iter().enumerate().all(|(i, &v)| v == i + round));
        }
    }

    /// A raw pointer that parts of one job may share (they write disjoint elements).
    struct SyncPtr(*mut usize);
    // SAFETY: only used for disjoint writes within one `run`.
    unsafe impl Sync for SyncPtr {}
    impl SyncPtr {
        fn get(&self) -> *mut usize {
            self.0
        }
    }

    #[test]
    fn a_job_published_before_the_workers_start_still_runs() {
        for _ in 0..200 {
            let team = Team::new(2).unwrap();
            let count = AtomicUsize::new(0);
            team.run(&|_| {
                count.fetch_add(1, Relaxed);
            });
            assert_eq!(count.load(Relaxed), 2);
        }
        // Dropping a team whose workers have not started yet must not hang either.
        for _ in 0..200 {
            drop(Team::new(2).unwrap());
        }
    }

    #[test]
    fn workers_wake_after_parking() {
        let team = Team::new(2).unwrap();
        let count = AtomicUsize::new(0);
        team.run(&|_| {
            count.fetch_add(1, Relaxed);
        });
        thread::sleep(SPIN * 3);
        team.run(&|_| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 4);
    }

    #[test]
    fn a_panicking_part_is_reported_and_the_team_still_works() {
        let team = Team::new(2).unwrap();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            team.run(&|part| {
                if part == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(caught.is_err());
        let count = AtomicUsize::new(0);
        team.run(&|_| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 2);
    }

    #[test]
    fn run_pieces_runs_every_piece_once() {
        for threads in [1, 2, 3, MAX_STEALING_PARTS + 1] {
            let team = Team::new(threads).unwrap();
            for pieces in [0, 1, 3, 8] {
                for _ in 0..20 {
                    let hits: Vec<AtomicUsize> = (0..threads * pieces).map(|_| AtomicUsize::new(0)).collect();
                    team.run_pieces(pieces, &|owner, piece| {
                        assert!(owner < threads && piece < pieces);
                        hits[owner * pieces + piece].fetch_add(1, Relaxed);
                    });
                    assert!(
                        hits.iter().all(|h| h.load(Relaxed) == 1),
                        "threads={threads} pieces={pieces}"
                    );
                }
            }
        }
    }

    #[test]
    fn run_pieces_moves_work_off_a_slow_part() {
        // Part 1's pieces are slow: the calling thread (part 0) must run some of them.
        let team = Team::new(2).unwrap();
        let caller = thread::current().id();
        let moved = AtomicUsize::new(0);
        team.run_pieces(8, &|owner, _| {
            if owner == 1 {
                if thread::current().id() == caller {
                    moved.fetch_add(1, Relaxed);
                }
                thread::sleep(Duration::from_millis(5));
            }
        });
        assert!(moved.load(Relaxed) >= 1);
    }

    #[test]
    fn share_balances_rows_not_units() {
        // A 14x14 map in register tiles of 12: 96 + 100, not 108 + 88.
        assert_eq!(share(196, 12, 2, 0), 0..96);
        assert_eq!(share(196, 12, 2, 1), 96..196);
        // An odd row goes to the calling thread's part.
        assert_eq!(share(7, 1, 2, 0), 0..4);
    }

    #[test]
    fn share_covers_the_range_in_units() {
        for n in [0, 1, 5, 12, 49, 196, 1000] {
            for unit in [1, 4, 12] {
                for parts in 1..=3 {
                    let ranges: Vec<_> = (0..parts).map(|p| share(n, unit, parts, p)).collect();
                    assert_eq!(ranges[0].start, 0);
                    assert_eq!(ranges[parts - 1].end, n);
                    for w in ranges.windows(2) {
                        assert_eq!(w[0].end, w[1].start);
                        assert!(w[0].end == n || w[0].len() % unit == 0);
                    }
                    for r in &ranges {
                        assert!(r.len().abs_diff(n / parts) <= unit, "n={n} unit={unit} {ranges:?}");
                    }
                }
            }
        }
    }
}
