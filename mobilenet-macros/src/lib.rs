//! `mobilenet!("specs/v1_alpha1_224.yaml")`: compiles a MobileNet-V1 layer table into a
//! statically shaped, fully unrolled forward pass, checked and costed at compile time.
//!
//! This file only wires the stages; each lives in its own module and is tested without the
//! macro machinery: `yaml` (positions) → `spec` (typed model) → `shapes` → `cost` → `paper`
//! → `report`, then `codegen`. Errors are gathered in `diagnostics` and reported together.

mod bounds;
mod codegen;
mod compile;
mod cost;
mod diagnostics;
#[cfg(test)]
mod fuzz;
mod limits;
mod numbers;
mod paper;
mod report;
mod shapes;
mod spec;
mod symbol;
mod yaml;

use proc_macro::TokenStream;
use std::path::PathBuf;

/// Expands a MobileNet spec file into constants, `Weights` and `Model`.
///
/// The path is relative to the calling crate's `Cargo.toml` folder (or, if no file is there, to
/// the folder of the source file that calls the macro). Put each model in its own module:
///
/// ```ignore
/// mod v1 {
///     mobilenet::mobilenet!("specs/v1_alpha1_224.yaml");
/// }
/// let mut model = v1::Model::new(v1::Weights::random(0));
/// let probabilities = model.forward(&[0.0; v1::INPUT_LEN]);
/// ```
///
/// A wrong spec is a compile error naming the file, line, row and the shapes that disagree.
#[proc_macro]
pub fn mobilenet(input: TokenStream) -> TokenStream {
    let lit = match syn::parse::<syn::LitStr>(input) {
        Ok(l) => l,
        Err(e) => {
            let e = syn::Error::new(e.span(), "mobilenet! takes one string literal: the spec file's path, e.g. mobilenet!(\"specs/v1_alpha1_224.yaml\")");
            return e.to_compile_error().into();
        }
    };
    let display = lit.value();
    let path = resolve(&display);
    // A panic in a proc macro reaches the user as an unhelpful "proc macro panicked"; turn
    // any bug of ours into an error that says what to report instead.
    let run = std::panic::catch_unwind(|| match compile::compile(&path, &display, &spec::Disk) {
        Ok(compiled) => Ok(codegen::generate(&compiled)),
        Err(failed) => Err(failed),
    });
    let out = match run {
        Ok(Ok(tokens)) => tokens,
        Ok(Err(failed)) => codegen::generate_failure(&failed, lit.span()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            let message = format!(
                "mobilenet! failed on {display} with an internal error (a bug; please report it with the spec): {what}"
            );
            syn::Error::new(lit.span(), message).to_compile_error()
        }
    };
    out.into()
}

/// Where the spec file is: under `CARGO_MANIFEST_DIR` as most build-time paths are, else beside
/// the calling source file (which is where a compile-fail test's spec lives).
fn resolve(written: &str) -> PathBuf {
    let written_path = PathBuf::from(written);
    if written_path.is_absolute() {
        return written_path;
    }
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let under_manifest = manifest.join(written);
    if under_manifest.exists() {
        return under_manifest;
    }
    let beside_caller = proc_macro::Span::call_site()
        .local_file()
        .and_then(|f| f.parent().map(|d| d.join(written)))
        .filter(|p| p.exists());
    beside_caller.unwrap_or(under_manifest)
}
