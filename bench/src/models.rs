//! The networks under test, compiled by `mobilenet!` when this binary is built.
//!
//! Each spec expands into its own module, exactly as a user's crate would expand it; the
//! [`Network`] trait then hides the per-spec types so that the spec can be picked at run time.

use std::path::Path;
use std::time::Duration;

use mobilenet::runtime::ndarray::{Array2, ArrayView4};
use mobilenet::runtime::LayerInfo;

/// What the benchmark calls on a compiled model. Object safe: one `Box<dyn Network>` per spec.
pub trait Network: Send {
    /// `Model::forward` on one HWC image of `Spec::input_len` values; returns the output.
    fn forward(&mut self, input: &[f32]) -> &[f32];
    /// `Model::forward_timed`: as `forward`, adding each layer's time to `times[layer]`.
    fn forward_timed(&mut self, input: &[f32], times: &mut [Duration]) -> &[f32];
    /// `Model::predict_batch` on N x H x W x C images (spread over the model's threads).
    fn predict_batch(&self, images: ArrayView4<'_, f32>) -> Array2<f32>;
    /// `Model::forward_inspect`: as `forward`, handing each layer's output to `each`.
    fn forward_inspect(&mut self, input: &[f32], each: &mut dyn FnMut(usize, &[f32])) -> &[f32];
}

/// What the benchmark calls on a compiled int8 model (`precision: int8`).
pub trait Int8Network: Send {
    /// `Model::forward` on one int8 HWC image of `Spec::input_len` values; returns the int8
    /// output.
    fn forward(&mut self, input: &[i8]) -> &[i8];
}

/// One spec the benchmark knows: where it comes from and the constants its expansion defines.
pub struct Spec {
    /// The name used on the command line and for result files (`1.0-224`).
    pub key: &'static str,
    /// The spec file, relative to the repository root (what make_golden.py is given).
    pub file: &'static str,
    /// `NAME`: the model name the spec sets.
    pub name: &'static str,
    /// `INPUT_SHAPE`: H x W x C.
    pub input_shape: [usize; 3],
    /// `NUM_CLASSES`.
    pub num_classes: usize,
    /// `MULT_ADDS` of one image.
    pub mult_adds: u64,
    /// `FLOPS` of one image (2 x `MULT_ADDS`).
    pub flops: u64,
    /// `OUTPUTS_PROBABILITIES`: whether the model ends in softmax.
    pub outputs_probabilities: bool,
    /// `LAYERS`: shapes and costs of every layer, in `forward_timed` order.
    pub layers: &'static [LayerInfo],
    /// Loads a weights file and builds the model on the given number of threads.
    pub load: LoadFn,
    /// The weights of a weights file as a float TFLite model (the runtime's writer), for LiteRT.
    pub tflite: TfliteFn,
    /// The int8 spec (`precision: int8`) of the same network, relative to the repository root.
    pub int8_file: &'static str,
    /// Loads an int8 TFLite model into the int8 spec's model, on the given number of threads.
    pub load_int8: LoadInt8Fn,
}

/// Builds one spec's model from a weights file, on a team of the given number of threads.
pub type LoadFn = fn(&Path, usize) -> Result<Box<dyn Network>, crate::Error>;

/// Writes one spec's weights file as a float TFLite model.
pub type TfliteFn = fn(&Path) -> Result<Vec<u8>, crate::Error>;

/// Builds one spec's int8 model from an int8 TFLite file's bytes, on a team of the given number
/// of threads.
pub type LoadInt8Fn = fn(&[u8], usize) -> Result<Box<dyn Int8Network>, crate::Error>;

impl Spec {
    /// f32 values in one image.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The file stem make_golden.py names its outputs after (`v1_alpha1_224`).
    pub fn stem(&self) -> &'static str {
        let base = self.file.rsplit('/').next().unwrap_or(self.file);
        base.strip_suffix(".yaml").unwrap_or(base)
    }
}

