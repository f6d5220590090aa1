//! The generator: reads a [`Compiled`] spec and writes the items `mobilenet!` expands to.
//! It decides nothing about the model; every number it writes was computed by an earlier stage.
//!
//! Generated code names the runtime as `::mobilenet::runtime`, the facade crate users depend on.

use crate::compile::{Compiled, Failed};
use crate::cost::Cost;
use crate::paper::group_digits;
use crate::report::short;
use crate::shapes::{fmt_shape, Layer};
use crate::spec::{Activation, Kind, Padding, Spec};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote};

fn lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

fn lit64(v: u64) -> Literal {
    Literal::u64_suffixed(v)
}

fn runtime() -> TokenStream {
    quote!(::mobilenet::runtime)
}

/// Keeps the compiler watching every spec file: proc macros are not re-run when a file they
/// read changes, but `include_bytes!` makes the file a dependency of the crate.
fn track_files(spec_files: &[std::path::PathBuf]) -> TokenStream {
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

/// PyTorch shape of a layer's weight tensor.
fn torch_shape(l: &Layer) -> Vec<usize> {
    let [kh, kw] = l.kernel;
    match l.row.kind {
        Kind::Conv => vec![l.output[2], l.input[2], kh, kw],
        Kind::ConvDw => vec![l.input[2], 1, kh, kw],
        Kind::Fc => vec![l.output[2], l.input[2]],
        Kind::AvgPool | Kind::Softmax => vec![],
    }
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

/// Everything `mobilenet!` expands to for a valid spec.
pub fn generate(c: &Compiled) -> TokenStream {
    let rt = runtime();
    let s = &c.spec;
    let t = &c.totals;
    let plan = &c.plan;
    let act = activation_code(s);
    let name = &s.name;
    let [ih, iw, ic] = plan.input;
    let input_len = lit(ih * iw * ic);
    let classes = lit(s.classes);
    let arena_len = lit(t.arena_len());
    let a_len = lit(t.arena[0]);
    let (madds, flops, params, stored) = (
        lit64(t.total.mult_adds),
        lit64(2 * t.total.mult_adds),
        lit64(t.total.params),
        lit64(t.total.stored),
    );
    let infos = plan.layers.iter().zip(&t.layers).map(|(l, c)| layer_info(l, c));
    let report = &c.report;
    let track = track_files(&s.files);
    let eps = s.bn_eps as f32;
    let padding = match s.padding {
        Padding::Symmetric => quote!(Symmetric),
        Padding::TfSame => quote!(TfSame),
    };
    let activation = match s.activation {
        Activation::Relu => quote!(Relu),
        Activation::Relu6 => quote!(Relu6),
    };
    let probabilities = plan.layers.last().is_some_and(|l| l.row.kind == Kind::Softmax);
    let output_doc = if probabilities {
        "class probabilities (the table ends with softmax)"
    } else {
        "logits (the table ends without softmax)"
    };
    let headline = format!(
        "`{name}`: {} image in, {} {output_doc}; {} mult-adds, {} parameters.",
        fmt_shape(plan.input),
        s.classes,
        short(t.total.mult_adds),
        short(t.total.params)
    );

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
    let field_names: Vec<_> = with_params.iter().map(|(i, _, _)| field(*i)).collect();
    let loads = with_params.iter().map(|(i, l, _)| {
        let f = field(*i);
        let prefix = &l.name;
        let weight_name = format!("{prefix}.weight");
        let shape = torch_shape(l).into_iter().map(lit);
        let read = match l.row.kind {
            Kind::Fc => quote!(reader.fc(#prefix, [#(#shape),*])?),
            _ => quote!(reader.conv_bn(#prefix, [#(#shape),*], #eps)?),
        };
        quote! {
            let folded = #read;
            let #f = #rt::kernels::Params::new(&folded.weight, &folded.bias)
                .ok_or_else(|| #rt::WeightsError::Pack { tensor: #weight_name.to_string() })?;
        }
    });
    let saves = with_params.iter().map(|(i, l, _)| {
        let f = field(*i);
        let prefix = &l.name;
        let shape = torch_shape(l).into_iter().map(lit);
        let (weight, bias) = (quote!(weight), quote!(bias));
        let unpack = quote!(let (#weight, #bias) = #rt::kernels::Params::unpack(&self.#f); let folded = #rt::weights::Folded { weight, bias };);
        match l.row.kind {
            Kind::Fc => quote!({ #unpack #rt::weights::insert_fc(&mut set, #prefix, [#(#shape),*], &folded); }),
            _ => quote!({ #unpack #rt::weights::insert_conv_bn(&mut set, #prefix, [#(#shape),*], &folded, #eps); }),
        }
    });

    // Layer i writes buffer i % 2 and reads the other; layer 0 reads the image.
    let call_at = |i: usize, l: &Layer| {
        let out = if i.is_multiple_of(2) {
            format_ident!("a")
        } else {
            format_ident!("b")
        };
        let src = match i {
            0 => quote!(&input[..]),
            _ if i.is_multiple_of(2) => quote!(&*b),
            _ => quote!(&*a),
        };
        (kernel_call(l, i, act, &src, &quote!(&mut *#out)), out)
    };
    let prefetch = fc_prefetch(&plan.layers, &t.layers);
    let calls = plan.layers.iter().enumerate().map(|(i, l)| {
        let (call, out) = call_at(i, l);
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
    let last = plan.layers.len().saturating_sub(1);
    let result = if last.is_multiple_of(2) { quote!(a) } else { quote!(b) };
    let nlayers = lit(plan.layers.len());

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
    let paper_source = s.paper.as_ref().and_then(|p| p.source.clone()).unwrap_or_default();
    let paper_top1 = match s.paper.as_ref().and_then(|p| p.top1) {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    let docs = Docs::new(c);
    let (d_name, d_shape, d_len, d_classes, d_madds, d_flops, d_params, d_stored, d_arena, d_layers, d_report) = (
        docs.name,
        docs.shape,
        docs.len,
        docs.classes,
        docs.madds,
        docs.flops,
        docs.params,
        docs.stored,
        docs.arena,
        docs.layers,
        docs.report,
    );
    let weights_doc = format!("The parameters of {headline}\n\nBatch norm is folded into the convolutions and every layer is packed for its kernel when the weights are loaded. Share them between models with an `Arc`.");
    let model_doc = format!("{headline}\n\nOwns {} f32 activations (`ARENA_LEN`), allocated once by [`Model::new`]; `forward` allocates nothing.", group_digits(t.arena_len() as i64));

    quote! {
        #track
        #[doc = #d_name] pub const NAME: &str = #name;
        #[doc = #d_shape] pub const INPUT_SHAPE: [usize; 3] = [#ih, #iw, #ic];
        #[doc = #d_len] pub const INPUT_LEN: usize = #input_len;
        #[doc = #d_classes] pub const NUM_CLASSES: usize = #classes;
        #[doc = #d_madds] pub const MULT_ADDS: u64 = #madds;
        #[doc = #d_flops] pub const FLOPS: u64 = #flops;
        #[doc = #d_params] pub const PARAMS: u64 = #params;
        #[doc = #d_stored] pub const STORED_PARAMS: u64 = #stored;
        #[doc = #d_arena] pub const ARENA_LEN: usize = #arena_len;
        #[doc = #d_layers] pub const LAYERS: &[#rt::LayerInfo] = &[#(#infos),*];
        #[doc = #d_report] pub const COST_REPORT: &str = #report;
        /// The paper's figures this spec quotes, each with the count it was checked against.
        pub const PAPER: &[#rt::PaperFigure] = &[#(#figures),*];
        /// Where in the paper `PAPER`'s figures are printed (`""` if the spec quotes none).
        pub const PAPER_SOURCE: &str = #paper_source;
        /// ImageNet top-1 accuracy the paper reports for this model, if the spec quotes it.
        pub const PAPER_TOP1: ::core::option::Option<f64> = #paper_top1;
        /// Padding convention of every convolution.
        pub const PADDING: #rt::Padding = #rt::Padding::#padding;
        /// Activation after every batch-normalised convolution.
        pub const ACTIVATION: #rt::Activation = #rt::Activation::#activation;
        /// Batch-norm epsilon used when folding.
        pub const BN_EPS: f32 = #eps;
        /// Whether `forward` returns probabilities (the table ends with softmax) or logits.
        pub const OUTPUTS_PROBABILITIES: bool = #probabilities;

        #[doc = #weights_doc]
        pub struct Weights { #(#fields)* }

        impl Weights {
            /// Builds the weights from named tensors (PyTorch layouts; see the README for names).
            ///
            /// # Errors
            /// A missing or unexpected tensor, a wrong shape, or a non-finite value, named.
            pub fn from_tensors(set: &#rt::weights::TensorSet) -> ::core::result::Result<Self, #rt::WeightsError> {
                let mut reader = #rt::weights::TensorReader::new(set);
                #(#loads)*
                reader.finish()?;
                Ok(Self { #(#field_names),* })
            }

            /// Parses a safetensors file's bytes (f32, f16 or bf16 tensors).
            ///
            /// # Errors
            /// As [`Weights::from_tensors`], and for bytes that are not a safetensors file.
            pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, #rt::WeightsError> {
                Self::from_tensors(&#rt::weights::TensorSet::from_safetensors(bytes)?)
            }

            /// Reads a float32 TensorFlow Lite model (a `.tflite` file's bytes), checking every
            /// operator against this model's table: kernel, stride, padding, fused activation and
            /// tensor shapes. Batch norm is already folded into the file's biases.
            ///
            /// # Errors
            /// Bytes that are not TFLite, a quantized model, or an operator that does not fit the
            /// table: each names the operator, its type and tensor, and both sides.
            pub fn from_tflite(bytes: &[u8]) -> ::core::result::Result<Self, #rt::WeightsError> {
                Self::from_tensors(&#rt::weights::tflite::tensors_from_tflite(bytes, LAYERS, PADDING, ACTIVATION, BN_EPS)?)
            }

            /// Reads either format, told apart by content: TFLite files carry the identifier
            /// `TFL3`, anything else is read as safetensors.
            ///
            /// # Errors
            /// As [`Weights::from_tflite`] or [`Weights::from_safetensors`].
            pub fn from_bytes(bytes: &[u8]) -> ::core::result::Result<Self, #rt::WeightsError> {
                match #rt::weights::WeightsFormat::detect(bytes, ::core::option::Option::None) {
                    #rt::weights::WeightsFormat::Tflite => Self::from_tflite(bytes),
                    #rt::weights::WeightsFormat::Safetensors => Self::from_safetensors(bytes),
                }
            }

            /// Loads weights compiled into the binary (`include_bytes!`), in either format.
            ///
            /// # Errors
            /// As [`Weights::from_bytes`].
            pub fn from_static(bytes: &'static [u8]) -> ::core::result::Result<Self, #rt::WeightsError> {
                Self::from_bytes(bytes)
            }

            /// Reads a weights file: TFLite when the content (or, failing that, a `.tflite`
            /// extension) says so, safetensors otherwise.
            ///
            /// # Errors
            /// An unreadable file (named), and as [`Weights::from_bytes`].
            pub fn load(path: impl AsRef<::std::path::Path>) -> ::core::result::Result<Self, #rt::WeightsError> {
                let path = path.as_ref();
                let bytes = #rt::weights::read_file(path)?;
                match #rt::weights::WeightsFormat::detect(&bytes, ::core::option::Option::Some(path)) {
                    #rt::weights::WeightsFormat::Tflite => Self::from_tflite(&bytes),
                    #rt::weights::WeightsFormat::Safetensors => Self::from_safetensors(&bytes),
                }
            }

            /// Deterministic He-initialised weights (with non-trivial batch norm) for demos, tests
            /// and benchmarks: the same seed gives the same weights on every machine.
            pub fn random(seed: u64) -> Self {
                match Self::from_tensors(&#rt::weights::random_tensors(LAYERS, seed)) {
                    Ok(w) => w,
                    Err(e) => unreachable!("random weights were refused, a bug in mobilenet-runtime: {e}"),
                }
            }

            /// The weights as named tensors. Batch norm stays folded: each convolution's BN is written as
            /// the identity for `BN_EPS`, so loading the result gives this model back to f32 rounding.
            pub fn to_tensors(&self) -> #rt::weights::TensorSet {
                let mut set = #rt::weights::TensorSet::new();
                #(#saves)*
                set
            }

            /// Writes [`Weights::to_tensors`] as a safetensors file.
            ///
            /// # Errors
            /// If the file cannot be written (named).
            pub fn save_safetensors(&self, path: impl AsRef<::std::path::Path>) -> ::core::result::Result<(), #rt::WeightsError> {
                #rt::weights::write_file(path.as_ref(), &self.to_tensors().to_safetensors()?)
            }
        }

        #[doc = #model_doc]
        pub struct Model {
            weights: ::std::sync::Arc<Weights>,
            arena: #rt::aligned::AlignedBuf,
            team: #rt::Team,
            spare: #rt::interop::Arenas,
        }

        impl ::core::clone::Clone for Model {
            /// Shares the weights, allocates a fresh activation arena and starts as many
            /// threads as this model runs on (one, if the system refuses to start them).
            fn clone(&self) -> Self {
                let mut m = Self::new(::std::sync::Arc::clone(&self.weights));
                if m.set_threads(self.threads()).is_err() {
                    m.team = #rt::Team::single();
                }
                m
            }
        }

        impl Model {
            /// A model over `weights` (an owned [`Weights`] or a shared `Arc<Weights>`), with its
            /// activation arena allocated once, here. It runs on the calling thread; see
            /// [`Model::set_threads`].
            ///
            /// # Panics
            /// If the system refuses the arena's memory; [`Model::try_new`] returns that as an error.
            pub fn new(weights: impl Into<::std::sync::Arc<Weights>>) -> Self {
                match Self::try_new(weights) {
                    Ok(m) => m,
                    Err(e) => panic!("{e}; Model::try_new reports this as an error"),
                }
            }

            /// [`Model::new`], but a refused allocation of the arena is an error rather than a panic.
            ///
            /// # Errors
            /// If the system cannot give the arena's `ARENA_LEN` floats.
            pub fn try_new(weights: impl Into<::std::sync::Arc<Weights>>) -> ::core::result::Result<Self, #rt::aligned::AllocError> {
                Ok(Self {
                    weights: weights.into(),
                    arena: #rt::aligned::AlignedBuf::try_zeroed(ARENA_LEN)?,
                    team: #rt::Team::single(),
                    spare: #rt::interop::Arenas::default(),
                })
            }

            /// Splits every large layer of [`Model::forward`] over `threads` threads: the calling
            /// thread and `threads - 1` workers that this model starts now and owns (they spin
            /// briefly after each layer, then sleep). [`Model::predict_batch`] runs its
            /// images on the same threads, each taking the next image not yet taken and, when none is
            /// left, helping the others finish theirs. `1` (the
            /// default) runs everything on the caller.
            ///
            /// # Errors
            /// If the system refuses to start a thread; the model then keeps its old threads.
            pub fn set_threads(&mut self, threads: usize) -> ::std::io::Result<()> {
                self.team = #rt::Team::new(threads)?;
                Ok(())
            }

            /// [`Model::set_threads`], by value.
            ///
            /// # Errors
            /// As [`Model::set_threads`].
            pub fn with_threads(mut self, threads: usize) -> ::std::io::Result<Self> {
                self.set_threads(threads)?;
                Ok(self)
            }

            /// The number of threads this model splits its work over (the caller included).
            pub fn threads(&self) -> usize {
                self.team.threads()
            }

            /// The weights this model runs.
            pub fn weights(&self) -> &::std::sync::Arc<Weights> {
                &self.weights
            }

            /// Runs the network on one H x W x C image (row-major HWC, `INPUT_SHAPE`) and returns
            #[doc = #output_doc]
            /// Allocates nothing.
            pub fn forward(&mut self, input: &[f32; INPUT_LEN]) -> &[f32; NUM_CLASSES] {
                self.forward_with(input, &mut #rt::hooks::NoHook)
            }

            /// [`Model::forward`], adding each layer's wall time to `times[layer]` (for profiling).
            pub fn forward_timed(&mut self, input: &[f32; INPUT_LEN], times: &mut [::std::time::Duration; #nlayers]) -> &[f32; NUM_CLASSES] {
                self.forward_with(input, &mut #rt::hooks::LayerTimer::new(times))
            }

            /// [`Model::forward`], handing each layer's output (H x W x C, NHWC) to `each` as it is
            /// computed: for checking a layer against a reference, or looking inside the network.
            pub fn forward_inspect(&mut self, input: &[f32; INPUT_LEN], each: impl FnMut(usize, &[f32])) -> &[f32; NUM_CLASSES] {
                self.forward_with(input, &mut #rt::hooks::Inspect(each))
            }

            #[inline(always)]
            fn forward_with(&mut self, input: &[f32; INPUT_LEN], hook: &mut impl #rt::hooks::LayerHook) -> &[f32; NUM_CLASSES] {
                Self::layers(&self.weights, &mut self.arena, &self.team, input, hook)
            }

            /// The one body of every forward pass: each layer's kernel call with literal shapes,
            /// between the hook's `before` and `after`, in `arena` (`ARENA_LEN` floats), split
            /// over `team`.
            #[inline(always)]
            fn layers<'a>(w: &Weights, arena: &'a mut [f32], team: &#rt::Team, input: &[f32; INPUT_LEN], hook: &mut impl #rt::hooks::LayerHook) -> &'a [f32; NUM_CLASSES] {
                let (a, b) = arena.split_at_mut(#a_len);
                #(#calls)*
                #rt::interop::array_ref::<NUM_CLASSES>(#result)
            }

            /// Classifies one image given as an H x W x C ndarray view (any strides).
            ///
            /// # Errors
            /// If the view's shape is not `INPUT_SHAPE`.
            pub fn predict(&mut self, image: #rt::ndarray::ArrayView3<'_, f32>) -> ::core::result::Result<#rt::ndarray::Array1<f32>, #rt::interop::InputError> {
                #rt::interop::predict(self, image)
            }

            /// Classifies a batch of N x H x W x C images, spreading them over the model's
            /// threads ([`Model::set_threads`]): each thread runs the next image not yet taken, and
            /// helps with the others' layers once none is left. The threads' activation
            /// arenas are kept for the next call.
            ///
            /// # Errors
            /// If the images' shape is not N x `INPUT_SHAPE`, N is 0, or the threads' arenas
            /// cannot be allocated.
            pub fn predict_batch(&self, images: #rt::ndarray::ArrayView4<'_, f32>) -> ::core::result::Result<#rt::ndarray::Array2<f32>, #rt::interop::InputError> {
                #rt::interop::predict_batch(self, images)
            }
        }

        impl #rt::interop::Network for Model {
            const INPUT_SHAPE: [usize; 3] = INPUT_SHAPE;
            const NUM_CLASSES: usize = NUM_CLASSES;
            const ARENA_LEN: usize = ARENA_LEN;
            fn run(&mut self, input: &[f32], output: &mut [f32]) {
                let input: &[f32; INPUT_LEN] = #rt::interop::array_ref::<INPUT_LEN>(input);
                output[..NUM_CLASSES].copy_from_slice(self.forward(input));
            }
            fn run_in(&self, arena: &mut [f32], team: &#rt::Team, input: &[f32], output: &mut [f32]) {
                let input: &[f32; INPUT_LEN] = #rt::interop::array_ref::<INPUT_LEN>(input);
                let out = Self::layers(&self.weights, arena, team, input, &mut #rt::hooks::NoHook);
                output[..NUM_CLASSES].copy_from_slice(out);
            }
            fn team(&self) -> &#rt::Team {
                &self.team
            }
            fn spare_arenas(&self) -> &#rt::interop::Arenas {
                &self.spare
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
                "f32 values in one image: {}.",
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
                "f32 activations the forward pass uses, planned from the shapes: {}.",
                group_digits(t.arena_len() as i64)
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

/// What `mobilenet!` expands to when the spec is wrong: every error, spanned at the path
/// literal, and stubs of the items so that uses of them do not bury the real error.
pub fn generate_failure(f: &Failed, span: Span) -> TokenStream {
    let rt = runtime();
    let mut errors = TokenStream::new();
    for d in &f.diagnostics {
        errors.extend(syn::Error::new(span, d.to_string()).to_compile_error());
    }
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
    let track = track_files(&f.spec.as_ref().map(|s| s.files.clone()).unwrap_or_default());
    quote! {
        #errors
        #track
        pub const NAME: &str = "";
        pub const INPUT_SHAPE: [usize; 3] = [#ih, #iw, #ic];
        pub const INPUT_LEN: usize = #ih * #iw * #ic;
        pub const NUM_CLASSES: usize = #classes;
        pub const MULT_ADDS: u64 = 0;
        pub const FLOPS: u64 = 0;
        pub const PARAMS: u64 = 0;
        pub const STORED_PARAMS: u64 = 0;
        pub const ARENA_LEN: usize = 0;
        pub const LAYERS: &[#rt::LayerInfo] = &[];
        pub const COST_REPORT: &str = "";
        pub const PAPER: &[#rt::PaperFigure] = &[];
        pub const PAPER_SOURCE: &str = "";
        pub const PAPER_TOP1: ::core::option::Option<f64> = ::core::option::Option::None;
        pub const OUTPUTS_PROBABILITIES: bool = true;
        pub struct Weights;
        #[allow(unused_variables)]
        impl Weights {
            pub fn from_tensors(set: &#rt::weights::TensorSet) -> ::core::result::Result<Self, #rt::WeightsError> { unreachable!() }
            pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, #rt::WeightsError> { unreachable!() }
            pub fn from_tflite(bytes: &[u8]) -> ::core::result::Result<Self, #rt::WeightsError> { unreachable!() }
            pub fn from_bytes(bytes: &[u8]) -> ::core::result::Result<Self, #rt::WeightsError> { unreachable!() }
            pub fn from_static(bytes: &'static [u8]) -> ::core::result::Result<Self, #rt::WeightsError> { unreachable!() }
            pub fn load(path: impl AsRef<::std::path::Path>) -> ::core::result::Result<Self, #rt::WeightsError> { unreachable!() }
            pub fn random(seed: u64) -> Self { unreachable!() }
            pub fn to_tensors(&self) -> #rt::weights::TensorSet { unreachable!() }
            pub fn save_safetensors(&self, path: impl AsRef<::std::path::Path>) -> ::core::result::Result<(), #rt::WeightsError> { unreachable!() }
        }
        pub struct Model;
        #[allow(unused_variables)]
        impl Model {
            pub fn new(weights: impl Into<::std::sync::Arc<Weights>>) -> Self { unreachable!() }
            pub fn try_new(weights: impl Into<::std::sync::Arc<Weights>>) -> ::core::result::Result<Self, #rt::aligned::AllocError> { unreachable!() }
            pub fn set_threads(&mut self, threads: usize) -> ::std::io::Result<()> { unreachable!() }
            pub fn with_threads(self, threads: usize) -> ::std::io::Result<Self> { unreachable!() }
            pub fn threads(&self) -> usize { unreachable!() }
            pub fn forward(&mut self, input: &[f32; INPUT_LEN]) -> &[f32; NUM_CLASSES] { unreachable!() }
            pub fn predict(&mut self, image: #rt::ndarray::ArrayView3<'_, f32>) -> ::core::result::Result<#rt::ndarray::Array1<f32>, #rt::interop::InputError> { unreachable!() }
            pub fn predict_batch(&self, images: #rt::ndarray::ArrayView4<'_, f32>) -> ::core::result::Result<#rt::ndarray::Array2<f32>, #rt::interop::InputError> { unreachable!() }
        }
    }
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
        assert!(tokens.contains("pub struct Model"));
        syn::parse2::<syn::File>(generate_failure(&failed, Span::call_site())).expect("stubs parse");
    }
}
