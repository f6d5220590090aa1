//! The front end: reads a spec file (and the files it `extends`) into a typed [`Spec`], with
//! every row expanded from `repeat` and every value checked for its own well-formedness.
//!
//! Whether rows fit together is the business of `shapes`; whether the paper's figures hold is
//! the business of `paper`. This module only knows the file format.

use crate::diagnostics::{Diagnostic, Diagnostics, Loc};
use crate::limits::{MAX_FILE_BYTES, MAX_REPEAT, MAX_ROWS};
use crate::symbol::{kind, paper as pkey, row as rkey, top, value};
use crate::yaml::{self, Node, Value};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What a row computes (mirrors `mobilenet_runtime::LayerKind`; the macro cannot link the
/// runtime, so the two are kept in step by the generated code's use of the runtime's names).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Standard convolution.
    Conv,
    /// Depthwise convolution.
    ConvDw,
    /// Average pooling.
    AvgPool,
    /// Fully connected.
    Fc,
    /// Softmax.
    Softmax,
}

impl Kind {
    /// The spec's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Conv => kind::CONV,
            Kind::ConvDw => kind::CONV_DW,
            Kind::AvgPool => kind::AVG_POOL,
            Kind::Fc => kind::FC,
            Kind::Softmax => kind::SOFTMAX,
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            kind::CONV => Kind::Conv,
            kind::CONV_DW => Kind::ConvDw,
            kind::AVG_POOL => Kind::AvgPool,
            kind::FC => Kind::Fc,
            kind::SOFTMAX => Kind::Softmax,
            _ => return None,
        })
    }

    /// How many numbers `filter` holds for this kind, and what they mean.
    pub fn filter_arity(self) -> (usize, &'static str) {
        match self {
            Kind::Conv => (4, "[kh, kw, cin, cout]"),
            Kind::ConvDw => (3, "[kh, kw, channels]"),
            Kind::AvgPool => (2, "[kh, kw]"),
            Kind::Fc => (2, "[in, out]"),
            Kind::Softmax => (0, "no filter"),
        }
    }
}

/// How convolutions pad.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Padding {
    /// `(k - 1) / 2` zeros each side (PyTorch, timm).
    Symmetric,
    /// TensorFlow SAME.
    TfSame,
}

/// The activation after every batch norm.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// min(max(x, 0), 6)
    Relu6,
}

/// The number type the forward pass computes in, which fixes the arena's element size and the
/// type of the model's input and output.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Precision {
    /// f32 throughout (the default).
    Float32,
    /// TensorFlow Lite's int8 scheme: int8 activations, int8 weights with one scale per
    /// output channel and zero point 0, int32 biases.
    Int8,
    /// TensorFlow Lite's older uint8 scheme: uint8 activations and weights, one scale and zero
    /// point per tensor, int32 biases.
    Uint8,
}

impl Precision {
    /// Bytes of one activation.
    pub fn bytes(self) -> usize {
        match self {
            Precision::Float32 => 4,
            Precision::Int8 | Precision::Uint8 => 1,
        }
    }

    /// How specs and messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Int8 => "int8",
            Precision::Uint8 => "uint8",
        }
    }

    /// Whether the model is integer-quantized.
    pub fn is_quantized(self) -> bool {
        self != Precision::Float32
    }
}

/// One row of the table after `repeat` expansion, as written (table units).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The row's number as a reader finds it in the file: `17`, or `14.2` inside a repeat.
    pub number: String,
    /// 0-based position in the expanded table (tensor names use it).
    pub index: usize,
    /// What it computes.
    pub kind: Kind,
    /// Spatial stride.
    pub stride: usize,
    /// The filter numbers as written (arity already checked against the kind).
    pub filter: Vec<usize>,
    /// The declared input shape, if the row declares one.
    pub input: Option<[usize; 3]>,
    /// A custom tensor-name prefix.
    pub name: Option<String>,
    /// Where the row starts.
    pub loc: Loc,
}

impl Row {
    /// `row 17 (conv_dw, stride 2)`: how messages name a row.
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Softmax => format!("row {} (softmax)", self.number),
            k => format!("row {} ({}, stride {})", self.number, k.as_str(), self.stride),
        }
    }
}

/// Which total a paper figure states.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Multiply-adds.
    MultAdds,
    /// Parameters (weights only).
    Params,
}

impl Measure {
    /// Spelling in specs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::MultAdds => "mult-adds",
            Measure::Params => "parameters",
        }
    }
}

/// A number as the paper prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct Printed {
    /// The text as written in the spec (`569M`, `1.19%`).
    pub text: String,
    /// Its value in plain units (569e6) or percent (1.19).
    pub value: f64,
    /// One unit of the last printed digit, in the same units (1e6 for `569M`).
    pub last_digit: f64,
}

/// One figure of the paper that the count is checked against.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Which total.
    pub measure: Measure,
    /// `None` for a model total; `Some("conv_1x1")` for a share of the total by layer type.
    pub group: Option<String>,
    /// What the paper prints.
    pub printed: Printed,
    /// An explicit allowance replacing "one unit of the last digit".
    pub tolerance: Option<Printed>,
    /// Why the figure needs the allowance (shown in the report).
    pub note: Option<String>,
    /// Where the figure is written.
    pub loc: Loc,
}

