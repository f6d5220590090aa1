//! Real trained TFLite models, as a user loads them: the float MobileNet-V1 0.25-224 that
//! tflite-support tests with (committed under `assets/tflite-support/`, Apache-2.0) against
//! Google's interpreter, and every way a `.tflite` file can fail to fit a spec.
//!
//! The expected probabilities come from LiteRT's reference kernels
//! (`tests/reference/make_tflite_reference.py`), on the same resized pixels this test feeds:
//! the comparison is of the networks, not of two image resizers.

#[allow(dead_code)]
#[path = "../examples/classify/preprocess.rs"]
mod preprocess;

use std::path::{Path, PathBuf};

use mobilenet::runtime::WeightsError;
use safetensors::SafeTensors;

mod slim_025_224 {
    mobilenet::mobilenet!("specs/tflite/v1_alpha0.25_224.yaml");
}
mod slim_050_224 {
    mobilenet::mobilenet!("specs/tflite/v1_alpha0.5_224.yaml");
}
mod slim_025_128 {
    mobilenet::mobilenet!("specs/tflite/v1_alpha0.25_128.yaml");
}
mod keras_025_224 {
    mobilenet::mobilenet!("specs/keras/v1_alpha0.25_224.yaml");
}

/// LiteRT's output and ours may differ by this much, absolute, per probability.
const PROBABILITY_TOLERANCE: f32 = 1e-5;

fn asset(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join(path)
}

const MODEL: &str = "tflite-support/mobilenet_v1_0.25_224_1_metadata_1.tflite";

fn model_bytes() -> Vec<u8> {
    std::fs::read(asset(MODEL)).unwrap()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |best, (i, &p)| if p > best.1 { (i, p) } else { best },
        )
        .0
}

#[test]
fn probabilities_match_litert_on_the_same_pixels() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tflite/mobilenet_v1_0.25_224.safetensors");
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let pixels = file.tensor("pixels").unwrap();
    let expected = file.tensor("probabilities").unwrap();
    let images = pixels.shape()[0];
    assert_eq!(pixels.shape(), [images, 224, 224, 3]);
    assert_eq!(expected.shape(), [images, 1001]);
    assert!(images >= 4, "the reference holds {images} images");
    let expected: Vec<f32> = expected
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    let mut model = slim_025_224::Model::new(slim_025_224::Weights::load(asset(MODEL)).unwrap());
    let mut input = vec![0.0f32; slim_025_224::INPUT_LEN];
    for (i, image) in pixels.data().chunks_exact(slim_025_224::INPUT_LEN).enumerate() {
        for (x, &p) in input.iter_mut().zip(image) {
            // The two float32 operations the reference script performs, in the same order.
            *x = (f32::from(p) - 127.5) / 127.5;
        }
        let got = model.forward(input.as_slice().try_into().unwrap());
        let want = &expected[i * 1001..(i + 1) * 1001];
        let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
        assert!(
            worst <= PROBABILITY_TOLERANCE,
            "image {i}: probabilities differ from LiteRT's by up to {worst:e}"
        );
        assert_eq!(argmax(got), argmax(want), "image {i}: top-1 differs from LiteRT's");
    }
}

#[test]
fn burger_is_a_cheeseburger_through_the_users_path() {
    // File to spec to forward, preprocessed as `classify` does for .tflite weights.
    let weights = slim_025_224::Weights::load(asset(MODEL)).unwrap();
    let mut model = slim_025_224::Model::new(weights);
    let how = preprocess::Preprocess {
        resolution: 224,
        normalization: preprocess::Normalization::Tflite,
    };
    let input = preprocess::preprocess(&asset("tflite-support/burger.jpg"), &how).unwrap();
    let probabilities = model.forward(input.as_slice().try_into().unwrap());
    let top = argmax(probabilities);
    let imagenet = preprocess::parse_labels(include_str!("../assets/imagenet_classes.tsv"), 1000).unwrap();
    let labels = preprocess::labels_for(imagenet, slim_025_224::NUM_CLASSES).unwrap();
    assert_eq!((top, labels[top].name.as_str()), (934, "cheeseburger"));
    // tflite-support's own test asserts 0.988 after its resizer; ours differs a little.
    assert!(probabilities[top] > 0.95, "cheeseburger at {}", probabilities[top]);
}

#[test]
fn a_tflite_model_converts_to_safetensors_and_back_unchanged() {
    let weights = slim_025_224::Weights::from_tflite(&model_bytes()).unwrap();
    let file = std::env::temp_dir().join(format!("mobilenet-tflite-{}.safetensors", std::process::id()));
    weights.save_safetensors(&file).unwrap();
    let reloaded = slim_025_224::Weights::load(&file);
    let _ = std::fs::remove_file(&file);
    let image = vec![0.25f32; slim_025_224::INPUT_LEN];
    let image: &[f32; slim_025_224::INPUT_LEN] = image.as_slice().try_into().unwrap();
    let a = *slim_025_224::Model::new(weights).forward(image);
    let b = *slim_025_224::Model::new(reloaded.unwrap()).forward(image);
    assert_eq!(a, b);
}

