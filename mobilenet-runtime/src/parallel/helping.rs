//! Lending a hand inside a batch: a thread of [`crate::interop::predict_batch`] that has run
//! out of images helps another thread finish the image it is still on, layer by layer, so
//! that a batch does not end with one core waiting while the other runs the last image alone.
//!
//! Each batch thread runs its images with a [`Team`](super::Team) made by
//! [`Team::helped`](super::Team::helped). Such a team reports one thread until some thread
//! of the batch has gone idle, and two from then on (the count only grows while the batch
//! runs, so a layer that saw two keeps two). A layer split over two parts is then posted on
//! the [`Desk`]: its owner runs part 0's pieces and then part 1's from the back; idle threads
//! take part 1's from the front and then part 0's from the back, as
//! [`Team::run_pieces`](super::Team::run_pieces) does between the threads of one team. The
//! queues of pieces are [`super::queue`]'s.

use super::queue::{work_through, Queue};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Mutex, PoisonError};

/// A job as posted: lifetime erased. It is only called while its owner waits in
/// [`Desk::run_pieces`] for every helper that took it (see `Unpost`).
type Job = *const (dyn Fn(usize, usize) + Sync + 'static);

/// What the threads of one batch share.
pub(crate) struct Desk {
    /// Per batch thread: the layer it is running and would take help with.
    posts: Vec<Mutex<Option<Post>>>,
    /// Threads still running images of their own; the others help until the batch ends.
    busy: AtomicUsize,
}

/// A posted layer: its job, its two parts' queues and the count of helpers inside it, all on
/// the owner's stack.
#[derive(Clone, Copy)]
struct Post {
    job: Job,
    queues: *const [Queue; 2],
    helpers: *const AtomicUsize,
}

// SAFETY: a `Post` is only dereferenced by a helper that registered in `helpers` while the
// post was up; its owner takes the post down and waits for `helpers` to reach 0 before the
// pointees go out of scope, and the job is `Sync`.
unsafe impl Send for Post {}

impl Desk {
    /// A desk for `threads` batch threads, all busy.
    pub(crate) fn new(threads: usize) -> Self {
        Desk {
            posts: (0..threads).map(|_| Mutex::new(None)).collect(),
            busy: AtomicUsize::new(threads),
        }
    }

    /// Threads a helped team splits a layer over: 2 once any thread is idle, else 1.
    pub(crate) fn threads(&self) -> usize {
        1 + usize::from(self.busy.load(Acquire) < self.posts.len())
    }

    /// [`Team::run_pieces`](super::Team::run_pieces) for batch thread `me`: `job(part,
    /// piece)` for parts `0..2` when a thread is idle (with its help), else for part 0 only.
    pub(crate) fn run_pieces(&self, me: usize, pieces: usize, job: &(dyn Fn(usize, usize) + Sync)) {
        if self.threads() == 1 {
            return (0..pieces).for_each(|j| job(0, j));
        }
        let queues = [Queue::new(pieces), Queue::new(pieces)];
        let helpers = AtomicUsize::new(0);
        // SAFETY: only the lifetime changes; `Unpost` below keeps `job` alive for every
        // helper that can reach it.
        let erased: Job = unsafe { std::mem::transmute::<*const (dyn Fn(usize, usize) + Sync + '_), Job>(job) };
        let slot = &self.posts[me];
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Post {
            job: erased,
            queues: &queues,
            helpers: &helpers,
        });
        let _unpost = Unpost {
            slot,
            helpers: &helpers,
        };
        work_through(&queues, 0, job);
    }

    /// Seats batch thread `me`: when the seat is dropped (the thread has no image left), the
    /// thread helps the others' posted layers until every thread is out of images. If the
    /// thread is unwinding from a panic it only leaves, so that the others do not wait for it.
    pub(crate) fn seat(&self, me: usize) -> Seat<'_> {
        Seat { desk: self, me }
    }

    /// See [`Desk::seat`].
    fn help(&self, me: usize) {
        self.busy.fetch_sub(1, SeqCst);
        if std::thread::panicking() {
            return;
        }
        let mut spins = 0u32;
        while self.busy.load(Acquire) > 0 {
            let mut helped = false;
            for (owner, slot) in self.posts.iter().enumerate() {
                if owner == me {
                    continue;
                }
                let post = slot.lock().unwrap_or_else(PoisonError::into_inner).inspect(|p| {
                    // SAFETY: the post is up, so its owner has not yet started waiting for its
                    // helpers and `helpers` is alive; registering under the lock keeps it so.
                    unsafe { &*p.helpers }.fetch_add(1, Relaxed);
                });
                let Some(post) = post else { continue };
                // SAFETY: registered above, so the owner waits for `Leave` before any pointee
                // is dropped.
                let _leave = Leave(unsafe { &*post.helpers });
                // SAFETY: as above.
                let (job, queues) = unsafe { (&*post.job, &*post.queues) };
                helped |= work_through(queues, 1, job);
            }
            spins = if helped { 0 } else { spins.wrapping_add(1) };
            // On a busy machine the thread being helped may have been descheduled: let it run.
            if spins.is_multiple_of(1 << 10) && spins > 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// A batch thread's place at a [`Desk`]; see [`Desk::seat`].
pub(crate) struct Seat<'a> {
    desk: &'a Desk,
    me: usize,
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.desk.help(self.me);
    }
}

/// Takes a post down and waits until every helper that took it has left.
struct Unpost<'a> {
    slot: &'a Mutex<Option<Post>>,
    helpers: &'a AtomicUsize,
}

impl Drop for Unpost<'_> {
    fn drop(&mut self) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
        while self.helpers.load(Acquire) != 0 {
            std::hint::spin_loop();
        }
    }
}