/// The `paper:` section.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Paper {
    /// Where the figures are printed (`Table 6`).
    pub source: Option<String>,
    /// ImageNet top-1 accuracy, informational.
    pub top1: Option<f64>,
    /// Every figure to check.
    pub figures: Vec<Figure>,
}

/// A whole spec, with `extends` resolved and `repeat` expanded.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Model name.
    pub name: String,
    /// Image shape in table units, H x W x C.
    pub input: [usize; 3],
    /// Where `input` is written.
    pub input_loc: Loc,
    /// Number of classes the model outputs: the last fc row's width after the multipliers.
    pub classes: usize,
    /// Where `classes` is written.
    pub classes_loc: Loc,
    /// The class count the rows are written for: `classes` of the file that wrote `layers`
    /// (or of an ancestor of it). An extending spec that sets another `classes` changes the
    /// classifier's width the way `width_multiplier` changes the others: after the table has
    /// been checked as written.
    pub table_classes: usize,
    /// Where `table_classes` is written.
    pub table_classes_loc: Loc,
    /// Width multiplier alpha.
    pub alpha: f64,
    /// Where alpha is written (or the file's start when defaulted).
    pub alpha_loc: Loc,
    /// Square input size after the resolution multiplier.
    pub resolution: usize,
    /// Where the resolution is written (or the file's start when defaulted).
    pub resolution_loc: Loc,
    /// Padding convention.
    pub padding: Padding,
    /// Activation.
    pub activation: Activation,
    /// Batch-norm epsilon.
    pub bn_eps: f64,
    /// The number type of the forward pass.
    pub precision: Precision,
    /// Where `precision` is written (or the file's start when defaulted).
    pub precision_loc: Loc,
    /// Every row, expanded.
    pub rows: Vec<Row>,
    /// The figures to check, if any.
    pub paper: Option<Paper>,
    /// Every file read, for the compiler to track (the spec first).
    pub files: Vec<PathBuf>,
}

impl Spec {
    /// The image shape at `resolution` (H x W x C; the width keeps the table's aspect ratio),
    /// or `None` when the width would not be a whole number of pixels.
    pub fn scaled_input(&self) -> Option<[usize; 3]> {
        let [h, w, c] = self.input;
        let scaled = self.resolution.checked_mul(w)?;
        scaled.is_multiple_of(h).then(|| [self.resolution, scaled / h, c])
    }
}

/// How the front end reads files, so tests can run without a disk.
pub trait SourceFiles {
    /// The file's text.
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// Reads from the real file system.
pub struct Disk;

impl SourceFiles for Disk {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        // Refused before reading, so that a spec path naming a huge file costs no memory.
        let len = std::fs::metadata(path)?.len();
        if len > MAX_FILE_BYTES as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the file is {len} bytes, above the limit of {MAX_FILE_BYTES} for a spec"),
            ));
        }
        std::fs::read_to_string(path)
    }
}

/// Top-level keys of one file with the file they came from.
struct Layered {
    entries: Vec<(String, Node, Loc)>,
    /// `classes` as the file that wrote `layers` has it, when a descendant without `layers`
    /// set another value (see [`Spec::table_classes`]).
    table_classes: Option<(Node, Loc)>,
}

impl Layered {
    fn get(&self, key: &str) -> Option<(&Node, &Loc)> {
        self.entries.iter().find(|(k, _, _)| k == key).map(|(_, n, l)| (n, l))
    }
}

/// Reads the spec at `path` (shown in messages as `display`), with its parents.
pub fn load(path: &Path, display: &str, files: &dyn SourceFiles) -> Result<Spec, Vec<Diagnostic>> {
    let mut ds = Diagnostics::new();
    let mut read = Vec::new();
    let layered = load_layers(path, display, files, &mut Vec::new(), &mut read, &mut ds);
    let spec = layered.and_then(|l| build(&l, read, &mut ds));
    let unread = || vec![Diagnostic::global(format!("{display}: the spec could not be read"))];
    ds.into_result(spec)?.ok_or_else(unread)
}

fn loc_of(file: &Rc<str>, node: &Node) -> Loc {
    Loc {
        file: file.clone(),
        pos: node.pos,
    }
}

