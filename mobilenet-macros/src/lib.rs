//! `mobilenet!("specs/v1_alpha1_224.yaml")`: compiles a MobileNet-V1 layer table into a
//! statically shaped, fully unrolled forward pass, checked and costed at compile time.
//!
//! This file only wires the stages; each lives in its own module and is tested without the
//! macro machinery: `yaml` (positions) → `spec` (typed model) → `shapes` → `cost` → `paper`
//! → `report`, then `codegen`. Errors are gathered in `diagnostics` and reported together.

mod baked_codegen;
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
mod weights;
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
/// With `weights = "model.tflite"` (a quantized model, same path rules) the file is read and
/// checked at compile time and every layer's parameters become static data; the expansion then
/// has `Arena`, `input_mut`, `forward_in_arena` and `forward` instead of `Weights` and `Model`,
/// and needs neither `std` nor an allocator:
///
/// ```ignore
/// mod person {
///     mobilenet::mobilenet!("specs/tflite/quant/person_detect.yaml", weights = "person_detect.tflite");
/// }
/// let mut arena = person::Arena::new();
/// let scores: [i8; 2] = person::forward(&mut arena, &[0; person::INPUT_LEN]);
/// ```
///
/// A wrong spec, or a weights file that does not fit it, is a compile error naming the file,
/// line, row and the shapes that disagree.
#[proc_macro]
pub fn mobilenet(input: TokenStream) -> TokenStream {
    let args = match syn::parse::<Args>(input) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    let display = args.spec.value();
    let path = resolve(&display);
    let weights = args
        .weights
        .as_ref()
        .map(|w| (w.value(), resolve(&w.value()), w.span()));
    // A panic in a proc macro reaches the user as an unhelpful "proc macro panicked"; turn
    // any bug of ours into an error that says what to report instead.
    let run = std::panic::catch_unwind(|| match &weights {
        None => match compile::compile(&path, &display, &spec::Disk) {
            Ok(compiled) => codegen::generate(&compiled),
            Err(failed) => codegen::generate_failure(&failed, args.spec.span()),
        },
        Some((weights_display, weights_path, weights_span)) => {
            match compile::compile_for(&path, &display, &spec::Disk, cost::ArenaLayout::Baked) {
                Ok(mut compiled) => match weights::bake(&compiled, &display, weights_path, weights_display) {
                    Ok(baked) => {
                        compiled.report.push_str(&weights::report(&baked, weights_display));
                        baked_codegen::generate(&compiled, &baked, weights_path, weights_display)
                    }
                    Err(diagnostic) => {
                        let failed = compile::Failed {
                            diagnostics: vec![diagnostic],
                            spec: Some(compiled.spec.clone()),
                        };
                        baked_codegen::generate_failure(&failed, *weights_span, Some(compiled.spec.precision))
                    }
                },
                Err(failed) => {
                    let precision = failed.spec.as_ref().map(|s| s.precision);
                    baked_codegen::generate_failure(&failed, args.spec.span(), precision)
                }
            }
        }
    });
    let out = match run {
        Ok(tokens) => tokens,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            let message = format!(
                "mobilenet! failed on {display} with an internal error (a bug; please report it with the spec): {what}"
            );
            syn::Error::new(args.spec.span(), message).to_compile_error()
        }
    };
    out.into()
}

/// The macro's arguments: the spec's path, then optionally `weights = "model.tflite"`.
struct Args {
    spec: syn::LitStr,
    weights: Option<syn::LitStr>,
}

impl syn::parse::Parse for Args {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        const USAGE: &str = "mobilenet! takes the spec file's path, and optionally a quantized model to compile in: \
                             mobilenet!(\"specs/v1_alpha1_224.yaml\") or mobilenet!(\"spec.yaml\", weights = \"model.tflite\")";
        let spec: syn::LitStr = input.parse().map_err(|e| syn::Error::new(e.span(), USAGE))?;
        let mut weights = None;
        if input.parse::<Option<syn::Token![,]>>()?.is_some() && !input.is_empty() {
            let key: syn::Ident = input.parse().map_err(|e| syn::Error::new(e.span(), USAGE))?;
            if key != "weights" {
                return Err(syn::Error::new(
                    key.span(),
                    format!("mobilenet!: unknown argument `{key}`; the only one is `weights = \"model.tflite\"`"),
                ));
            }
            input.parse::<syn::Token![=]>()?;
            weights = Some(input.parse::<syn::LitStr>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "mobilenet!: `weights` takes a string literal, the model file's path",
                )
            })?);
            input.parse::<Option<syn::Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(USAGE));
        }
        Ok(Args { spec, weights })
    }
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
