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

pub use mobilenet_macros::mobilenet;
/// The kernels, weight loading and types that generated code calls.
pub use mobilenet_runtime as runtime;