/// The error a load gave, as text; a load that succeeded fails the test.
fn tflite_error<W>(result: Result<W, WeightsError>) -> String {
    match result {
        Ok(_) => panic!("the weights loaded, but an error was expected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_truncated_or_foreign_file_is_refused_by_name() {
    let bytes = model_bytes();
    // The last 11 KB are the metadata's ZIP archive, which the weights do not need; every cut
    // here is inside the flatbuffer.
    for cut in [0, 3, 7, 100, bytes.len() / 2, bytes.len() * 9 / 10] {
        let e = tflite_error(slim_025_224::Weights::from_tflite(&bytes[..cut]));
        assert!(e.contains("TensorFlow Lite file"), "cut at {cut}: {e}");
    }
    let jpeg = std::fs::read(asset("tflite-support/burger.jpg")).unwrap();
    let e = tflite_error(slim_025_224::Weights::from_tflite(&jpeg));
    assert!(e.starts_with("not a TensorFlow Lite file"), "{e}");
}

#[test]
fn a_model_of_another_table_names_the_operator_that_disagrees() {
    let bytes = model_bytes();
    // Width 0.5: the first convolution has 16 output channels, the file 8.
    let e = tflite_error(slim_050_224::Weights::from_tflite(&bytes));
    assert!(e.contains("CONV_2D") && e.contains("16") && e.contains('8'), "{e}");
    // Resolution 128: the file's input is 224x224.
    let e = tflite_error(slim_025_128::Weights::from_tflite(&bytes));
    assert!(e.contains("128") && e.contains("224"), "{e}");
    // 1000 classes: the file's classifier has 1001.
    let e = tflite_error(keras_025_224::Weights::from_tflite(&bytes));
    assert!(e.contains("1000") && e.contains("1001"), "{e}");
}

#[test]
fn a_quantized_model_is_refused_by_a_float_table_which_names_the_precision_to_use() {
    let quant = std::fs::read(asset("tflite-support/mobilenet_v1_0.25_224_quant.tflite")).unwrap();
    let e = tflite_error(slim_025_224::Weights::from_tflite(&quant));
    assert!(
        e.to_lowercase().contains("quantized") && e.contains("UINT8") && e.contains("precision: uint8"),
        "{e}"
    );
    // Through `load`, which tells the format from the content, the same error.
    let e2 = tflite_error(slim_025_224::Weights::load(asset(
        "tflite-support/mobilenet_v1_0.25_224_quant.tflite",
    )));
    assert_eq!(e, e2);
}

/// The TF-slim grid (`specs/tflite/`), each spec as a module, for the opt-in LiteRT check.
macro_rules! grid {
    ($($module:ident => $path:literal),* $(,)?) => {
        $(mod $module { mobilenet::mobilenet!($path); })*

        /// Writes, for every spec of the grid, a `.tflite` model of seeded random weights (by the
        /// runtime's writer), an input and our output, for `tools/check_tflite_grid.sh`.
        fn write_grid(dir: &Path) {
            $({
                use $module as m;
                let weights = m::Weights::random(21);
                let tensors = weights.to_tensors();
                let file = mobilenet::runtime::weights::tflite_from_tensors(&tensors, m::LAYERS, m::PADDING, m::ACTIVATION, m::BN_EPS)
                    .unwrap_or_else(|e| panic!("{}: {e}", m::NAME));
                // The file reads back into the same weights: what LiteRT is about to run is ours.
                assert!(m::Weights::from_tflite(&file).is_ok(), "{}", m::NAME);
                let input: Vec<f32> = (0..m::INPUT_LEN).map(|i| ((i * 7919 % 2003) as f32 / 1001.0) - 1.0).collect();
                let output = m::Model::new(weights).forward(input.as_slice().try_into().unwrap()).to_vec();
                std::fs::write(dir.join(format!("{}.tflite", m::NAME)), &file).unwrap();
                let mut io = mobilenet::runtime::weights::TensorSet::new();
                let [h, w, c] = m::INPUT_SHAPE;
                io.insert("input", mobilenet::runtime::weights::Tensor::new(vec![1, h, w, c], input));
                io.insert("output", mobilenet::runtime::weights::Tensor::new(vec![1, m::NUM_CLASSES], output));
                std::fs::write(dir.join(format!("{}.io.safetensors", m::NAME)), io.to_safetensors().unwrap()).unwrap();
            })*
        }
    };
}

grid! {
    grid_100_224 => "specs/tflite/v1_alpha1_224.yaml",
    grid_100_192 => "specs/tflite/v1_alpha1_192.yaml",
    grid_100_160 => "specs/tflite/v1_alpha1_160.yaml",
    grid_100_128 => "specs/tflite/v1_alpha1_128.yaml",
    grid_075_224 => "specs/tflite/v1_alpha0.75_224.yaml",
    grid_075_192 => "specs/tflite/v1_alpha0.75_192.yaml",
    grid_075_160 => "specs/tflite/v1_alpha0.75_160.yaml",
    grid_075_128 => "specs/tflite/v1_alpha0.75_128.yaml",
    grid_050_224 => "specs/tflite/v1_alpha0.5_224.yaml",
    grid_050_192 => "specs/tflite/v1_alpha0.5_192.yaml",
    grid_050_160 => "specs/tflite/v1_alpha0.5_160.yaml",
    grid_050_128 => "specs/tflite/v1_alpha0.5_128.yaml",
    grid_025_224 => "specs/tflite/v1_alpha0.25_224.yaml",
    grid_025_192 => "specs/tflite/v1_alpha0.25_192.yaml",
    grid_025_160 => "specs/tflite/v1_alpha0.25_160.yaml",
    grid_025_128 => "specs/tflite/v1_alpha0.25_128.yaml",
}

/// Opt-in (`tools/check_tflite_grid.sh` runs it, then LiteRT on what it wrote): every spec of
/// the TF-slim grid as a TFLite file, so that Google's interpreter can say whether it computes
/// what we compute for every width and resolution, not only the 0.25-224 model we hold.
#[test]
#[ignore = "writes files for tools/check_tflite_grid.sh"]
fn write_tflite_grid_for_litert() {
    let dir = std::env::var_os("MOBILENET_TFLITE_GRID").expect("set MOBILENET_TFLITE_GRID to an output folder");
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_grid(&dir);
}
