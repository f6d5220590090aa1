//! ndarray interop and the glue generated models share: checking an image's shape, running a
//! batch across cores, and viewing a slice as a fixed-size array.

use ndarray::{Array1, Array2, ArrayView3, ArrayView4, Axis};

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
}

/// What [`predict`] and [`predict_batch`] need of a generated model.
pub trait Network: Clone + Send {
    /// Image shape, H x W x C.
    const INPUT_SHAPE: [usize; 3];
    /// Outputs per image.
    const NUM_CLASSES: usize;
    /// Runs one image: `input` holds exactly H*W*C values (HWC), `output` NUM_CLASSES.
    fn run(&mut self, input: &[f32], output: &mut [f32]);
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

/// Runs `net` on N x H x W x C images, splitting the batch into one contiguous share per core;
/// each share runs on a clone of `net` (shared weights, its own activations).
///
/// # Errors
/// [`InputError::BatchShape`] if the shape is not N x `N::INPUT_SHAPE`.
pub fn predict_batch<N: Network>(net: &N, images: ArrayView4<'_, f32>) -> Result<Array2<f32>, InputError> {
    let s = images.shape();
    if s[1..] != N::INPUT_SHAPE {
        return Err(InputError::BatchShape {
            expected: N::INPUT_SHAPE,
            found: s.to_vec(),
        });
    }
    let n = s[0];
    let mut out = Array2::zeros((n, N::NUM_CLASSES));
    if n == 0 {
        return Ok(out);
    }
    let threads = rayon::current_num_threads().clamp(1, n);
    let per = n.div_ceil(threads);
    // Clones are made here, not in the workers, so a model need only be Send, not Sync.
    let workers: Vec<N> = (0..n.div_ceil(per)).map(|_| net.clone()).collect();
    rayon::scope(|scope| {
        let chunks = images
            .axis_chunks_iter(Axis(0), per)
            .zip(out.axis_chunks_iter_mut(Axis(0), per));
        for ((imgs, mut outs), mut local) in chunks.zip(workers) {
            scope.spawn(move |_| {
                let mut gathered = Vec::new();
                for (img, mut o) in imgs.outer_iter().zip(outs.outer_iter_mut()) {
                    let hwc = match img.as_slice() {
                        Some(s) => s,
                        None => {
                            gathered.clear();
                            gathered.extend(img.iter().copied());
                            &gathered[..]
                        }
                    };
                    match o.as_slice_mut() {
                        Some(dst) => local.run(hwc, dst),
                        None => {
                            let mut tmp = vec![0.0; N::NUM_CLASSES];
                            local.run(hwc, &mut tmp);
                            o.assign(&ndarray::ArrayView1::from(&tmp[..]));
                        }
                    }
                }
            });
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};

    /// Sums the image into class 0 and counts into class 1: enough to see routing and order.
    #[derive(Clone)]
    struct Sum;

    impl Network for Sum {
        const INPUT_SHAPE: [usize; 3] = [2, 3, 2];
        const NUM_CLASSES: usize = 2;
        fn run(&mut self, input: &[f32], output: &mut [f32]) {
            assert_eq!(input.len(), 12);
            output[0] = input.iter().sum();
            output[1] = input[1];
        }
    }

    #[test]
    fn predict_checks_shape_and_handles_strides() {
        let img = Array3::from_shape_fn((2, 3, 2), |(y, x, c)| (y * 6 + x * 2 + c) as f32);
        let out = predict(&mut Sum, img.view()).unwrap();
        assert_eq!(out.to_vec(), vec![66.0, 1.0]);
        // A transposed view of the right shape is read in logical HWC order.
        let t = Array3::from_shape_fn((2, 3, 2), |(y, x, c)| (y * 6 + x * 2 + c) as f32);
        let chw = t.permuted_axes([2, 0, 1]).as_standard_layout().into_owned();
        let back = chw.view().permuted_axes([1, 2, 0]);
        assert!(back.as_slice().is_none());
        assert_eq!(predict(&mut Sum, back).unwrap().to_vec(), vec![66.0, 1.0]);
        let wrong = Array3::<f32>::zeros((3, 2, 2));
        let e = predict(&mut Sum, wrong.view()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected an image of shape [2, 3, 2] (height, width, channels), found [3, 2, 2]"
        );
    }

    #[test]
    fn batch_keeps_order() {
        let imgs = Array4::from_shape_fn((5, 2, 3, 2), |(n, y, x, c)| (n * 100 + y * 6 + x * 2 + c) as f32);
        let out = predict_batch(&Sum, imgs.view()).unwrap();
        for n in 0..5 {
            assert_eq!(out[[n, 1]], (n * 100 + 1) as f32);
        }
        assert_eq!(
            predict_batch(&Sum, Array4::zeros((0, 2, 3, 2)).view()).unwrap().shape(),
            &[0, 2]
        );
        assert!(matches!(
            predict_batch(&Sum, Array4::zeros((1, 2, 2, 2)).view()),
            Err(InputError::BatchShape { .. })
        ));
    }

    #[test]
    fn array_ref_views_prefix() {
        let v = [1.0, 2.0, 3.0];
        assert_eq!(array_ref::<2>(&v), &[1.0, 2.0]);
    }
}