/// Reads one file and, through `extends`, its ancestors; merges their top-level keys.
fn load_layers(
    path: &Path,
    display: &str,
    files: &dyn SourceFiles,
    chain: &mut Vec<PathBuf>,
    read: &mut Vec<PathBuf>,
    ds: &mut Diagnostics,
) -> Option<Layered> {
    let file: Rc<str> = display.into();
    let text = match files.read(path) {
        Ok(t) => t,
        Err(e) => {
            ds.push(
                Diagnostic::global(format!("cannot read spec file {display}: {e} (looked at {})", path.display()))
                    .hint("spec paths are relative to the crate's Cargo.toml folder, or to the source file that calls mobilenet!"),
            );
            return None;
        }
    };
    read.push(path.to_path_buf());
    if text.len() > MAX_FILE_BYTES {
        let start = Loc {
            file,
            pos: yaml::Pos { line: 1, col: 1 },
        };
        ds.push(crate::diagnostics::over_limit(
            &start,
            "the spec file's size in bytes,",
            text.len(),
            MAX_FILE_BYTES,
        ));
        return None;
    }
    let root = match yaml::parse(&text) {
        Ok(n) => n,
        Err(e) => {
            ds.push(Diagnostic::at(
                &Loc { file, pos: e.pos },
                format!("YAML syntax error: {}", e.message),
            ));
            return None;
        }
    };
    let Value::Map(entries) = root.value else {
        ds.push(Diagnostic::at(
            &loc_of(&file, &root),
            format!(
                "a spec is a mapping of keys (name, input, layers, ...), found {}",
                root.describe()
            ),
        ));
        return None;
    };
    let mut own = Vec::new();
    for (k, v) in entries {
        let key_loc = loc_of(&file, &k);
        let Some(key) = k.as_scalar() else {
            ds.push(Diagnostic::at(&key_loc, "a key must be a plain word"));
            continue;
        };
        if !top::ALL.contains(&key) {
            ds.push(unknown_key(&key_loc, key, "spec", top::ALL));
            continue;
        }
        if own.iter().any(|(o, _, _): &(String, Node, Loc)| o == key) {
            ds.push(Diagnostic::at(&key_loc, format!("`{key}` is set twice")));
            continue;
        }
        own.push((key.to_string(), v, key_loc));
    }
    let mut layered = Layered {
        entries: own,
        table_classes: None,
    };
    if let Some((node, loc)) = layered.get(top::EXTENDS) {
        let (node, loc) = (node.clone(), loc.clone());
        let Some(parent) = node.as_scalar().filter(|s| !s.is_empty()) else {
            ds.push(Diagnostic::at(
                &loc,
                format!("`extends` takes a file name, found {}", node.describe()),
            ));
            return Some(layered);
        };
        let parent_path = path.parent().unwrap_or(Path::new("")).join(parent);
        let parent_display = match Path::new(display).parent() {
            Some(d) if !d.as_os_str().is_empty() => format!("{}/{parent}", d.display()),
            _ => parent.to_string(),
        };
        let canon = std::fs::canonicalize(&parent_path).unwrap_or_else(|_| parent_path.clone());
        let me = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        chain.push(me);
        if chain.contains(&canon) {
            let names: Vec<String> = chain
                .iter()
                .chain(std::iter::once(&canon))
                .map(|p| {
                    p.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            ds.push(Diagnostic::at(
                &loc,
                format!("`extends` makes a cycle: {}", names.join(" -> ")),
            ));
            chain.pop();
            // Without its parent the spec lacks keys; saying so would only repeat this error.
            return None;
        }
        let parent_layers = load_layers(&parent_path, &parent_display, files, chain, read, ds);
        chain.pop();
        let parent_layers = parent_layers?;
        // Rows inherited from the parent were written for the parent's class count; a file
        // that restates `layers` writes its rows for its own.
        if layered.get(top::LAYERS).is_none() {
            layered.table_classes = parent_layers
                .table_classes
                .clone()
                .or_else(|| parent_layers.get(top::CLASSES).map(|(n, l)| (n.clone(), l.clone())));
        }
        for (key, node, ploc) in parent_layers.entries {
            // A parent's figures describe the parent only: a variant must state its own.
            if key == top::PAPER || key == top::EXTENDS {
                continue;
            }
            if layered.get(&key).is_none() {
                layered.entries.push((key, node, ploc));
            }
        }
    }
    Some(layered)
}

fn unknown_key(loc: &Loc, key: &str, what: &str, known: &[&str]) -> Diagnostic {
    let d = Diagnostic::at(loc, format!("unknown key `{key}` in {what}"));
    match closest(key, known) {
        Some(s) => d.hint(format!("did you mean `{s}`? (known keys: {})", known.join(", "))),
        None => d.hint(format!("known keys: {}", known.join(", "))),
    }
}

/// The known word nearest to a misspelling, if any is near enough to be what was meant.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Reads a whole number (sizes, strides, counts).
fn whole(node: &Node, loc: &Loc, what: &str, ds: &mut Diagnostics) -> Option<usize> {
    match &node.value {
        Value::Scalar { text, quoted: false } if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            match text.parse::<usize>() {
                Ok(v) => Some(v),
                Err(_) => {
                    ds.push(Diagnostic::at(loc, format!("{what} `{text}` is too large")));
                    None
                }
            }
        }
        _ => {
            ds.push(Diagnostic::at(
                loc,
                format!("{what} must be a whole number, found {}", node.describe()),
            ));
            None
        }
    }
}

/// Reads a list of exactly `n` positive whole numbers (None when `n` is unconstrained = 0).
fn dims(node: &Node, loc: &Loc, what: &str, n: usize, meaning: &str, ds: &mut Diagnostics) -> Option<Vec<usize>> {
    let Value::Seq(items) = &node.value else {
        ds.push(Diagnostic::at(
            loc,
            format!("{what} must be a list {meaning}, found {}", node.describe()),
        ));
        return None;
    };
    if items.len() != n {
        ds.push(Diagnostic::at(
            loc,
            format!("{what} must have {n} numbers {meaning}, found {}", items.len()),
        ));
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut ok = true;
    for item in items {
        match whole(item, loc, what, ds) {
            Some(0) => {
                ds.push(Diagnostic::at(
                    loc,
                    format!("{what} has a zero size: every size must be at least 1"),
                ));
                ok = false;
            }
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn text<'n>(node: &'n Node, loc: &Loc, what: &str, ds: &mut Diagnostics) -> Option<&'n str> {
    match node.as_scalar() {
        Some(s) if !s.is_empty() => Some(s),
        _ => {
            ds.push(Diagnostic::at(
                loc,
                format!("{what} must be text, found {}", node.describe()),
            ));
            None
        }
    }
}

fn real(node: &Node, loc: &Loc, what: &str, ds: &mut Diagnostics) -> Option<f64> {
    match &node.value {
        Value::Scalar { text, quoted: false } => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                ds.push(Diagnostic::at(loc, format!("{what} must be a number, found `{text}`")));
                None
            }
        },
        _ => {
            ds.push(Diagnostic::at(
                loc,
                format!("{what} must be a number, found {}", node.describe()),
            ));
            None
        }
    }
}

fn build(l: &Layered, files: Vec<PathBuf>, ds: &mut Diagnostics) -> Option<Spec> {
    let root_loc = l.entries.first().map(|(_, _, loc)| Loc {
        file: loc.file.clone(),
        pos: crate::yaml::Pos { line: 1, col: 1 },
    })?;
    let required = |key: &str, ds: &mut Diagnostics| {
        let found = l.get(key);
        if found.is_none() {
            ds.push(
                Diagnostic::at(&root_loc, format!("the spec has no `{key}`")).hint(format!(
                    "add `{key}:` at the top level (see README, \"The spec format\")"
                )),
            );
        }
        found
    };
    let name = required(top::NAME, ds).and_then(|(n, loc)| text(n, loc, "`name`", ds).map(str::to_string));
    let input = required(top::INPUT, ds).and_then(|(n, loc)| {
        dims(n, loc, "`input`", 3, "[height, width, channels]", ds).map(|d| ([d[0], d[1], d[2]], loc.clone()))
    });
    let class_count = |n: &Node, loc: &Loc, ds: &mut Diagnostics| match whole(n, loc, "`classes`", ds) {
        Some(0) => {
            ds.push(Diagnostic::at(loc, "`classes` must be at least 1"));
            None
        }
        Some(c) => Some((c, loc.clone())),
        None => None,
    };
    let classes = required(top::CLASSES, ds).and_then(|(n, loc)| class_count(n, loc, ds));
    let table_classes = match &l.table_classes {
        Some((n, loc)) => class_count(n, loc, ds),
        None => classes.clone(),
    };
    let (alpha, alpha_loc) = match l.get(top::WIDTH_MULTIPLIER) {
        None => (Some(1.0), root_loc.clone()),
        Some((n, loc)) => {
            let a = real(n, loc, "`width_multiplier`", ds).and_then(|a| {
                if a > 0.0 && a <= 1.0 {
                    Some(a)
                } else {
                    ds.push(
                        Diagnostic::at(loc, format!("`width_multiplier` {a} is outside (0, 1]"))
                            .hint("the paper uses 1, 0.75, 0.5 and 0.25"),
                    );
                    None
                }
            });
            (a, loc.clone())
        }
    };
    let (resolution, resolution_loc) = match l.get(top::RESOLUTION) {
        None => (input.as_ref().map(|(i, _)| i[0]), root_loc.clone()),
        Some((n, loc)) => {
            let r = whole(n, loc, "`resolution`", ds).and_then(|r| {
                if r == 0 {
                    ds.push(Diagnostic::at(loc, "`resolution` must be at least 1"));
                    None
                } else {
                    Some(r)
                }
            });
            (r, loc.clone())
        }
    };
    let padding = match l.get(top::PADDING) {
        None => Some(Padding::Symmetric),
        Some((n, loc)) => match n.as_scalar() {
            Some(value::SYMMETRIC) => Some(Padding::Symmetric),
            Some(value::TF_SAME) => Some(Padding::TfSame),
            _ => {
                ds.push(
                    Diagnostic::at(loc, format!("unknown `padding` {}", n.describe()))
                        .hint("use `symmetric` (PyTorch, timm) or `tf_same` (TensorFlow, Keras)"),
                );
                None
            }
        },
    };
    let activation = match l.get(top::ACTIVATION) {
        None => Some(Activation::Relu),
        Some((n, loc)) => match n.as_scalar() {
            Some(value::RELU) => Some(Activation::Relu),
            Some(value::RELU6) => Some(Activation::Relu6),
            _ => {
                ds.push(
                    Diagnostic::at(loc, format!("unknown `activation` {}", n.describe())).hint("use `relu` or `relu6`"),
                );
                None
            }
        },
    };
    let bn_eps = match l.get(top::BN_EPS) {
        None => Some(1e-3),
        Some((n, loc)) => real(n, loc, "`bn_eps`", ds).and_then(|e| {
            // The forward pass folds batch norm in f32, so the epsilon has to survive the cast:
            // 1e300 would become infinity there, 1e-50 zero.
            if e <= 0.0 {
                ds.push(Diagnostic::at(loc, format!("`bn_eps` must be positive, found {e}")));
                None
            } else if !(e as f32).is_normal() {
                ds.push(Diagnostic::at(
                    loc,
                    format!(
                        "`bn_eps` {e} is not representable as an f32, which the batch norm is folded in: \
                         use a value between {:e} and {:e}",
                        f32::MIN_POSITIVE,
                        f32::MAX
                    ),
                ));
                None
            } else {
                Some(e)
            }
        }),
    };
    let (precision, precision_loc) = match l.get(top::PRECISION) {
        None => (Some(Precision::Float32), root_loc.clone()),
        Some((n, loc)) => (
            match n.as_scalar() {
                Some(value::FLOAT32) => Some(Precision::Float32),
                Some(value::INT8) => Some(Precision::Int8),
                Some(value::UINT8) => Some(Precision::Uint8),
                _ => {
                    ds.push(
                        Diagnostic::at(loc, format!("unknown `precision` {}", n.describe())).hint(
                            "use `float32` (the default), `int8` (TFLite's per-channel int8 models) or `uint8` \
                             (TFLite's per-tensor uint8 models)",
                        ),
                    );
                    None
                }
            },
            loc.clone(),
        ),
    };
    let rows = required(top::LAYERS, ds).map(|(n, loc)| {
        let mut rows = Vec::new();
        expand_rows(n, loc, "", &mut rows, &mut 0, ds);
        if rows.is_empty() && !ds.has_errors() {
            ds.push(Diagnostic::at(loc, "`layers` is empty"));
        }
        rows
    });
    let paper = l.get(top::PAPER).and_then(|(n, loc)| parse_paper(n, loc, ds));
    let (input, input_loc) = input?;
    let (classes, classes_loc) = classes?;
    let (table_classes, table_classes_loc) = table_classes?;
    Some(Spec {
        name: name?,
        input,
        input_loc,
        classes,
        classes_loc,
        table_classes,
        table_classes_loc,
        alpha: alpha?,
        alpha_loc,
        resolution: resolution?,
        resolution_loc,
        padding: padding?,
        activation: activation?,
        bn_eps: bn_eps?,
        precision: precision?,
        precision_loc,
        rows: rows?,
        paper,
        files,
    })
}

/// Expands `layers` (and nested `repeat`s) into rows numbered as the reader sees them.
///
/// `visited` counts rows expanded so far, those in error included, so that expansion stops
/// at [`MAX_ROWS`] whatever the rows hold: a nest of repeats cannot make work by itself.
fn expand_rows(node: &Node, loc: &Loc, prefix: &str, out: &mut Vec<Row>, visited: &mut usize, ds: &mut Diagnostics) {
    let Value::Seq(items) = &node.value else {
        ds.push(Diagnostic::at(
            loc,
            format!("`layers` must be a list of rows, found {}", node.describe()),
        ));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if *visited > MAX_ROWS {
            return;
        }
        let number = format!("{prefix}{}", i + 1);
        let row_loc = loc_of(&loc.file, item);
        let Value::Map(entries) = &item.value else {
            count_row(visited, &number, &row_loc, ds);
            ds.push(Diagnostic::at(
                &row_loc,
                format!(
                    "row {number} must be a mapping like `{{ type: conv, stride: 1, filter: [...] }}`, found {}",
                    item.describe()
                ),
            ));
            continue;
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v);
        if let Some(count) = get(rkey::REPEAT) {
            for (k, _) in entries {
                let key = k.as_scalar().unwrap_or("");
                if key != rkey::REPEAT && key != rkey::LAYERS {
                    ds.push(
                        Diagnostic::at(
                            &loc_of(&loc.file, k),
                            format!("unknown key `{key}` in repeat block of row {number}"),
                        )
                        .hint("a repeat block has only `repeat: N` and `layers:`"),
                    );
                }
            }
            let count_loc = loc_of(&loc.file, count);
            let Some(n) = whole(count, &count_loc, "`repeat`", ds) else {
                continue;
            };
            if n == 0 {
                ds.push(Diagnostic::at(
                    &count_loc,
                    format!("row {number}: `repeat` must be at least 1"),
                ));
                continue;
            }
            if n > MAX_REPEAT {
                ds.push(crate::diagnostics::over_limit(
                    &count_loc,
                    &format!("row {number}: `repeat`"),
                    n,
                    MAX_REPEAT,
                ));
                continue;
            }
            let Some(body) = get(rkey::LAYERS) else {
                ds.push(Diagnostic::at(
                    &row_loc,
                    format!("row {number}: `repeat` needs `layers:` to repeat"),
                ));
                continue;
            };
            let body_loc = loc_of(&loc.file, body);
            if matches!(&body.value, Value::Seq(b) if b.is_empty()) {
                ds.push(Diagnostic::at(
                    &body_loc,
                    format!("row {number}: `repeat` has no rows to repeat"),
                ));
                continue;
            }
            for _ in 0..n {
                expand_rows(body, &body_loc, &format!("{number}."), out, visited, ds);
                if *visited > MAX_ROWS {
                    return;
                }
            }
            continue;
        }
        if !count_row(visited, &number, &row_loc, ds) {
            return;
        }
        let mut ok = true;
        for (k, _) in entries {
            let key = k.as_scalar().unwrap_or("");
            if !rkey::ALL.contains(&key) {
                ds.push(unknown_key(
                    &loc_of(&loc.file, k),
                    key,
                    &format!("row {number}"),
                    rkey::ALL,
                ));
                ok = false;
            }
        }
        let Some(type_node) = get(rkey::TYPE) else {
            ds.push(
                Diagnostic::at(&row_loc, format!("row {number} has no `type`"))
                    .hint(format!("one of: {}", kind::ALL.join(", "))),
            );
            continue;
        };
        let Some(k) = type_node.as_scalar().and_then(Kind::parse) else {
            let hint = match type_node.as_scalar().and_then(|t| closest(t, kind::ALL)) {
                Some(s) => format!("did you mean `{s}`? (types: {})", kind::ALL.join(", ")),
                None => format!("types: {}", kind::ALL.join(", ")),
            };
            ds.push(
                Diagnostic::at(
                    &row_loc,
                    format!("row {number} has unknown type {}", type_node.describe()),
                )
                .hint(hint),
            );
            continue;
        };
        let stride = match get(rkey::STRIDE) {
            None => Some(1),
            Some(s) => match whole(s, &row_loc, &format!("row {number}: `stride`"), ds) {
                Some(v @ (1 | 2)) => Some(v),
                Some(v) => {
                    ds.push(Diagnostic::at(
                        &row_loc,
                        format!(
                            "row {number} ({}) has stride {v}; MobileNet layers use stride 1 or 2",
                            k.as_str()
                        ),
                    ));
                    None
                }
                None => None,
            },
        };
        let (arity, meaning) = k.filter_arity();
        let filter = match (get(rkey::FILTER), arity) {
            (None, 0) => Some(Vec::new()),
            (Some(_), 0) => {
                ds.push(Diagnostic::at(
                    &row_loc,
                    format!("row {number} (softmax) takes no `filter`"),
                ));
                None
            }
            (None, _) => {
                ds.push(
                    Diagnostic::at(&row_loc, format!("row {number} ({}) has no `filter`", k.as_str()))
                        .hint(format!("write it as {meaning}")),
                );
                None
            }
            (Some(f), n) => dims(
                f,
                &row_loc,
                &format!("row {number} ({}): `filter`", k.as_str()),
                n,
                meaning,
                ds,
            ),
        };
        let input = match get(rkey::INPUT) {
            None => Some(None),
            Some(i) => dims(
                i,
                &row_loc,
                &format!("row {number}: `input`"),
                3,
                "[height, width, channels]",
                ds,
            )
            .map(|d| Some([d[0], d[1], d[2]])),
        };
        let name = match get(rkey::NAME) {
            None => Some(None),
            Some(n) => match n.as_scalar() {
                Some(s) if valid_name(s) => Some(Some(s.to_string())),
                _ => {
                    ds.push(
                        Diagnostic::at(
                            &row_loc,
                            format!("row {number}: `name` {} is not a tensor-name prefix", n.describe()),
                        )
                        .hint("use letters, digits, `_` and `.`, starting with a letter"),
                    );
                    None
                }
            },
        };
        if let (true, Some(stride), Some(filter), Some(input), Some(name)) = (ok, stride, filter, input, name) {
            out.push(Row {
                number,
                index: out.len(),
                kind: k,
                stride,
                filter,
                input,
                name,
                loc: row_loc,
            });
        }
    }
}

/// Counts one expanded row; past [`MAX_ROWS`], reports it (once) and says to stop.
fn count_row(visited: &mut usize, number: &str, row_loc: &Loc, ds: &mut Diagnostics) -> bool {
    *visited += 1;
    if *visited > MAX_ROWS {
        ds.push(
            Diagnostic::at(
                row_loc,
                format!(
                    "the table has more than {MAX_ROWS} rows after `repeat` expansion (row {number} would be row {})",
                    *visited
                ),
            )
            .hint("mobilenet! bounds every size so that a typo cannot exhaust the compiler (README, \"Reliability\")"),
        );
        return false;
    }
    true
}

fn valid_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !s.ends_with('.')
}