/// Expands each spec in a module of its own and lists them in [`SPECS`].
macro_rules! specs {
    ($($module:ident: $key:literal, $file:literal => $path:literal, int8 $int8_file:literal => $int8_path:literal;)*) => {
        $(
            mod $module {
                /// The same network in int8.
                pub mod int8 {
                    mobilenet::mobilenet!($int8_path);

                    impl super::super::Int8Network for Model {
                        fn forward(&mut self, input: &[i8]) -> &[i8] {
                            let input: &[i8; INPUT_LEN] = input.try_into().expect("an image of INPUT_LEN values");
                            Model::forward(self, input)
                        }
                    }

                    pub fn load(tflite: &[u8], threads: usize) -> Result<Box<dyn super::super::Int8Network>, crate::Error> {
                        Ok(Box::new(Model::new(Weights::from_tflite(tflite)?).with_threads(threads)?))
                    }
                }

                use std::time::Duration;
                use mobilenet::runtime::ndarray::{Array2, ArrayView4};

                // Paths are relative to bench/Cargo.toml.
                mobilenet::mobilenet!($path);

                impl super::Network for Model {
                    fn forward(&mut self, input: &[f32]) -> &[f32] {
                        let input: &[f32; INPUT_LEN] = input.try_into().expect("an image of INPUT_LEN values");
                        Model::forward(self, input)
                    }

                    fn forward_timed(&mut self, input: &[f32], times: &mut [Duration]) -> &[f32] {
                        let input: &[f32; INPUT_LEN] = input.try_into().expect("an image of INPUT_LEN values");
                        let times: &mut [Duration; LAYERS.len()] = times.try_into().expect("one time per layer");
                        Model::forward_timed(self, input, times)
                    }

                    fn predict_batch(&self, images: ArrayView4<'_, f32>) -> Array2<f32> {
                        Model::predict_batch(self, images).expect("a batch of INPUT_SHAPE images")
                    }

                    fn forward_inspect(&mut self, input: &[f32], each: &mut dyn FnMut(usize, &[f32])) -> &[f32] {
                        let input: &[f32; INPUT_LEN] = input.try_into().expect("an image of INPUT_LEN values");
                        Model::forward_inspect(self, input, each)
                    }
                }

                pub fn tflite(path: &std::path::Path) -> Result<Vec<u8>, crate::Error> {
                    let tensors = Weights::load(path)?.to_tensors();
                    Ok(mobilenet::runtime::weights::tflite_from_tensors(&tensors, LAYERS, PADDING, ACTIVATION, BN_EPS)?)
                }

                pub fn load(path: &std::path::Path, threads: usize) -> Result<Box<dyn super::Network>, crate::Error> {
                    Ok(Box::new(Model::new(Weights::load(path)?).with_threads(threads)?))
                }
            }
        )*

        /// Every spec the binary was compiled with, in the order `--spec all` runs them.
        pub const SPECS: &[Spec] = &[$(Spec {
            key: $key,
            file: $file,
            name: $module::NAME,
            input_shape: $module::INPUT_SHAPE,
            num_classes: $module::NUM_CLASSES,
            mult_adds: $module::MULT_ADDS,
            flops: $module::FLOPS,
            outputs_probabilities: $module::OUTPUTS_PROBABILITIES,
            layers: $module::LAYERS,
            load: $module::load,
            tflite: $module::tflite,
            int8_file: $int8_file,
            load_int8: $module::int8::load,
        }),*];
    };
}

// TF-slim's variants of the paper's table (TensorFlow SAME padding, ReLU6, 1001 classes), as
// TFLite's MobileNets have it: LiteRT runs what TFLite files can express, and the paper's
// symmetric padding of a stride-2 layer on an even input is not something they can (the
// writer refuses it). Every engine runs the same spec.
// The int8 specs (bench/specs/) extend them with `precision: int8`.
specs! {
    alpha1_224: "1.0-224", "specs/tflite/v1_alpha1_224.yaml" => "../specs/tflite/v1_alpha1_224.yaml",
        int8 "bench/specs/v1_alpha1_224_int8.yaml" => "specs/v1_alpha1_224_int8.yaml";
    alpha050_160: "0.5-160", "specs/tflite/v1_alpha0.5_160.yaml" => "../specs/tflite/v1_alpha0.5_160.yaml",
        int8 "bench/specs/v1_alpha0.5_160_int8.yaml" => "specs/v1_alpha0.5_160_int8.yaml";
    alpha025_128: "0.25-128", "specs/tflite/v1_alpha0.25_128.yaml" => "../specs/tflite/v1_alpha0.25_128.yaml",
        int8 "bench/specs/v1_alpha0.25_128_int8.yaml" => "specs/v1_alpha0.25_128_int8.yaml";
}

/// The spec named `key` on the command line.
pub fn find(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}
