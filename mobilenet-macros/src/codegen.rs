//! The generator: reads a [`Compiled`] spec and writes the items `mobilenet!` expands to.
//! It decides nothing about the model; every number it writes was computed by an earlier stage.
//!
//! Generated code names the runtime as `::mobilenet::runtime`, the facade crate users depend on.

use crate::compile::{Compiled, Failed};
use crate::cost::Cost;
use crate::numbers::group_digits;
use crate::numbers::short;
use crate::shapes::{fmt_shape, Layer};
use crate::spec::{Activation, Kind, Padding, Precision, Spec};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote};

pub(crate) fn lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

fn lit64(v: u64) -> Literal {
    Literal::u64_suffixed(v)
}

pub(crate) fn runtime() -> TokenStream {
    quote!(::mobilenet::runtime)
}

/// Keeps the compiler watching every spec file: proc macros are not re-run when a file they
/// read changes, but `include_bytes!` makes the file a dependency of the crate.
pub(crate) fn track_files(spec_files: &[std::path::PathBuf]) -> TokenStream {
    let paths = spec_files
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .map(|p| p.to_string_lossy().into_owned());
    quote!(#( const _: &[u8] = include_bytes!(#paths); )*)
}

fn field(i: usize) -> proc_macro2::Ident {
    format_ident!("layer_{}", i)
}

fn activation_code(spec: &Spec) -> u8 {
    match spec.activation {
        Activation::Relu => 1,
        Activation::Relu6 => 2,
    }
}

/// The parameter type of a layer, if it has parameters.
fn param_type(l: &Layer) -> Option<TokenStream> {
    let rt = runtime();
    let [kh, kw] = l.kernel.map(lit);
    let cin = lit(l.input[2]);
    let cout = lit(l.output[2]);
    Some(match l.row.kind {
        Kind::Conv if l.is_pointwise() => {
            let hw = lit(l.output[0] * l.output[1]);
            quote!(#rt::kernels::PointwiseParams<#hw, #cin, #cout>)
        }
        Kind::Conv => quote!(#rt::kernels::ConvParams<#kh, #kw, #cin, #cout>),
        Kind::ConvDw => quote!(#rt::kernels::DepthwiseParams<#kh, #kw, #cin>),
        Kind::Fc => quote!(#rt::kernels::FcParams<#cin, #cout>),
        Kind::AvgPool | Kind::Softmax => return None,
    })
}

/// The kernel call of one layer: literal shapes, reading `src`, writing `dst`.
fn kernel_call(l: &Layer, i: usize, act: u8, src: &TokenStream, dst: &TokenStream) -> TokenStream {
    let rt = runtime();
    let f = field(i);
    let [h, w, cin] = l.input.map(lit);
    let [oh, ow, cout] = l.output.map(lit);
    let [kh, kw] = l.kernel.map(lit);
    let [pt, pl] = l.pad_top_left.map(lit);
    let s = lit(l.row.stride);
    let hw = lit(l.input[0] * l.input[1]);
    match l.row.kind {
        Kind::Conv if l.is_pointwise() => {
            quote!(#rt::kernels::pointwise::<#hw, #cin, #cout, #act>(#src, #dst, &w.#f, team);)
        }
        Kind::Conv => {
            quote!(#rt::kernels::conv2d::<#h, #w, #cin, #oh, #ow, #cout, #kh, #kw, #s, #pt, #pl, #act>(#src, #dst, &w.#f, team);)
        }
        Kind::ConvDw => {
            quote!(#rt::kernels::depthwise::<#h, #w, #cin, #oh, #ow, #kh, #kw, #s, #pt, #pl, #act>(#src, #dst, &w.#f, team);)
        }
        Kind::AvgPool => quote!(#rt::kernels::avg_pool::<#h, #w, #cin, #oh, #ow, #kh, #kw, #s>(#src, #dst);),
        Kind::Fc => quote!(#rt::kernels::fc::<#cin, #cout>(#src, #dst, &w.#f, team);),
        Kind::Softmax => quote!(#rt::kernels::softmax::<#cin>(#src, #dst);),
    }
}

/// The parameter type of a layer of a quantized network: every layer but the pool and the
/// softmax has packed weights; those two have only their quantization.
fn quant_param_type(l: &Layer) -> TokenStream {
    let rt = runtime();
    let [kh, kw] = l.kernel.map(lit);
    let cin = lit(l.input[2]);
    let cout = lit(l.output[2]);
    match l.row.kind {
        Kind::Conv if l.is_pointwise() => quote!(#rt::kernels::i8::PointwiseParams<#cin, #cout>),
        Kind::Conv => quote!(#rt::kernels::i8::ConvParams<#kh, #kw, #cin, #cout>),
        Kind::ConvDw => quote!(#rt::kernels::i8::DepthwiseParams<#kh, #kw, #cin>),
        Kind::Fc => quote!(#rt::kernels::i8::FcParams<#cin, #cout>),
        Kind::AvgPool => quote!(#rt::kernels::i8::PoolQuant),
        Kind::Softmax => quote!(#rt::kernels::i8::SoftmaxQuant),
    }
}

/// How [`quant_param_type`]'s value is read: the reader's method for the layer's kind.
fn quant_reader_method(l: &Layer) -> proc_macro2::Ident {
    match l.row.kind {
        Kind::Conv | Kind::ConvDw | Kind::Fc => format_ident!("conv"),
        Kind::AvgPool => format_ident!("pool"),
        Kind::Softmax => format_ident!("softmax"),
    }
}

/// Layer `i`'s two buffers in the arena: it writes buffer `i % 2` (`a` or `b`) and reads the
/// other; layer 0 reads `image`. Gives (what it writes, what it reads).
pub(crate) fn ping_pong(i: usize, image: &TokenStream) -> (proc_macro2::Ident, TokenStream) {
    match i {
        0 => (format_ident!("a"), image.clone()),
        _ if i.is_multiple_of(2) => (format_ident!("a"), quote!(&*b)),
        _ => (format_ident!("b"), quote!(&*a)),
    }
}

/// The buffer the last of `layers` layers writes.
pub(crate) fn last_buffer(layers: usize) -> proc_macro2::Ident {
    ping_pong(layers.saturating_sub(1), &TokenStream::new()).0
}

/// The const generics of layer `l`'s int8 kernel, the same for the packed kernels
/// (`kernels::i8::*`) and the direct ones (`kernels::i8::direct::*`): `<HW, CIN, COUT>` for
/// pointwise, `<H, W, CIN, OH, OW, COUT, KH, KW, S, PT, PL>` for conv, and so on.
pub(crate) fn int8_generics(l: &Layer) -> TokenStream {
    let [h, w, cin] = l.input.map(lit);
    let [oh, ow, cout] = l.output.map(lit);
    let [kh, kw] = l.kernel.map(lit);
    let [pt, pl] = l.pad_top_left.map(lit);
    let s = lit(l.row.stride);
    let hw = lit(l.input[0] * l.input[1]);
    match l.row.kind {
        Kind::Conv if l.is_pointwise() => quote!(<#hw, #cin, #cout>),
        Kind::Conv => quote!(<#h, #w, #cin, #oh, #ow, #cout, #kh, #kw, #s, #pt, #pl>),
        Kind::ConvDw => quote!(<#h, #w, #cin, #oh, #ow, #kh, #kw, #s, #pt, #pl>),
        Kind::AvgPool => quote!(<#h, #w, #cin, #oh, #ow, #kh, #kw, #s>),
        Kind::Fc => quote!(<#cin, #cout>),
        Kind::Softmax => quote!(<#cin>),
    }
}

/// The int8 kernel call of one layer of a quantized network.
fn quant_kernel_call(l: &Layer, i: usize, src: &TokenStream, dst: &TokenStream) -> TokenStream {
    let rt = runtime();
    let f = field(i);
    let g = int8_generics(l);
    let k = quote!(#rt::kernels::i8);
    match l.row.kind {
        Kind::Conv if l.is_pointwise() => quote!(#k::pointwise::#g(#src, #dst, &w.#f, team);),
        Kind::Conv => quote!(#k::conv2d::#g(#src, #dst, &w.#f, team);),
        Kind::ConvDw => quote!(#k::depthwise::#g(#src, #dst, &w.#f, team);),
        Kind::AvgPool => quote!(#k::avg_pool::#g(#src, #dst, &w.#f);),
        Kind::Fc => quote!(#k::fc::#g(#src, #dst, &w.#f, team);),
        Kind::Softmax => quote!(#k::softmax::#g(#src, #dst, &w.#f);),
    }
}

/// L2 the generated code plans for when it prefetches the classifier: half for the fc
/// weights, half for what the layers before it touch. Half of a 2 MiB L2 (recent Xeons), all
/// of the 1 MiB that most desktop and server cores since 2017 have. Larger classifiers do
/// not pay: on 0.5-160 (2 MB) prefetched during the last one to three layers, fc got 10-20%
/// faster and those layers 7-15% slower, about nothing overall.
const PREFETCH_BUDGET: u64 = 1 << 20;

/// Where to ask for the fc weights to be prefetched (see `FcParams::prefetch_ahead`):
/// `(layer to ask before, fc layer)`. Only a classifier of at most [`PREFETCH_BUDGET`]
/// bytes, and from the earliest layer after which the weights and outputs of the layers up to
/// the fc fit in another [`PREFETCH_BUDGET`] bytes, so that what is prefetched is not evicted
/// before the fc reads it. `None` when there is no fc, it is too large, or no layer fits.
fn fc_prefetch(layers: &[Layer], costs: &[Cost]) -> Option<(usize, usize)> {
    let fc = layers.iter().rposition(|l| l.row.kind == Kind::Fc)?;
    if costs[fc].params * 4 > PREFETCH_BUDGET {
        return None;
    }
    let mut touched = 0;
    let mut start = fc;
    for i in (0..fc).rev() {
        touched += footprint(&layers[i], &costs[i]);
        if touched > PREFETCH_BUDGET {
            break;
        }
        start = i;
    }
    (start < fc).then_some((start, fc))
}

/// Bytes a layer touches that [`fc_prefetch`] counts: its weights and its output.
fn footprint(l: &Layer, c: &Cost) -> u64 {
    4 * (c.params + l.output.iter().product::<usize>() as u64)
}

fn layer_info(l: &Layer, c: &Cost) -> TokenStream {
    let rt = runtime();
    let name = &l.name;
    let kind = match l.row.kind {
        Kind::Conv => quote!(Conv),
        Kind::ConvDw => quote!(ConvDw),
        Kind::AvgPool => quote!(AvgPool),
        Kind::Fc => quote!(Fc),
        Kind::Softmax => quote!(Softmax),
    };
    let stride = lit(l.row.stride);
    let [kh, kw] = l.kernel.map(lit);
    let [pt, pl] = l.pad_top_left.map(lit);
    let [ih, iw, ic] = l.input.map(lit);
    let [oh, ow, oc] = l.output.map(lit);
    let (params, stored, madds) = (lit64(c.params), lit64(c.stored), lit64(c.mult_adds));
    quote!(#rt::LayerInfo {
        name: #name,
        kind: #rt::LayerKind::#kind,
        stride: #stride,
        kernel: [#kh, #kw],
        pad_top_left: [#pt, #pl],
        input: [#ih, #iw, #ic],
        output: [#oh, #ow, #oc],
        params: #params,
        stored_params: #stored,
        mult_adds: #madds,
    })
}

/// What differs between a real expansion and the stubs of a failed one: the constants'
/// values and docs, and the network behind `Weights` and `Model`. [`emit`] writes both the same
/// way, so the two expansions define the same items.
struct Items {
    track: TokenStream,
    /// Whether `Weights` and `Model` are the runtime's quantized ones.
    quantized: bool,
    consts: Vec<Const>,
    /// The `__mobilenet` module's contents: `Net`, `Params` and the `Net` impl.
    net: TokenStream,
    weights_doc: String,
    model_doc: String,
}

/// One generated constant.
pub(crate) struct Const {
    doc: String,
    name: &'static str,
    ty: TokenStream,
    value: TokenStream,
}

impl Const {
    fn new(name: &'static str, doc: impl Into<String>, ty: TokenStream, value: TokenStream) -> Self {
        Const {
            doc: doc.into(),
            name,
            ty,
            value,
        }
    }
}

/// The constants every expansion defines, with `value` giving each one's value and doc.
pub(crate) fn constants(mut value: impl FnMut(&'static str) -> (String, TokenStream)) -> Vec<Const> {
    let rt = runtime();
    let types: [(&'static str, TokenStream); 20] = [
        ("NAME", quote!(&str)),
        ("INPUT_SHAPE", quote!([usize; 3])),
        ("INPUT_LEN", quote!(usize)),
        ("NUM_CLASSES", quote!(usize)),
        ("MULT_ADDS", quote!(u64)),
        ("FLOPS", quote!(u64)),
        ("PARAMS", quote!(u64)),
        ("STORED_PARAMS", quote!(u64)),
        ("ARENA_LEN", quote!(usize)),
        ("ARENA_BYTES", quote!(usize)),
        ("PRECISION", quote!(#rt::Precision)),
        ("LAYERS", quote!(&[#rt::LayerInfo])),
        ("COST_REPORT", quote!(&str)),
        ("PAPER", quote!(&[#rt::PaperFigure])),
        ("PAPER_SOURCE", quote!(&str)),
        ("PAPER_TOP1", quote!(::core::option::Option<f64>)),
        ("PADDING", quote!(#rt::Padding)),
        ("ACTIVATION", quote!(#rt::Activation)),
        ("BN_EPS", quote!(f32)),
        ("OUTPUTS_PROBABILITIES", quote!(bool)),
    ];
    types
        .into_iter()
        .map(|(name, ty)| {
            let (doc, v) = value(name);
            Const::new(name, doc, ty, v)
        })
        .collect()
}

/// The constants as `pub const` items.
pub(crate) fn emit_consts(consts: &[Const]) -> TokenStream {
    let consts = consts.iter().map(|c| {
        let (doc, name, ty, value) = (&c.doc, format_ident!("{}", c.name), &c.ty, &c.value);
        quote!(#[doc = #doc] pub const #name: #ty = #value;)
    });
    quote!(#(#consts)*)
}

/// Writes an expansion: the constants, the network in a hidden module, and the two types.
fn emit(items: &Items) -> TokenStream {
    let rt = runtime();
    let consts = emit_consts(&items.consts);
    let (track, net, weights_doc, model_doc) = (&items.track, &items.net, &items.weights_doc, &items.model_doc);
    let (weights, model) = if items.quantized {
        (
            quote!(#rt::quant::QuantWeights<__mobilenet::Net>),
            quote!(#rt::quant::QuantModel<__mobilenet::Net, INPUT_LEN, NUM_CLASSES>),
        )
    } else {
        (
            quote!(#rt::model::Weights<__mobilenet::Net>),
            quote!(#rt::model::Model<__mobilenet::Net, INPUT_LEN, NUM_CLASSES, { LAYERS.len() }>),
        )
    };
    quote! {
        #rt::__require_std!();
        #track
        #consts

        /// What only the expansion names: the network's parameter types and kernel calls,
        /// which `Weights` and `Model` (written once, in the runtime) run.
        #[doc(hidden)]
        pub mod __mobilenet {
            #net
        }

        #[doc = #weights_doc]
        pub type Weights = #weights;

        #[doc = #model_doc]
        pub type Model = #model;
    }
}

/// The `Net` impl's constants, the same in both expansions: the module's own copies of the
/// generated constants.
fn net_consts() -> TokenStream {
    let rt = runtime();
    quote! {
        const INPUT_SHAPE: [usize; 3] = super::INPUT_SHAPE;
        const ARENA_LEN: usize = super::ARENA_LEN;
        const LAYERS: &'static [#rt::LayerInfo] = super::LAYERS;
        const PADDING: #rt::Padding = super::PADDING;
        const ACTIVATION: #rt::Activation = super::ACTIVATION;
        const BN_EPS: f32 = super::BN_EPS;
    }
}

/// The constants of a valid spec's expansion, each with its value and doc.
pub(crate) fn const_items(c: &Compiled) -> Vec<Const> {
    let rt = runtime();
    let s = &c.spec;
    let t = &c.totals;
    let plan = &c.plan;
    let [ih, iw, ic] = plan.input;
    let eps = s.bn_eps as f32;
    let probabilities = plan.layers.last().is_some_and(|l| l.row.kind == Kind::Softmax);
    let docs = Docs::new(c);
    constants(|name| match name {
        "NAME" => (docs.name.clone(), {
            let v = &s.name;
            quote!(#v)
        }),
        "INPUT_SHAPE" => (docs.shape.clone(), {
            let [h, w, ch] = [ih, iw, ic].map(lit);
            quote!([#h, #w, #ch])
        }),
        "INPUT_LEN" => (docs.len.clone(), {
            let v = lit(ih * iw * ic);
            quote!(#v)
        }),
        "NUM_CLASSES" => (docs.classes.clone(), {
            let v = lit(s.classes);
            quote!(#v)
        }),
        "MULT_ADDS" => (docs.madds.clone(), {
            let v = lit64(t.total.mult_adds);
            quote!(#v)
        }),
        "FLOPS" => (docs.flops.clone(), {
            let v = lit64(2 * t.total.mult_adds);
            quote!(#v)
        }),
        "PARAMS" => (docs.params.clone(), {
            let v = lit64(t.total.params);
            quote!(#v)
        }),
        "STORED_PARAMS" => (docs.stored.clone(), {
            let v = lit64(t.total.stored);
            quote!(#v)
        }),
        "ARENA_LEN" => (docs.arena.clone(), {
            let v = lit(t.arena_len());
            quote!(#v)
        }),
        "ARENA_BYTES" => (docs.arena_bytes.clone(), {
            let v = lit(t.arena_bytes());
            quote!(#v)
        }),
        "PRECISION" => (
            "The number type of the forward pass, as the spec's `precision` sets it.".into(),
            match s.precision {
                Precision::Float32 => quote!(#rt::Precision::Float32),
                Precision::Int8 => quote!(#rt::Precision::Int8),
                Precision::Uint8 => quote!(#rt::Precision::Uint8),
            },
        ),
        "LAYERS" => (docs.layers.clone(), {
            let infos = plan.layers.iter().zip(&t.layers).map(|(l, c)| layer_info(l, c));
            quote!(&[#(#infos),*])
        }),
        "COST_REPORT" => (docs.report.clone(), {
            let v = &c.report;
            quote!(#v)
        }),
        "PAPER" => (
            "The paper's figures this spec quotes, each with the count it was checked against.".into(),
            {
                let figures = c.verdicts.iter().map(|v| {
                let what = match &v.figure.group {
                    None => measure_key(v.figure.measure).to_string(),
                    Some(g) => format!("{g} {}", measure_key(v.figure.measure)),
                };
                let percent = v.figure.group.is_some();
                let printed = &v.figure.printed.text;
                let (paper, counted, allowed) = (v.figure.printed.value, v.counted, v.allowed);
                let note = v.figure.note.clone().unwrap_or_default();
                quote!(#rt::PaperFigure { what: #what, percent: #percent, printed: #printed, paper: #paper, counted: #counted, allowed: #allowed, note: #note })
            });
                quote!(&[#(#figures),*])
            },
        ),
        "PAPER_SOURCE" => (
            "Where in the paper `PAPER`'s figures are printed (`\"\"` if the spec quotes none).".into(),
            {
                let v = s.paper.as_ref().and_then(|p| p.source.clone()).unwrap_or_default();
                quote!(#v)
            },
        ),
        "PAPER_TOP1" => (
            "ImageNet top-1 accuracy the paper reports for this model, if the spec quotes it.".into(),
            match s.paper.as_ref().and_then(|p| p.top1) {
                Some(t) => quote!(::core::option::Option::Some(#t)),
                None => quote!(::core::option::Option::None),
            },
        ),
        "PADDING" => (
            "Padding convention of every convolution.".into(),
            match s.padding {
                Padding::Symmetric => quote!(#rt::Padding::Symmetric),
                Padding::TfSame => quote!(#rt::Padding::TfSame),
            },
        ),
        "ACTIVATION" => (
            "Activation after every batch-normalised convolution.".into(),
            match s.activation {
                Activation::Relu => quote!(#rt::Activation::Relu),
                Activation::Relu6 => quote!(#rt::Activation::Relu6),
            },
        ),
        "BN_EPS" => ("Batch-norm epsilon used when folding.".into(), quote!(#eps)),
        "OUTPUTS_PROBABILITIES" => (
            "Whether `forward` returns probabilities (the table ends with softmax) or logits.".into(),
            quote!(#probabilities),
        ),
        other => unreachable!("constant {other} has no value"),
    })
}

/// Everything `mobilenet!` expands to for a valid spec.
pub fn generate(c: &Compiled) -> TokenStream {
    let rt = runtime();
    let s = &c.spec;
    let t = &c.totals;
    let plan = &c.plan;
    let act = activation_code(s);
    let a_len = lit(t.arena[0]);
    let probabilities = plan.layers.last().is_some_and(|l| l.row.kind == Kind::Softmax);
    let output_doc = if probabilities {
        "class probabilities (the table ends with softmax)"
    } else {
        "logits (the table ends without softmax)"
    };
    let headline = format!(
        "`{}`: {} image in, {} {output_doc}; {} mult-adds, {} parameters.",
        s.name,
        fmt_shape(plan.input),
        s.classes,
        short(t.total.mult_adds),
        short(t.total.params)
    );

    let consts = const_items(c);

    if s.precision.is_quantized() {
        let ty = value_type(s.precision);
        return emit(&Items {
            track: track_files(&s.files),
            quantized: true,
            consts,
            net: quant_net(c),
            weights_doc: format!(
                "The parameters of {headline}\n\nRead from a quantized TensorFlow Lite model: {} weights, int32 biases, \
                 and each layer's requantization (multiplier and shift per output channel) computed when loaded, as \
                 TFLite computes it. Share them between models with an `Arc`.",
                s.precision.as_str()
            ),
            model_doc: format!(
                "{headline}\n\nOwns {} {ty} activations (`ARENA_BYTES` bytes), allocated once by `Model::new`; \
                 `forward` allocates nothing.",
                group_digits(t.arena_len() as i64)
            ),
        });
    }
    let with_params: Vec<(usize, &Layer, TokenStream)> = plan
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| param_type(l).map(|ty| (i, l, ty)))
        .collect();
    let fields = with_params.iter().map(|(i, l, ty)| {
        let f = field(*i);
        let doc = format!(
            "Row {} ({}), tensors `{}.*`.",
            l.row.number,
            l.row.kind.as_str(),
            l.name
        );
        quote!(#[doc = #doc] #f: #ty,)
    });
    let reads = with_params.iter().map(|(i, _, _)| {
        let (f, i) = (field(*i), lit(*i));
        quote!(#f: reader.read(#i)?,)
    });
    let writes = with_params.iter().map(|(i, _, _)| {
        let (f, i) = (field(*i), lit(*i));
        quote!(writer.write(#i, &params.#f);)
    });

    // Layer i writes buffer i % 2 and reads the other; layer 0 reads the image.
    let prefetch = fc_prefetch(&plan.layers, &t.layers);
    let calls = plan.layers.iter().enumerate().map(|(i, l)| {
        let (out, src) = ping_pong(i, &quote!(input));
        let call = kernel_call(l, i, act, &src, &quote!(&mut *#out));
        let (ii, len) = (lit(i), lit(l.output.iter().product()));
        let ask = match prefetch {
            Some((at, fc)) if at == i => {
                let f = field(fc);
                quote!(#rt::kernels::FcParams::prefetch_ahead(&w.#f, team);)
            }
            _ => quote!(),
        };
        quote!(#ask hook.before(#ii); #call hook.after(#ii, &#out[..#len]);)
    });
    let result = last_buffer(plan.layers.len());
    let out_len = lit(plan.layers.last().map_or(0, |l| l.output.iter().product()));
    let net_consts = net_consts();
    let net = quote! {
        /// The network `mobilenet!` compiled.
        pub struct Net;

        /// Every layer's packed parameters.
        pub struct Params { #(#fields)* }

        impl #rt::model::Net for Net {
            #net_consts
            type Params = Params;

            fn read(reader: &mut #rt::weights::LayerReader<'_>) -> ::core::result::Result<Params, #rt::WeightsError> {
                ::core::result::Result::Ok(Params { #(#reads)* })
            }

            fn write(params: &Params, writer: &mut #rt::weights::LayerWriter<'_>) {
                #(#writes)*
            }

            #[inline(always)]
            fn run<'a>(w: &Params, arena: &'a mut [f32], team: &#rt::Team, input: &[f32], hook: &mut impl #rt::hooks::LayerHook) -> &'a [f32] {
                let (a, b) = arena.split_at_mut(#a_len);
                #(#calls)*
                &#result[..#out_len]
            }
        }
    };
    emit(&Items {
        track: track_files(&s.files),
        quantized: false,
        consts,
        net,
        weights_doc: format!(
            "The parameters of {headline}\n\nBatch norm is folded into the convolutions and every layer is packed for \
             its kernel when the weights are loaded. Share them between models with an `Arc`."
        ),
        model_doc: format!(
            "{headline}\n\nOwns {} f32 activations (`ARENA_LEN`), allocated once by `Model::new`; `forward` allocates \
             nothing.",
            group_digits(t.arena_len() as i64)
        ),
    })
}

/// The `__mobilenet` module's contents for a quantized network: the same layer list and
/// ping-pong arena as a float one, over `i8` activations, calling the int8 kernels.
fn quant_net(c: &Compiled) -> TokenStream {
    let rt = runtime();
    let plan = &c.plan;
    let a_len = lit(c.totals.arena[0]);
    let elem = match c.spec.precision {
        Precision::Uint8 => quote!(u8),
        _ => quote!(i8),
    };
    let fields = plan.layers.iter().enumerate().map(|(i, l)| {
        let (f, ty) = (field(i), quant_param_type(l));
        let doc = format!(
            "Row {} ({}), operator {i} of the file.",
            l.row.number,
            l.row.kind.as_str()
        );
        quote!(#[doc = #doc] #f: #ty,)
    });
    let reads = plan.layers.iter().enumerate().map(|(i, l)| {
        let (f, m, i) = (field(i), quant_reader_method(l), lit(i));
        quote!(#f: reader.#m(#i)?,)
    });
    let calls = plan.layers.iter().enumerate().map(|(i, l)| {
        let (out, src) = ping_pong(i, &quote!(input));
        let call = quant_kernel_call(l, i, &src, &quote!(&mut *#out));
        let (ii, len) = (lit(i), lit(l.output.iter().product()));
        quote!(hook.before(#ii); #call hook.after(#ii, &#out[..#len]);)
    });
    let result = last_buffer(plan.layers.len());
    let out_len = lit(plan.layers.last().map_or(0, |l| l.output.iter().product()));
    quote! {
        /// The network `mobilenet!` compiled.
        pub struct Net;

        /// Every layer's packed parameters and quantization.
        pub struct Params { #(#fields)* }

        impl #rt::quant::QuantNet for Net {
            const INPUT_SHAPE: [usize; 3] = super::INPUT_SHAPE;
            const ARENA_LEN: usize = super::ARENA_LEN;
            const LAYERS: &'static [#rt::LayerInfo] = super::LAYERS;
            const PADDING: #rt::Padding = super::PADDING;
            const ACTIVATION: #rt::Activation = super::ACTIVATION;
            const PRECISION: #rt::Precision = super::PRECISION;
            type Elem = #elem;
            type Params = Params;

            fn read(reader: &mut #rt::quant::QuantReader<'_>) -> ::core::result::Result<Params, #rt::WeightsError> {
                ::core::result::Result::Ok(Params { #(#reads)* })
            }

            #[inline(always)]
            fn run<'a>(w: &Params, arena: &'a mut [i8], team: &#rt::Team, input: &[i8], hook: &mut impl #rt::quant::QuantHook) -> &'a [i8] {
                let (a, b) = arena.split_at_mut(#a_len);
                #(#calls)*
                &#result[..#out_len]
            }
        }
    }
}

fn measure_key(m: crate::spec::Measure) -> &'static str {
    match m {
        crate::spec::Measure::MultAdds => crate::symbol::paper::MULT_ADDS,
        crate::spec::Measure::Params => crate::symbol::paper::PARAMS,
    }
}

/// The Rust type of one activation.
fn value_type(p: Precision) -> &'static str {
    match p {
        Precision::Float32 => "f32",
        Precision::Int8 => "i8",
        Precision::Uint8 => "u8",
    }
}

/// Doc comments of the constants, each with its headline figure.
struct Docs {
    name: String,
    shape: String,
    len: String,
    classes: String,
    madds: String,
    flops: String,
    params: String,
    stored: String,
    arena: String,
    arena_bytes: String,
    layers: String,
    report: String,
}

impl Docs {
    fn new(c: &Compiled) -> Self {
        let t = &c.totals;
        let paper_for = |m: crate::spec::Measure| {
            c.verdicts
                .iter()
                .find(|v| v.figure.group.is_none() && v.figure.measure == m)
                .map(|v| {
                    format!(
                        " The paper prints {} ({}).",
                        v.figure.printed.text,
                        c.spec.paper.as_ref().and_then(|p| p.source.clone()).unwrap_or_default()
                    )
                })
                .unwrap_or_default()
        };
        Docs {
            name: format!("Model name from the spec: `{}`.", c.spec.name),
            shape: format!("Image shape, height x width x channels: {}.", fmt_shape(c.plan.input)),
            len: format!(
                "{} values in one image: {}.",
                value_type(c.spec.precision),
                group_digits(c.plan.input.iter().product::<usize>() as i64)
            ),
            classes: format!("Number of classes: {}.", c.spec.classes),
            madds: format!(
                "Multiply-adds of one image, convolutions and fc (the paper's convention): {} ({}).{}",
                group_digits(t.total.mult_adds as i64),
                short(t.total.mult_adds),
                paper_for(crate::spec::Measure::MultAdds)
            ),
            flops: format!(
                "Floating-point operations of one image, two per multiply-add: {}.",
                group_digits(2 * t.total.mult_adds as i64)
            ),
            params: format!(
                "Weights, without biases and batch norm (the paper's convention): {} ({}).{}",
                group_digits(t.total.params as i64),
                short(t.total.params),
                paper_for(crate::spec::Measure::Params)
            ),
            stored: format!(
                "Numbers a weights file holds, batch norm and biases included: {}.",
                group_digits(t.total.stored as i64)
            ),
            arena: format!(
                "{} activations the forward pass uses, planned from the shapes: {}.",
                value_type(c.spec.precision),
                group_digits(t.arena_len() as i64)
            ),
            arena_bytes: format!(
                "Bytes of those activations: {} ({} per value).",
                group_digits(t.arena_bytes() as i64),
                c.spec.precision.bytes()
            ),
            layers: format!(
                "The {} layers after `repeat` and the multipliers, with shapes and costs.",
                c.plan.layers.len()
            ),
            report: "The Markdown cost report: every layer, the Table 2 breakdown, totals and the paper check."
                .to_string(),
        }
    }
}

/// The doc of every stand-in item.
pub(crate) const STUB_DOC: &str = "A stand-in: the spec did not compile (see the error).";

/// Each of a failed spec's problems as a `compile_error!` at `span`.
pub(crate) fn failure_errors(f: &Failed, span: Span) -> TokenStream {
    let mut errors = TokenStream::new();
    for d in &f.diagnostics {
        errors.extend(syn::Error::new(span, d.to_string()).to_compile_error());
    }
    errors
}

/// The constants of a failed spec's expansion: stand-ins with the right names and, where the
/// header was readable, the right sizes.
pub(crate) fn stub_consts(f: &Failed) -> Vec<Const> {
    let rt = runtime();
    // Sizes past the limits are left out: the stubs' constant arithmetic must not overflow.
    let [ih, iw, ic] = f
        .spec
        .as_ref()
        .and_then(Spec::scaled_input)
        .filter(|&[h, w, c]| h.max(w) <= crate::limits::MAX_SIDE && c <= crate::limits::MAX_CHANNELS)
        .unwrap_or_default()
        .map(lit);
    let classes = lit(f
        .spec
        .as_ref()
        .map_or(0, |s| s.classes)
        .min(crate::limits::MAX_CHANNELS));
    let stub = STUB_DOC;
    constants(|name| {
        let value = match name {
            "NAME" | "COST_REPORT" | "PAPER_SOURCE" => quote!(""),
            "INPUT_SHAPE" => quote!([#ih, #iw, #ic]),
            "INPUT_LEN" => quote!(#ih * #iw * #ic),
            "NUM_CLASSES" => quote!(#classes),
            "MULT_ADDS" | "FLOPS" | "PARAMS" | "STORED_PARAMS" => quote!(0),
            "ARENA_LEN" | "ARENA_BYTES" => quote!(0),
            "PRECISION" => quote!(#rt::Precision::Float32),
            "LAYERS" | "PAPER" => quote!(&[]),
            "PAPER_TOP1" => quote!(::core::option::Option::None),
            "PADDING" => quote!(#rt::Padding::Symmetric),
            "ACTIVATION" => quote!(#rt::Activation::Relu),
            "BN_EPS" => quote!(0.001),
            "OUTPUTS_PROBABILITIES" => quote!(true),
            other => unreachable!("constant {other} has no stub"),
        };
        (stub.to_owned(), value)
    })
}

/// What `mobilenet!` expands to when the spec is wrong: every error, spanned at the path
/// literal, and the same items as a good expansion over a stub network, so that uses of them
/// do not bury the real error.
pub fn generate_failure(f: &Failed, span: Span) -> TokenStream {
    let rt = runtime();
    let errors = failure_errors(f, span);
    let consts = stub_consts(f);
    let stub = STUB_DOC;
    let net_consts = net_consts();
    let net = quote! {
        /// A stand-in for the network that did not compile.
        pub struct Net;

        #[allow(unused_variables)]
        impl #rt::model::Net for Net {
            #net_consts
            type Params = ();

            fn read(reader: &mut #rt::weights::LayerReader<'_>) -> ::core::result::Result<(), #rt::WeightsError> {
                unreachable!("the spec did not compile")
            }

            fn write(params: &(), writer: &mut #rt::weights::LayerWriter<'_>) {
                unreachable!("the spec did not compile")
            }

            fn run<'a>(w: &(), arena: &'a mut [f32], team: &#rt::Team, input: &[f32], hook: &mut impl #rt::hooks::LayerHook) -> &'a [f32] {
                unreachable!("the spec did not compile")
            }
        }
    };
    let items = emit(&Items {
        track: track_files(&f.spec.as_ref().map(|s| s.files.clone()).unwrap_or_default()),
        quantized: false,
        consts,
        net,
        weights_doc: stub.to_owned(),
        model_doc: stub.to_owned(),
    });
    quote!(#errors #items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{mem, SMALL};
    use std::path::Path;

    /// The expansion of a small spec, pinned: a change in the generator shows up as a readable
    /// diff of `fixtures/small_expanded.rs`. Set `MOBILENET_BLESS=1` to accept a change.
    #[test]
    fn expansion_matches_golden_file() {
        let compiled = crate::compile::compile(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", SMALL)])).unwrap();
        let file: syn::File = syn::parse2(generate(&compiled)).expect("generated code parses");
        let text = prettyplease::unparse(&file);
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fixtures/small_expanded.rs");
        if std::env::var_os("MOBILENET_BLESS").is_some() {
            std::fs::write(&golden, &text).unwrap();
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            want == text,
            "generated code changed; review and bless with MOBILENET_BLESS=1:\n{text}"
        );
    }

    /// Shipped specs: the 0.25 classifier (1 MB) is prefetched from where the rest fits, the
    /// larger ones are not.
    #[test]
    fn fc_prefetch_starts_where_the_rest_fits() {
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
        let plan_of = |file: &str| {
            let c = crate::compile::compile(&specs.join(file), file, &crate::spec::Disk).unwrap();
            (c.plan.layers, c.totals.layers)
        };
        let (layers, costs) = plan_of("v1_alpha0.25_224.yaml");
        let (at, fc) = fc_prefetch(&layers, &costs).expect("0.25-224 prefetches its classifier");
        assert_eq!(layers[fc].row.kind, Kind::Fc);
        let bytes = |r: std::ops::Range<usize>| -> u64 { r.map(|i| footprint(&layers[i], &costs[i])).sum() };
        assert!(bytes(at..fc) <= PREFETCH_BUDGET && bytes(at - 1..fc) > PREFETCH_BUDGET);
        assert!(at > layers.len() / 2, "asks in the last layers only, at {at}");
        for big in ["v1_alpha0.5_160.yaml", "v1_alpha1_224.yaml"] {
            let (layers, costs) = plan_of(big);
            assert_eq!(fc_prefetch(&layers, &costs), None, "{big}");
        }
    }

    #[test]
    fn failure_stubs_parse_and_carry_every_error() {
        let failed =
            crate::compile::compile(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", "name: x\n")])).unwrap_err();
        let tokens = generate_failure(&failed, Span::call_site()).to_string();
        assert_eq!(tokens.matches("compile_error").count(), failed.diagnostics.len());
        syn::parse2::<syn::File>(generate_failure(&failed, Span::call_site())).expect("stubs parse");
    }

    /// The names a file's items define, with what kind of item each is; modules' contents
    /// included, as `module::name`.
    fn item_names(items: &[syn::Item], prefix: &str, out: &mut Vec<String>) {
        for item in items {
            let (kind, name) = match item {
                syn::Item::Const(i) => ("const", i.ident.to_string()),
                syn::Item::Struct(i) => ("struct", i.ident.to_string()),
                syn::Item::Type(i) => ("type", i.ident.to_string()),
                syn::Item::Fn(i) => ("fn", i.sig.ident.to_string()),
                syn::Item::Mod(i) => {
                    let name = format!("{prefix}{}", i.ident);
                    if let Some((_, inner)) = &i.content {
                        item_names(inner, &format!("{name}::"), out);
                    }
                    ("mod", i.ident.to_string())
                }
                syn::Item::Impl(i) => {
                    let ty = &i.self_ty;
                    let tr = i
                        .trait_
                        .as_ref()
                        .map(|(_, p, _)| quote!(#p).to_string())
                        .unwrap_or_default();
                    ("impl", format!("{tr} for {}", quote!(#ty)))
                }
                _ => continue,
            };
            out.push(format!("{kind} {prefix}{name}"));
        }
    }

    /// A failed spec expands to every item a good one defines, through the same emitter, so a
    /// user's code that names them reports only the spec's error.
    #[test]
    fn failure_stubs_define_every_item_of_a_good_expansion() {
        let good = crate::compile::compile(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", SMALL)])).unwrap();
        let failed =
            crate::compile::compile(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", "name: x\n")])).unwrap_err();
        let names = |tokens: TokenStream| {
            let file: syn::File = syn::parse2(tokens).expect("expansion parses");
            let mut names = Vec::new();
            item_names(&file.items, "", &mut names);
            names.sort();
            names
        };
        let (good, stub) = (
            names(generate(&good)),
            names(generate_failure(&failed, Span::call_site())),
        );
        // The stub network holds no parameters, so it has no `Params` struct.
        let good: Vec<_> = good.into_iter().filter(|n| n != "struct __mobilenet::Params").collect();
        assert_eq!(good, stub);
        for expected in [
            "type Weights",
            "type Model",
            "const LAYERS",
            "const OUTPUTS_PROBABILITIES",
        ] {
            assert!(stub.iter().any(|n| n == expected), "{expected} missing from {stub:?}");
        }
    }

    /// A quantized spec expands to the same items as a float one; only the network's trait
    /// (and so the types behind `Weights` and `Model`) differs.
    #[test]
    fn quantized_expansion_defines_the_same_items() {
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
        let expand = |file: &str| {
            let c = crate::compile::compile(&specs.join(file), file, &crate::spec::Disk).unwrap();
            let tokens = generate(&c);
            let file: syn::File = syn::parse2(tokens.clone()).expect("expansion parses");
            let mut names = Vec::new();
            item_names(&file.items, "", &mut names);
            names.sort();
            (names, tokens.to_string(), c)
        };
        let (float, _, _) = expand("tflite/v1_alpha0.25_224.yaml");
        let (quant, text, c) = expand("tflite/quant/v1_alpha0.25_224_quant.yaml");
        let normal = |names: Vec<String>| -> Vec<String> {
            // `const _` tracks each spec file read; the quantized spec reads one more.
            names
                .into_iter()
                .filter(|n| n != "const _")
                .map(|n| {
                    n.replace(
                        ":: mobilenet :: runtime :: quant :: QuantNet",
                        ":: mobilenet :: runtime :: model :: Net",
                    )
                })
                .collect()
        };
        assert_eq!(normal(quant), normal(float));
        assert!(text.contains("kernels :: i8 :: pointwise"), "calls the int8 kernels");
        assert!(text.contains("type Elem = u8"));
        // One byte per activation: the float model's arena in bytes is four times larger.
        assert_eq!(c.totals.arena_bytes(), c.totals.arena_len());
        assert_eq!(c.totals.total.stored, c.totals.total.params + c.totals.total.biases);
        assert!(c.report.contains("precision uint8") && c.report.contains("uint8 weights and int32 biases"));
    }
}
