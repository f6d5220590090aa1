//! ndarray interop and the glue generated models share: checking an image's shape, running a
//! batch across cores, and viewing a slice as a fixed-size array.

use crate::aligned::{AlignedBuf, AllocError};
use crate::parallel::{Desk, Team};
use ndarray::{Array1, Array2, ArrayView3, ArrayView4};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

/// A wrong input array: what was expected, what came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The image is not H x W x C as the model was compiled for.
    #[error("expected an image of shape {expected:?} (height, width, channels), found {found:?}")]
    ImageShape {
        /// The model's `INPUT_SHAPE`.
        expected: [usize; 3],
        /// The array's shape.
        found: Vec<usize>,
    },
    /// The batch is not N x H x W x C.
    #[error("expected a batch of shape [N, {}, {}, {}] (images, height, width, channels), found {found:?}", expected[0], expected[1], expected[2])]
    BatchShape {
        /// The model's `INPUT_SHAPE`.
        expected: [usize; 3],
        /// The array's shape.
        found: Vec<usize>,
    },
    /// The batch holds no image: an empty result would hide a caller's bug (a filter that
    /// dropped every file, say), so it is refused.
    #[error("the batch holds no image (shape {found:?}); give at least one")]
    EmptyBatch {
        /// The array's shape.
        found: Vec<usize>,
    },
    /// The activation arenas of the batch's threads could not be allocated.
    #[error("cannot run the batch: {0}")]
    OutOfMemory(#[from] AllocError),
    /// A flat input does not hold one image.
    #[error("expected {expected} values (one image), found {found}")]
    Length {
        /// The model's `INPUT_LEN`.
        expected: usize,
        /// The slice's length.
        found: usize,
    },
}

/// What [`predict`] and [`predict_batch`] need of a generated model.
pub trait Network: Send + Sync {
    /// Image shape, H x W x C.
    const INPUT_SHAPE: [usize; 3];
    /// Outputs per image.
    const NUM_CLASSES: usize;
    /// Activation floats one forward pass needs.
    const ARENA_LEN: usize;
    /// Runs one image: `input` holds exactly H*W*C values (HWC), `output` NUM_CLASSES.
    fn run(&mut self, input: &[f32], output: &mut [f32]);
    /// [`Network::run`] with `arena` (`ARENA_LEN` floats) for the activations instead of the
    /// model's own, and its layers split over `team` instead of the model's.
    fn run_in(&self, arena: &mut [f32], team: &Team, input: &[f32], output: &mut [f32]);
    /// The threads [`predict_batch`] spreads images over.
    fn team(&self) -> &Team;
    /// Arenas kept between [`predict_batch`] calls.
    fn spare_arenas(&self) -> &Arenas;
}

/// Activation arenas kept by a model for the threads of [`predict_batch`], so that a batch
/// call does not allocate and fault in fresh arenas every time.
#[derive(Debug, Default)]
pub struct Arenas(Mutex<Vec<AlignedBuf>>);

impl Arenas {
    /// `n` arenas of `len` floats: kept ones first, new ones for the rest.
    fn take(&self, n: usize, len: usize) -> Result<Vec<AlignedBuf>, AllocError> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|a| a.len() == len);
        let keep = kept.len().saturating_sub(n);
        let mut out = kept.split_off(keep);
        while out.len() < n {
            out.push(AlignedBuf::try_zeroed(len)?);
        }
        Ok(out)
    }

    /// Keeps `arenas` for the next call.
    fn give_back(&self, arenas: Vec<AlignedBuf>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend(arenas);
    }
}

/// Views the first `N` values of `s` as an array.
///
/// # Panics
/// If `s` is shorter than `N`. Generated code passes buffers sized from the same shapes, so it
/// never is; the check exists because the conversion cannot be proven at compile time.
pub fn array_ref<const N: usize>(s: &[f32]) -> &[f32; N] {
    match s.first_chunk::<N>() {
        Some(a) => a,
        None => panic!("buffer of {} values is shorter than {N}", s.len()),
    }
}