/// A helper leaving a post, on drop (even if a piece panicked).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::Team;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn an_idle_thread_helps_and_every_piece_runs_once() {
        let outer = Team::new(2).unwrap();
        let desk = Arc::new(Desk::new(2));
        let caller = thread::current().id();
        let helped = AtomicUsize::new(0);
        outer.run(&|part| {
            let _seat = desk.seat(part);
            if part == 1 {
                return; // no images: goes straight to helping
            }
            let team = Team::helped(Arc::clone(&desk), 0);
            // Until the other thread has helped with something, and at least 100 layers: on a
            // busy machine it may not get to run for a while.
            let start = std::time::Instant::now();
            for layer in 0.. {
                if layer >= 100 && helped.load(Relaxed) > 0 {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "the idle thread never helped"
                );
                // The other thread may go idle between this read and the layer's own, so the
                // layer may see one more thread than `before` (never fewer: the count only grows).
                let before = team.threads();
                let hits: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
                team.run_pieces(4, &|p, j| {
                    hits[p * 4 + j].fetch_add(1, Relaxed);
                    if thread::current().id() != caller {
                        helped.fetch_add(1, Relaxed);
                    }
                    thread::sleep(Duration::from_micros(50));
                });
                let after = team.threads();
                let counts: Vec<usize> = hits.iter().map(|h| h.load(Relaxed)).collect();
                // Part 0 always runs; part 1 runs whole or, in a layer that saw one thread, not
                // at all.
                let one_part = counts[..4] == [1; 4] && counts[4..] == [0; 4] && before == 1;
                let two_parts = counts == [1; 8] && after == 2;
                assert!(
                    one_part || two_parts,
                    "pieces run {counts:?} with {before} thread(s) before the layer, {after} after"
                );
            }
            assert_eq!(team.threads(), 2);
        });
    }

    #[test]
    fn a_team_reports_one_thread_until_another_is_idle() {
        let desk = Arc::new(Desk::new(2));
        let team = Team::helped(Arc::clone(&desk), 0);
        assert_eq!(team.threads(), 1);
        let ran = AtomicUsize::new(0);
        // With nobody idle nothing is posted and the job runs here, part 0 only.
        team.run(&|part| {
            assert_eq!(part, 0);
            ran.fetch_add(1, Relaxed);
        });
        assert_eq!(ran.load(Relaxed), 1);
        assert!(desk.posts.iter().all(|p| p.lock().unwrap().is_none()));
    }

    #[test]
    fn a_panicking_batch_thread_does_not_leave_the_others_waiting() {
        let outer = Team::new(2).unwrap();
        let desk = Arc::new(Desk::new(2));
        let caught = catch_unwind(AssertUnwindSafe(|| {
            outer.run(&|part| {
                let _seat = desk.seat(part);
                if part == 0 {
                    panic!("an image failed");
                }
            })
        }));
        assert!(caught.is_err());
        assert_eq!(desk.busy.load(Relaxed), 0);
    }
}
