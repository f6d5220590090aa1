//! The generator of `mobilenet!("spec.yaml", weights = "model.tflite")`: the usual constants,
//! every layer's parameters as `static` data, and a forward pass over an arena the caller
//! owns. Nothing in it needs `std` or an allocator.

use crate::codegen::{
    emit_consts, failure_errors, int8_generics, last_buffer, lit, ping_pong, runtime, stub_consts, track_files,
    STUB_DOC,
};
use crate::compile::{Compiled, Failed};
use crate::numbers::group_digits;
use crate::shapes::Layer;
use crate::spec::{Kind, Precision};
use crate::weights::Baked;
use mobilenet_runtime::quant::{QuantLayer, Quantization};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote};
use std::path::PathBuf;

/// The caller's element type.
fn elem(p: Precision) -> TokenStream {
    match p {
        Precision::Uint8 => quote!(u8),
        _ => quote!(i8),
    }
}

fn layer_static(i: usize) -> proc_macro2::Ident {
    format_ident!("LAYER_{}", i)
}

/// Layer `i`'s parameters as a `static` item.
fn param_static(l: &Layer, i: usize, q: &QuantLayer) -> TokenStream {
    let rt = runtime();
    let name = layer_static(i);
    let doc = format!(
        "Row {} ({}), operator {i} of the file.",
        l.row.number,
        l.row.kind.as_str()
    );
    match q {
        QuantLayer::Conv(q) => {
            let weights: Vec<u8> = q.weights.iter().map(|&w| w as u8).collect();
            let weights = Literal::byte_string(&weights);
            let bias = q.bias.iter().map(|&v| Literal::i32_unsuffixed(v));
            let multiplier = q.multiplier.iter().map(|&v| Literal::i32_unsuffixed(v));
            // `weights::bake` checked every shift against -31..=30.
            let shift = q.shift.iter().map(|&v| Literal::i8_unsuffixed(v as i8));
            let (izp, wzp, ozp) = (q.input_zero_point, q.weight_zero_point, q.output_zero_point);
            let (lo, hi) = (q.act_min, q.act_max);
            quote! {
                #[doc = #doc]
                pub static #name: #rt::kernels::i8::DirectConv<'static> = #rt::kernels::i8::DirectConv {
                    weights: #rt::baked::i8s(#weights),
                    bias: &[#(#bias),*],
                    multiplier: &[#(#multiplier),*],
                    shift: &[#(#shift),*],
                    input_zero_point: #izp,
                    weight_zero_point: #wzp,
                    output_zero_point: #ozp,
                    act_min: #lo,
                    act_max: #hi,
                };
            }
        }
        QuantLayer::Pool(p) => {
            let (offset, lo, hi) = (p.domain_offset, p.act_min, p.act_max);
            quote! {
                #[doc = #doc]
                pub static #name: #rt::kernels::i8::PoolQuant =
                    #rt::kernels::i8::PoolQuant { domain_offset: #offset, act_min: #lo, act_max: #hi };
            }
        }
        QuantLayer::Softmax(s) => {
            let (m, shift, diff_min) = (s.input_multiplier(), s.input_left_shift(), s.diff_min());
            let table = s.table().iter().map(|&v| Literal::i32_unsuffixed(v));
            quote! {
                #[doc = #doc]
                pub static #name: #rt::kernels::i8::SoftmaxQuant =
                    #rt::kernels::i8::SoftmaxQuant::from_table(#m, #shift, #diff_min, [#(#table),*]);
            }
        }
    }
}

/// Layer `i`'s kernel call, reading `src` and writing `dst`.
fn kernel_call(l: &Layer, i: usize, src: &TokenStream, dst: &TokenStream) -> TokenStream {
    let rt = runtime();
    let p = layer_static(i);
    let g = int8_generics(l);
    let k = quote!(#rt::kernels::i8);
    match l.row.kind {
        Kind::Conv if l.is_pointwise() => quote!(#k::direct::pointwise::#g(#src, #dst, &#p);),
        Kind::Conv => quote!(#k::direct::conv2d::#g(#src, #dst, &#p);),
        Kind::ConvDw => quote!(#k::direct::depthwise::#g(#src, #dst, &#p);),
        Kind::Fc => quote!(#k::direct::fc::#g(#src, #dst, &#p);),
        Kind::AvgPool => quote!(#k::avg_pool::#g(#src, #dst, &#p);),
        Kind::Softmax => quote!(#k::softmax::#g(#src, #dst, &#p);),
    }
}

/// A quantization as a constant expression.
fn quantization(q: &Quantization) -> TokenStream {
    let rt = runtime();
    let (scale, zero_point) = (q.scale, q.zero_point);
    quote!(#rt::quant::Quantization { scale: #scale, zero_point: #zero_point })
}

/// The bodies of the generated functions, over `arena: &mut Arena`.
struct Bodies {
    /// `input_mut`'s.
    input: TokenStream,
    /// `forward_in_arena`'s.
    run: TokenStream,
}

/// The items both a real and a stand-in expansion define beside the constants: the two
/// quantizations, `Arena`, `input_mut`, `forward_in_arena` and `forward`.
fn api(elem: &TokenStream, quant: [TokenStream; 2], bodies: Bodies, doc: &str) -> TokenStream {
    let rt = runtime();
    let [input_q, output_q] = quant;
    let Bodies { input, run } = bodies;
    quote! {
        /// How the input image's values stand for real numbers (the model file's input tensor).
        pub const INPUT_QUANTIZATION: #rt::quant::Quantization = #input_q;
        /// How the output scores stand for real numbers (the model file's output tensor).
        pub const OUTPUT_QUANTIZATION: #rt::quant::Quantization = #output_q;

        #[doc = #doc]
        pub type Arena = #rt::baked::Arena<ARENA_BYTES>;

        /// Where the image goes: `INPUT_LEN` values, HWC, in the model's own type. Write it,
        /// then call [`forward_in_arena`]; the forward pass overwrites it.
        pub fn input_mut(arena: &mut Arena) -> &mut [#elem; INPUT_LEN] {
            #input
        }

        /// Runs the network on the image written through [`input_mut`] and gives the
        /// `NUM_CLASSES` output scores (see `OUTPUT_QUANTIZATION`). Allocates nothing; the
        /// parameters are static data.
        pub fn forward_in_arena(arena: &mut Arena) -> [#elem; NUM_CLASSES] {
            #run
        }

        /// Copies `image` into the arena and runs [`forward_in_arena`].
        pub fn forward(arena: &mut Arena, image: &[#elem; INPUT_LEN]) -> [#elem; NUM_CLASSES] {
            *input_mut(arena) = *image;
            forward_in_arena(arena)
        }
    }
}

/// Everything `mobilenet!(spec, weights = file)` expands to for a spec and file that fit.
pub fn generate(c: &Compiled, baked: &Baked, weights_file: &std::path::Path, display: &str) -> TokenStream {
    let rt = runtime();
    let plan = &c.plan;
    let t = &c.totals;
    let elem = elem(c.spec.precision);
    let mut files: Vec<PathBuf> = c.spec.files.clone();
    files.push(weights_file.to_path_buf());
    let track = track_files(&files);
    let consts = emit_consts(&crate::codegen::const_items(c));
    let statics = plan
        .layers
        .iter()
        .zip(&baked.file.layers)
        .enumerate()
        .map(|(i, (l, q))| param_static(l, i, q));
    // Layer i writes buffer i % 2 and reads the other; the image waits in the second.
    let calls = plan.layers.iter().enumerate().map(|(i, l)| {
        let (out, src) = ping_pong(i, &quote!(&*b));
        kernel_call(l, i, &src, &quote!(&mut *#out))
    });
    let result = last_buffer(plan.layers.len());
    let a_len = lit(t.arena[0]);
    let run = quote! {
        let (a, b) = arena.bytes_mut().split_at_mut(#a_len);
        #rt::baked::enter_domain::<#elem>(&mut b[..INPUT_LEN]);
        __mobilenet::run(a, b)
    };
    let arena_doc = format!(
        "The {} bytes (`ARENA_BYTES`) one forward pass works in, the input image included. \
         `Arena::new()` is `const`: a `static` arena is zero-initialised memory (`.bss`), not flash.",
        group_digits(t.arena_bytes() as i64)
    );
    let input = quote!(arena.slot_mut::<#elem, #a_len, INPUT_LEN>());
    let api = api(
        &elem,
        [quantization(&baked.file.input), quantization(&baked.file.output)],
        Bodies { input, run },
        &arena_doc,
    );
    let static_doc = format!(
        "Every layer's parameters, read from `{display}` at compile time: {} bytes of static data.",
        group_digits(baked.static_bytes as i64)
    );
    quote! {
        #track
        #consts
        #api

        #[doc = #static_doc]
        #[doc(hidden)]
        pub mod __mobilenet {
            #(#statics)*

            /// The layers in order over the arena's two buffers; the image is in `b`.
            pub fn run(a: &mut [i8], b: &mut [i8]) -> [#elem; super::NUM_CLASSES] {
                use super::*;
                #(#calls)*
                #rt::baked::leave_domain::<#elem, NUM_CLASSES>(&#result[..NUM_CLASSES])
            }
        }
    }
}

/// What `mobilenet!(spec, weights = file)` expands to when the spec or the file is wrong:
/// every error at `span`, and stand-ins for the same items.
pub fn generate_failure(f: &Failed, span: Span, precision: Option<Precision>) -> TokenStream {
    let rt = runtime();
    let errors = failure_errors(f, span);
    let track = track_files(&f.spec.as_ref().map(|s| s.files.clone()).unwrap_or_default());
    let consts = emit_consts(&stub_consts(f));
    let elem = elem(precision.unwrap_or(Precision::Int8));
    let unknown = quote!(#rt::quant::Quantization { scale: 1.0, zero_point: 0 });
    let never = quote!(unreachable!("the spec did not compile"));
    let bodies = Bodies {
        input: never.clone(),
        run: never,
    };
    let api = api(&elem, [unknown.clone(), unknown], bodies, STUB_DOC);
    quote!(#errors #track #consts #api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::ArenaLayout;
    use std::path::Path;

    /// The names of the items an expansion defines at its top level.
    fn items(tokens: TokenStream) -> Vec<String> {
        let file: syn::File = syn::parse2(tokens).expect("generated code parses");
        let mut names: Vec<String> = file
            .items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Const(c) if c.ident != "_" => Some(c.ident.to_string()),
                syn::Item::Type(t) => Some(t.ident.to_string()),
                syn::Item::Fn(f) => Some(f.sig.ident.to_string()),
                _ => None,
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_expansion_defines_the_same_items_as_a_good_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let spec = "specs/tflite/quant/person_detect.yaml";
        let c = crate::compile::compile_for(&root.join(spec), spec, &crate::spec::Disk, ArenaLayout::Baked).unwrap();
        let file = root.join("assets/tflite-micro/person_detect.tflite");
        let baked = crate::weights::bake(&c, spec, &file, "person_detect.tflite").unwrap();
        let good = items(generate(&c, &baked, &file, "person_detect.tflite"));
        let failed = Failed {
            diagnostics: vec![crate::diagnostics::Diagnostic::global("wrong")],
            spec: Some(c.spec.clone()),
        };
        let stub = items(generate_failure(&failed, Span::call_site(), Some(Precision::Int8)));
        assert_eq!(good, stub);
        for name in [
            "Arena",
            "input_mut",
            "forward_in_arena",
            "forward",
            "ARENA_BYTES",
            "INPUT_QUANTIZATION",
        ] {
            assert!(good.iter().any(|n| n == name), "{name} missing from {good:?}");
        }
    }
}
