//! The macro used as a user would: from `mobilenet!` to predictions, through every public door
//! (`forward`, `predict`, `predict_batch`, weights files, shared weights, threads).

use mobilenet::runtime::ndarray::{Array3, Array4};
use mobilenet::runtime::weights::{random_tensors, Tensor};
use mobilenet::runtime::WeightsError;
use std::sync::Arc;

mod tiny {
    mobilenet::mobilenet!("tests/reference/specs/tiny_logits.yaml");
}

mod small {
    mobilenet::mobilenet!("specs/v1_alpha0.25_224.yaml");
}

fn image(seed: usize) -> Vec<f32> {
    (0..small::INPUT_LEN)
        .map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 / 1000.0) - 1.0)
        .collect()
}

#[test]
fn forward_gives_probabilities() {
    let mut model = small::Model::new(small::Weights::random(1));
    let img = image(0);
    let out = model.forward(img.as_slice().try_into().unwrap());
    assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(out.iter().all(|p| *p >= 0.0 && p.is_finite()));
    const { assert!(small::OUTPUTS_PROBABILITIES) };
    const { assert!(!tiny::OUTPUTS_PROBABILITIES) };
}

#[test]
fn predict_and_batch_agree_with_forward() {
    let weights = Arc::new(small::Weights::random(2));
    let mut model = small::Model::new(Arc::clone(&weights));
    let [h, w, c] = small::INPUT_SHAPE;
    let imgs: Vec<Vec<f32>> = (0..3).map(image).collect();
    let batch = Array4::from_shape_vec((3, h, w, c), imgs.concat()).unwrap();
    let out = model.predict_batch(batch.view()).unwrap();
    for (n, img) in imgs.iter().enumerate() {
        let one = *model.forward(img.as_slice().try_into().unwrap());
        assert_eq!(out.row(n).to_vec(), one.to_vec(), "image {n}");
        let view = Array3::from_shape_vec((h, w, c), img.clone()).unwrap();
        assert_eq!(model.predict(view.view()).unwrap().to_vec(), one.to_vec());
    }
    let wrong = Array3::<f32>::zeros((c, h, w));
    let e = model.predict(wrong.view()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("expected an image of shape [{h}, {w}, {c}] (height, width, channels), found [{c}, {h}, {w}]")
    );
    assert!(model.predict_batch(Array4::<f32>::zeros((2, h, w, 1)).view()).is_err());
}

