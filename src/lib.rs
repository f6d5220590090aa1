//! MobileNet-V1 compiled from the paper's own layer table into statically shaped Rust.
//!
//! ```ignore
//! mod v1 {
//!     mobilenet::mobilenet!("specs/v1_alpha1_224.yaml");
//! }
//! let mut model = v1::Model::new(v1::Weights::random(0));
//! let probabilities = model.forward(&[0.0; v1::INPUT_LEN]);
//! ```
//!
//! The macro ([`mobilenet!`]) checks the table at compile time and expands to constants, a
//! `Weights` type and a `Model` whose `forward` calls the kernels of [`runtime`].
//!
//! With `default-features = false` the crate is `#![no_std]` and needs no allocator: a
//! quantized model is then compiled in, `mobilenet!("spec.yaml", weights = "model.tflite")`,
//! and runs in an arena the caller provides (see `docs/mcu.md`).

#![cfg_attr(not(feature = "std"), no_std)]

pub use mobilenet_macros::mobilenet;
/// The kernels, weight loading and types that generated code calls.
pub use mobilenet_runtime as runtime;

// Lets the generated code's `::mobilenet::runtime` paths resolve inside this crate too.
extern crate self as mobilenet;

/// What `mobilenet!("specs/v1_alpha1_224.yaml")` expands to, shown by `cargo doc` (built only
/// for documentation): the constants with their figures, `Weights` and `Model`.
#[cfg(all(doc, feature = "std"))]
pub mod example_v1_alpha1_224 {
    crate::mobilenet!("specs/v1_alpha1_224.yaml");
}