/// Runs `net` on one H x W x C image of any strides.
///
/// # Errors
/// [`InputError::ImageShape`] if the shape is not `N::INPUT_SHAPE`.
pub fn predict<N: Network>(net: &mut N, image: ArrayView3<'_, f32>) -> Result<Array1<f32>, InputError> {
    if image.shape() != N::INPUT_SHAPE {
        return Err(InputError::ImageShape {
            expected: N::INPUT_SHAPE,
            found: image.shape().to_vec(),
        });
    }
    let mut out = Array1::zeros(N::NUM_CLASSES);
    let out_slice = out.as_slice_mut().unwrap_or_default();
    match image.as_slice() {
        Some(hwc) => net.run(hwc, out_slice),
        // Transposed or strided views are gathered into HWC order once.
        None => net.run(&image.iter().copied().collect::<Vec<f32>>(), out_slice),
    }
    Ok(out)
}

/// Runs `net` on N x H x W x C images over the threads of `net`'s team: each thread takes the
/// next image not yet taken and runs it, with an arena of its own (kept in `net` for the next
/// call). A thread that finds no image left helps the others finish theirs: their large layers
/// are then split with it, as at batch 1 (see `parallel/helping.rs`).
///
/// Images are handed out one at a time rather than in equal shares fixed up front: on a
/// shared machine one core is often slowed by other work, and with fixed shares the other
/// core would sit idle at the end waiting for it (with 8 images on 2 threads the benchmark
/// saw 1.74-1.84 of the 2 cores busy, against 1.95 when every layer is split). Whole images
/// still left one core waiting for the other's last image: with one core 25% slower than the
/// other, 8 images on 2 threads ended 15 ms apart (of 73). Helping made such a batch about
/// 5% faster (with another process spinning on one core, A/B in one process) and changed
/// nothing measurable on a quiet machine.
///
/// # Errors
/// [`InputError::BatchShape`] if the shape is not N x `N::INPUT_SHAPE`,
/// [`InputError::EmptyBatch`] if N is 0, [`InputError::OutOfMemory`] if the threads'
/// arenas cannot be allocated.
pub fn predict_batch<N: Network>(net: &N, images: ArrayView4<'_, f32>) -> Result<Array2<f32>, InputError> {
    let s = images.shape();
    if s[1..] != N::INPUT_SHAPE {
        return Err(InputError::BatchShape {
            expected: N::INPUT_SHAPE,
            found: s.to_vec(),
        });
    }
    let n = s[0];
    if n == 0 {
        return Err(InputError::EmptyBatch { found: s.to_vec() });
    }
    let mut out = Array2::zeros((n, N::NUM_CLASSES));
    let parts = net.team().threads().min(n);
    let arenas: Vec<Mutex<AlignedBuf>> = net
        .spare_arenas()
        .take(parts, N::ARENA_LEN)?
        .into_iter()
        .map(Mutex::new)
        .collect();
    // One slot per image, each locked once, by the part that took the image: the team's job
    // is a shared `Fn`.
    let jobs: Vec<_> = images.outer_iter().zip(out.outer_iter_mut()).map(Mutex::new).collect();
    let next = AtomicUsize::new(0);
    let desk = Arc::new(Desk::new(parts));
    net.team().run(&|part| {
        let Some(arena) = arenas.get(part) else { return };
        // Declared before the arena's guard, so dropped after it: having run out of images,
        // this thread helps the others finish theirs.
        let _seat = desk.seat(part);
        let team = Team::helped(Arc::clone(&desk), part);
        let mut arena = arena.lock().unwrap_or_else(PoisonError::into_inner);
        let mut gathered = Vec::new();
        while let Some(job) = jobs.get(next.fetch_add(1, Relaxed)) {
            let mut job = job.lock().unwrap_or_else(PoisonError::into_inner);
            let (img, o) = &mut *job;
            let hwc = match img.as_slice() {
                Some(s) => s,
                None => {
                    gathered.clear();
                    gathered.extend(img.iter().copied());
                    &gathered[..]
                }
            };
            // Rows of a fresh standard-layout array are contiguous.
            let dst = o
                .as_slice_mut()
                .expect("rows of a standard-layout array are contiguous");
            net.run_in(&mut arena, &team, hwc, dst);
        }
    });
    net.spare_arenas().give_back(
        arenas
            .into_iter()
            .map(|a| a.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect(),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};

    /// Sums the image into class 0 and copies its second value into class 1: enough to see
    /// routing and order. Uses its arena, to check each part gets a whole one.
    #[derive(Default)]
    struct Sum {
        team: Team,
        arenas: Arenas,
    }

    impl Network for Sum {
        const INPUT_SHAPE: [usize; 3] = [2, 3, 2];
        const NUM_CLASSES: usize = 2;
        const ARENA_LEN: usize = 12;
        fn run(&mut self, input: &[f32], output: &mut [f32]) {
            self.run_in(&mut [0.0; 12], &Team::single(), input, output);
        }
        fn run_in(&self, arena: &mut [f32], _team: &Team, input: &[f32], output: &mut [f32]) {
            assert_eq!(input.len(), 12);
            arena.copy_from_slice(input);
            output[0] = arena.iter().sum();
            output[1] = arena[1];
        }
        fn team(&self) -> &Team {
            &self.team
        }
        fn spare_arenas(&self) -> &Arenas {
            &self.arenas
        }
    }

    #[test]
    fn predict_checks_shape_and_handles_strides() {
        let img = Array3::from_shape_fn((2, 3, 2), |(y, x, c)| (y * 6 + x * 2 + c) as f32);
        let out = predict(&mut Sum::default(), img.view()).unwrap();
        assert_eq!(out.to_vec(), vec![66.0, 1.0]);
        // A transposed view of the right shape is read in logical HWC order.
        let t = Array3::from_shape_fn((2, 3, 2), |(y, x, c)| (y * 6 + x * 2 + c) as f32);
        let chw = t.permuted_axes([2, 0, 1]).as_standard_layout().into_owned();
        let back = chw.view().permuted_axes([1, 2, 0]);
        assert!(back.as_slice().is_none());
        assert_eq!(predict(&mut Sum::default(), back).unwrap().to_vec(), vec![66.0, 1.0]);
        let wrong = Array3::<f32>::zeros((3, 2, 2));
        let e = predict(&mut Sum::default(), wrong.view()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected an image of shape [2, 3, 2] (height, width, channels), found [3, 2, 2]"
        );
    }

    #[test]
    fn batch_keeps_order_and_reuses_arenas() {
        for threads in 1..=3 {
            let net = Sum {
                team: Team::new(threads).unwrap(),
                ..Sum::default()
            };
            for n in [1, 2, 5, 7] {
                let imgs = Array4::from_shape_fn((n, 2, 3, 2), |(n, y, x, c)| (n * 100 + y * 6 + x * 2 + c) as f32);
                let out = predict_batch(&net, imgs.view()).unwrap();
                for i in 0..n {
                    assert_eq!(out[[i, 1]], (i * 100 + 1) as f32, "threads={threads} n={n}");
                }
            }
            let kept = net.arenas.0.lock().unwrap().len();
            assert_eq!(kept, threads, "one arena kept per thread used");
            assert_eq!(
                predict_batch(&net, Array4::zeros((0, 2, 3, 2)).view()).unwrap_err(),
                InputError::EmptyBatch {
                    found: vec![0, 2, 3, 2]
                }
            );
            assert!(matches!(
                predict_batch(&net, Array4::zeros((1, 2, 2, 2)).view()),
                Err(InputError::BatchShape { .. })
            ));
        }
    }

    #[test]
    fn array_ref_views_prefix() {
        let v = [1.0, 2.0, 3.0];
        assert_eq!(array_ref::<2>(&v), &[1.0, 2.0]);
    }
}
