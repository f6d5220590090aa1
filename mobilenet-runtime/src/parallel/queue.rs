//! The pieces of a layer split over parts, and the order a thread takes them in: its own
//! part's first to last, then the others' from the back. [`super::Team::run_pieces`] shares
//! one queue per part between the threads of a team, [`super::helping::Desk`] between the
//! threads of a batch.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Runs part `part`'s pieces first to last, then the other parts' untaken pieces, each
/// part's last first, as [`Team::run_pieces`](super::Team::run_pieces) describes; `job(owner, piece)`. Returns whether
/// it ran any.
pub(super) fn work_through(queues: &[Queue], part: usize, job: &(dyn Fn(usize, usize) + Sync)) -> bool {
    let mut ran = false;
    while let Some(j) = queues[part].take(true) {
        job(part, j);
        ran = true;
    }
    let parts = queues.len();
    for other in (1..parts).map(|d| (part + d) % parts) {
        while let Some(j) = queues[other].take(false) {
            job(other, j);
            ran = true;
        }
    }
    ran
}

/// The untaken pieces of one part, `front..back` packed as `front | back << 32`; on its own
/// cache line, so that the owner's claims do not disturb the other queues.
#[repr(align(64))]
pub(super) struct Queue(AtomicU64);

impl Queue {
    /// A queue of pieces `0..pieces`, none taken (at most `u32::MAX`).
    pub(super) fn new(pieces: usize) -> Self {
        Queue(AtomicU64::new((pieces as u64) << 32))
    }

    /// Claims the first untaken piece (the owner) or the last (another part).
    pub(super) fn take(&self, first: bool) -> Option<usize> {
        let mut cur = self.0.load(Relaxed);
        loop {
            let (front, back) = (cur & u64::from(u32::MAX), cur >> 32);
            if front >= back {
                return None;
            }
            let (next, piece) = if first {
                (cur + 1, front)
            } else {
                (cur - (1 << 32), back - 1)
            };
            // Relaxed is enough: the claim only has to be unique (a read-modify-write is), and
            // the pieces' results are published to the caller by `run`'s own synchronisation.
            match self.0.compare_exchange_weak(cur, next, Relaxed, Relaxed) {
                Ok(_) => return Some(piece as usize),
                Err(seen) => cur = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_takes_from_both_ends_without_overlap() {
        let q = Queue(AtomicU64::new(5 << 32));
        assert_eq!(q.take(true), Some(0));
        assert_eq!(q.take(false), Some(4));
        assert_eq!(q.take(false), Some(3));
        assert_eq!(q.take(true), Some(1));
        assert_eq!(q.take(true), Some(2));
        assert_eq!(q.take(true), None);
        assert_eq!(q.take(false), None);
    }
}