#[test]
fn models_share_weights_across_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<small::Model>();
    let weights = Arc::new(small::Weights::random(3));
    let img = image(5);
    let want = *small::Model::new(Arc::clone(&weights)).forward(img.as_slice().try_into().unwrap());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (weights, img) = (Arc::clone(&weights), img.clone());
            std::thread::spawn(move || *small::Model::new(weights).forward(img.as_slice().try_into().unwrap()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
    assert_eq!(Arc::strong_count(&weights), 1);
}

#[test]
fn weights_round_trip_through_a_file() {
    let dir = std::env::temp_dir().join(format!("mobilenet-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.safetensors");
    let weights = tiny::Weights::random(4);
    weights.save_safetensors(&path).unwrap();
    let loaded = tiny::Weights::load(&path).unwrap();
    let img = vec![0.25f32; tiny::INPUT_LEN];
    let img: &[f32; tiny::INPUT_LEN] = img.as_slice().try_into().unwrap();
    let a = *tiny::Model::new(weights).forward(img);
    let b = *tiny::Model::new(loaded).forward(img);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{x} vs {y}");
    }
    let bytes: &'static [u8] = std::fs::read(&path).unwrap().leak();
    assert!(tiny::Weights::from_static(bytes).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
    let e = tiny::Weights::load(dir.join("missing.safetensors")).err().unwrap();
    assert!(matches!(e, WeightsError::Io { .. }), "{e}");
    assert!(e.to_string().contains("missing.safetensors"), "{e}");
}

#[test]
fn bad_weight_files_name_the_tensor() {
    let good = random_tensors(tiny::LAYERS, 5);
    let names: Vec<String> = good.names().map(str::to_string).collect();
    assert!(
        names.contains(&"stem.weight".to_string()) && names.contains(&"head.bias".to_string()),
        "{names:?}"
    );

    // A missing tensor.
    let mut set = mobilenet::runtime::weights::TensorSet::new();
    for n in names.iter().filter(|n| *n != "layers.2.bn.running_var") {
        let t = good.get(n).unwrap();
        set.insert(
            n.clone(),
            Tensor {
                shape: t.shape.clone(),
                data: t.data.clone(),
            },
        );
    }
    let e = tiny::Weights::from_tensors(&set).err().unwrap();
    assert!(
        matches!(&e, WeightsError::Missing { tensor } if tensor == "layers.2.bn.running_var"),
        "{e}"
    );

    // An extra tensor.
    let mut set = clone_set(&good);
    set.insert(
        "layers.99.weight",
        Tensor {
            shape: vec![1],
            data: vec![0.0],
        },
    );
    let e = tiny::Weights::from_tensors(&set).err().unwrap();
    assert!(e.to_string().contains("layers.99.weight"), "{e}");

    // A wrong shape.
    let mut set = clone_set(&good);
    set.insert(
        "head.weight",
        Tensor {
            shape: vec![10, 3],
            data: vec![0.0; 30],
        },
    );
    let e = tiny::Weights::from_tensors(&set).err().unwrap();
    assert!(
        matches!(&e, WeightsError::Shape { tensor, .. } if tensor == "head.weight"),
        "{e}"
    );

    // A NaN.
    let mut set = clone_set(&good);
    let mut t = clone_tensor(good.get("stem.weight").unwrap());
    t.data[7] = f32::NAN;
    set.insert("stem.weight", t);
    let e = tiny::Weights::from_tensors(&set).err().unwrap();
    assert!(
        matches!(&e, WeightsError::NonFinite { tensor, .. } if tensor == "stem.weight"),
        "{e}"
    );

    // Truncated bytes.
    let bytes = good.to_safetensors().unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(tiny::Weights::from_safetensors(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert!(tiny::Weights::from_safetensors(&bytes).is_ok());
}

fn clone_tensor(t: &Tensor) -> Tensor {
    Tensor {
        shape: t.shape.clone(),
        data: t.data.clone(),
    }
}

fn clone_set(s: &mobilenet::runtime::weights::TensorSet) -> mobilenet::runtime::weights::TensorSet {
    let mut out = mobilenet::runtime::weights::TensorSet::new();
    for n in s.names() {
        out.insert(n.to_string(), clone_tensor(s.get(n).unwrap()));
    }
    out
}

#[test]
fn two_threads_agree_with_one_for_single_images_and_batches() {
    let weights = Arc::new(small::Weights::random(4));
    let mut one = small::Model::new(Arc::clone(&weights));
    let mut two = small::Model::new(weights).with_threads(2).unwrap();
    let [h, w, c] = small::INPUT_SHAPE;
    // Five images on two threads: one thread runs out first and helps the other finish.
    let imgs: Vec<Vec<f32>> = (0..5).map(image).collect();
    let batch = Array4::from_shape_vec((5, h, w, c), imgs.concat()).unwrap();
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * y.abs().max(1e-3));
    for round in 0..3 {
        let out = two.predict_batch(batch.view()).unwrap();
        for (n, img) in imgs.iter().enumerate() {
            let want = *one.forward(img.as_slice().try_into().unwrap());
            assert!(
                close(out.row(n).as_slice().unwrap(), &want),
                "round {round}, batch image {n}"
            );
            let got = *two.forward(img.as_slice().try_into().unwrap());
            assert!(close(&got, &want), "round {round}, image {n} at 2 threads");
        }
    }
}