/// Parses `569M`, `4.2M`, `41K`, `4209088` or `94.86%`.
pub fn parse_printed(s: &str, percent: bool) -> Option<Printed> {
    let t = s.trim();
    let (num, scale) = if percent {
        (t.strip_suffix('%')?, 1.0)
    } else if let Some(n) = t.strip_suffix('M') {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix('K') {
        (n, 1e3)
    } else {
        (t, 1.0)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') || num.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let decimals = num.split_once('.').map_or(0, |(_, d)| d.len());
    Some(Printed {
        text: t.to_string(),
        value: value * scale,
        last_digit: scale / 10f64.powi(decimals as i32),
    })
}

fn parse_figure(
    node: &Node,
    file: &Rc<str>,
    measure: Measure,
    group: Option<&str>,
    percent: bool,
    ds: &mut Diagnostics,
) -> Option<Figure> {
    let loc = loc_of(file, node);
    let what = match group {
        Some(g) => format!(
            "`paper.breakdown.{g}.{}`",
            if measure == Measure::MultAdds {
                pkey::MULT_ADDS
            } else {
                pkey::PARAMS
            }
        ),
        None => format!(
            "`paper.{}`",
            if measure == Measure::MultAdds {
                pkey::MULT_ADDS
            } else {
                pkey::PARAMS
            }
        ),
    };
    let form = if percent {
        "a share like `94.86%`"
    } else {
        "a count like `569M`, `4.2M`, `41K` or `4209088`"
    };
    let read = |n: &Node, ds: &mut Diagnostics| -> Option<Printed> {
        let p = n.as_scalar().and_then(|s| parse_printed(s, percent));
        if p.is_none() {
            ds.push(Diagnostic::at(
                &loc_of(file, n),
                format!("{what} must be {form}, found {}", n.describe()),
            ));
        }
        p
    };
    match &node.value {
        Value::Map(entries) => {
            let mut value = None;
            let mut tolerance = None;
            let mut note = None;
            for (k, v) in entries {
                match k.as_scalar() {
                    Some(pkey::VALUE) => value = read(v, ds),
                    Some(pkey::TOLERANCE) => tolerance = read(v, ds),
                    Some(pkey::NOTE) => note = text(v, &loc_of(file, v), "`note`", ds).map(str::to_string),
                    other => ds.push(unknown_key(&loc_of(file, k), other.unwrap_or(""), &what, pkey::FIGURE)),
                }
            }
            if value.is_none() && !entries.iter().any(|(k, _)| k.as_scalar() == Some(pkey::VALUE)) {
                ds.push(Diagnostic::at(&loc, format!("{what} has no `value`")));
            }
            if tolerance.is_some() && note.is_none() {
                ds.push(
                    Diagnostic::at(&loc, format!("{what} has a `tolerance` but no `note` saying why"))
                        .hint("a widened check must explain itself in the report: add `note: \"...\"`"),
                );
            }
            Some(Figure {
                measure,
                group: group.map(str::to_string),
                printed: value?,
                tolerance,
                note,
                loc,
            })
        }
        _ => Some(Figure {
            measure,
            group: group.map(str::to_string),
            printed: read(node, ds)?,
            tolerance: None,
            note: None,
            loc,
        }),
    }
}

fn parse_paper(node: &Node, loc: &Loc, ds: &mut Diagnostics) -> Option<Paper> {
    let file = &loc.file;
    let Value::Map(entries) = &node.value else {
        ds.push(Diagnostic::at(
            loc,
            format!("`paper` must be a mapping of figures, found {}", node.describe()),
        ));
        return None;
    };
    let mut paper = Paper::default();
    for (k, v) in entries {
        let kloc = loc_of(file, k);
        match k.as_scalar() {
            Some(pkey::SOURCE) => paper.source = text(v, &kloc, "`paper.source`", ds).map(str::to_string),
            Some(pkey::TOP1) => paper.top1 = real(v, &kloc, "`paper.top1`", ds),
            Some(pkey::MULT_ADDS) => paper
                .figures
                .extend(parse_figure(v, file, Measure::MultAdds, None, false, ds)),
            Some(pkey::PARAMS) => paper
                .figures
                .extend(parse_figure(v, file, Measure::Params, None, false, ds)),
            Some(pkey::BREAKDOWN) => {
                let Value::Map(groups) = &v.value else {
                    ds.push(Diagnostic::at(
                        &kloc,
                        "`paper.breakdown` must map layer groups (conv_1x1, conv_dw_3x3, conv_3x3, fc) to shares",
                    ));
                    continue;
                };
                for (g, shares) in groups {
                    let group = g.as_scalar().unwrap_or("");
                    let Value::Map(ms) = &shares.value else {
                        ds.push(Diagnostic::at(&loc_of(file, g), format!("`paper.breakdown.{group}` must be a mapping like `{{ mult_adds: 94.86%, params: 74.59% }}`")));
                        continue;
                    };
                    for (m, val) in ms {
                        match m.as_scalar() {
                            Some(pkey::MULT_ADDS) => {
                                paper
                                    .figures
                                    .extend(parse_figure(val, file, Measure::MultAdds, Some(group), true, ds))
                            }
                            Some(pkey::PARAMS) => {
                                paper
                                    .figures
                                    .extend(parse_figure(val, file, Measure::Params, Some(group), true, ds))
                            }
                            other => ds.push(unknown_key(
                                &loc_of(file, m),
                                other.unwrap_or(""),
                                &format!("`paper.breakdown.{group}`"),
                                pkey::SHARES,
                            )),
                        }
                    }
                }
            }
            other => ds.push(unknown_key(&kloc, other.unwrap_or(""), "`paper`", pkey::ALL)),
        }
    }
    Some(paper)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// In-memory files for front-end tests.
    pub struct Mem(pub HashMap<PathBuf, String>);

    impl SourceFiles for Mem {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
        }
    }

    pub fn mem(files: &[(&str, &str)]) -> Mem {
        Mem(files.iter().map(|(p, t)| (PathBuf::from(p), t.to_string())).collect())
    }

    pub const SMALL: &str = "name: small
input: [8, 8, 3]
classes: 10
layers:
  - { type: conv, stride: 2, filter: [3, 3, 3, 8], input: [8, 8, 3] }
  - repeat: 2
    layers:
      - { type: conv_dw, stride: 1, filter: [3, 3, 8] }
      - { type: conv, stride: 1, filter: [1, 1, 8, 8] }
  - { type: avg_pool, filter: [4, 4] }
  - { type: fc, filter: [8, 10], name: classifier }
  - { type: softmax }
";

    fn errors(files: &[(&str, &str)]) -> Vec<String> {
        load(Path::new("s.yaml"), "s.yaml", &mem(files))
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn expands_repeat_with_numbers() {
        let spec = load(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", SMALL)])).unwrap();
        let numbers: Vec<_> = spec.rows.iter().map(|r| r.number.as_str()).collect();
        assert_eq!(numbers, ["1", "2.1", "2.2", "2.1", "2.2", "3", "4", "5"]);
        assert_eq!(spec.rows[6].name.as_deref(), Some("classifier"));
        assert_eq!(spec.rows[3].loc.pos.line, 8);
        assert_eq!(spec.resolution, 8);
        assert_eq!(spec.bn_eps, 1e-3);
    }

    #[test]
    fn extends_inherits_all_but_paper() {
        let parent = format!("{SMALL}paper: {{ mult_adds: 1M }}\n");
        let child = "extends: s.yaml\nname: child\nwidth_multiplier: 0.5\n";
        let spec = load(
            Path::new("c.yaml"),
            "c.yaml",
            &mem(&[("s.yaml", &parent), ("c.yaml", child)]),
        )
        .unwrap();
        assert_eq!(spec.name, "child");
        assert_eq!(spec.alpha, 0.5);
        assert_eq!(spec.rows.len(), 8);
        assert!(spec.paper.is_none());
        assert_eq!(&*spec.rows[0].loc.file, "s.yaml");
        assert_eq!(spec.files.len(), 2);
    }

    #[test]
    fn extends_cycle_and_missing_parent() {
        let e = errors(&[
            ("s.yaml", "extends: t.yaml\nname: a\n"),
            ("t.yaml", "extends: s.yaml\n"),
        ]);
        assert!(e.iter().any(|m| m.contains("cycle")), "{e:?}");
        let e = errors(&[("s.yaml", "extends: nowhere.yaml\nname: a\n")]);
        assert!(
            e.iter().any(|m| m.contains("cannot read spec file nowhere.yaml")),
            "{e:?}"
        );
    }

    #[test]
    fn reports_every_row_problem() {
        let bad = "name: x\ninput: [8, 8, 3]\nclasses: 10\nlayers:\n  - { type: conv, stride: 3, filter: [3, 3, 3, 8] }\n  - { type: conv_dw, filter: [3, 3] }\n  - { type: cnov, filter: [1, 1, 8, 8] }\n  - { type: fc, filter: [8, 0], colour: red }\n";
        let e = errors(&[("s.yaml", bad)]);
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].starts_with("s.yaml:5:5: row 1 (conv) has stride 3"), "{}", e[0]);
        assert!(
            e[1].contains("row 2 (conv_dw): `filter` must have 3 numbers"),
            "{}",
            e[1]
        );
        assert!(
            e[2].contains("unknown type `cnov`") && e[2].contains("did you mean `conv`"),
            "{}",
            e[2]
        );
        assert!(e.iter().any(|m| m.contains("zero size")));
        assert!(e.iter().any(|m| m.contains("unknown key `colour`")));
    }

    #[test]
    fn header_errors() {
        let e = errors(&[(
            "s.yaml",
            "name: x\ninput: [8, 8]\nclasses: 0\nwidth_multiplier: 1.5\npading: tf_same\nlayers: []\n",
        )]);
        assert!(e.iter().any(|m| m.contains("`input` must have 3 numbers")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("`classes` must be at least 1")));
        assert!(e.iter().any(|m| m.contains("outside (0, 1]")));
        assert!(e
            .iter()
            .any(|m| m.contains("unknown key `pading`") && m.contains("did you mean `padding`")));
    }

    /// The CI fuzz run found `bn_eps: 1e300` reaching the code generator, where it became an
    /// infinite f32 and panicked the macro.
    #[test]
    fn bn_eps_must_be_a_positive_normal_f32() {
        for (eps, wanted) in [
            ("1e300", "not representable as an f32"),
            ("1e-50", "not representable as an f32"),
            ("0", "must be positive"),
            ("-1e-3", "must be positive"),
        ] {
            let e = errors(&[("s.yaml", &format!("{SMALL}bn_eps: {eps}\n"))]);
            assert!(
                e.iter().any(|m| m.contains(wanted) && m.starts_with("s.yaml:")),
                "{eps}: {e:?}"
            );
        }
        let good = format!("{SMALL}bn_eps: 1e-5\n");
        assert!(load(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", &good)])).is_ok());
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let e = errors(&[("s.yaml", "name: x\nlayers: [\n")]);
        assert!(e[0].starts_with("s.yaml:3:"), "{e:?}");
        assert!(e[0].contains("YAML syntax error"));
    }

    #[test]
    fn printed_figures() {
        let p = parse_printed("569M", false).unwrap();
        assert_eq!((p.value, p.last_digit), (569e6, 1e6));
        let p = parse_printed("1.32M", false).unwrap();
        assert!((p.last_digit - 1e4).abs() < 1e-6);
        let p = parse_printed("94.86%", true).unwrap();
        assert!((p.last_digit - 0.01).abs() < 1e-12);
        assert_eq!(parse_printed("4209088", false).unwrap().last_digit, 1.0);
        assert!(parse_printed("12MM", false).is_none());
        assert!(parse_printed("1.2.3M", false).is_none());
    }

    #[test]
    fn tolerance_needs_note() {
        let s = format!("{SMALL}paper:\n  mult_adds: {{ value: 1M, tolerance: 1M }}\n");
        let e = errors(&[("s.yaml", &s)]);
        assert!(e[0].contains("no `note`"), "{e:?}");
    }
}
