//! Shape inference: runs the table twice.
//!
//! First as written (alpha 1, the header's resolution), checking each row's declared `input`
//! and filter against what the previous row produces: this is where a misprinted stride or a
//! channel mismatch is caught, in the table's own numbers. Then with the width multiplier and
//! resolution applied, producing the [`Plan`] the cost model and the code generator read.

use crate::diagnostics::{Diagnostic, Diagnostics, Loc};
use crate::spec::{Kind, Padding, Row, Spec};

/// One layer as it will run.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// The row it comes from.
    pub row: Row,
    /// Tensor-name prefix (`layers.{i}` or the row's `name`).
    pub name: String,
    /// Kernel height and width (1x1 for fc and softmax).
    pub kernel: [usize; 2],
    /// Zeros above and left of the input.
    pub pad_top_left: [usize; 2],
    /// Input H x W x C.
    pub input: [usize; 3],
    /// Output H x W x C.
    pub output: [usize; 3],
}

impl Layer {
    /// A 1x1 stride-1 convolution, which runs on the pointwise kernel.
    pub fn is_pointwise(&self) -> bool {
        self.row.kind == Kind::Conv && self.kernel == [1, 1] && self.row.stride == 1
    }
}

/// The checked, expanded network.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Image shape after the multipliers.
    pub input: [usize; 3],
    /// Every layer, in order.
    pub layers: Vec<Layer>,
}

impl Plan {
    /// Shape of the last layer's output.
    #[cfg(test)]
    pub fn output(&self) -> [usize; 3] {
        self.layers.last().map_or(self.input, |l| l.output)
    }
}

/// Formats a shape as the paper does: `112x112x32`.
pub fn fmt_shape(s: [usize; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
}

/// Output size and zeros before, for one spatial dimension of a convolution; `None` when the
/// kernel does not fit (or, past the limits, the arithmetic would not).
pub fn conv_extent(size: usize, k: usize, s: usize, padding: Padding) -> Option<(usize, usize)> {
    match padding {
        Padding::Symmetric => {
            let p = k.checked_sub(1)? / 2;
            let padded = size.checked_add(p.checked_mul(2)?)?;
            Some((padded.checked_sub(k)?.checked_div(s)?.checked_add(1)?, p))
        }
        Padding::TfSame => {
            let out = size.checked_div(s)? + usize::from(!size.is_multiple_of(s));
            let total = out.checked_sub(1)?.checked_mul(s)?.checked_add(k)?.saturating_sub(size);
            Some((out, total / 2))
        }
    }
}

/// What one row does to a shape, or why it cannot.
enum Step {
    Ok {
        out: [usize; 3],
        kernel: [usize; 2],
        pad: [usize; 2],
    },
    Err(String, Option<String>),
}

/// Applies one row to `shape`. `filter` holds the row's numbers with channels already scaled;
/// `global_pool` keeps an avg_pool covering its whole input.
fn step(row: &Row, filter: &[usize], shape: [usize; 3], padding: Padding, global_pool: bool, prev: &str) -> Step {
    let [h, w, c] = shape;
    let s = row.stride;
    let label = row.label();
    let conv =
        |kh: usize, kw: usize, cout: usize| match (conv_extent(h, kh, s, padding), conv_extent(w, kw, s, padding)) {
            (Some((oh, pt)), Some((ow, pl))) => Step::Ok {
                out: [oh, ow, cout],
                kernel: [kh, kw],
                pad: [pt, pl],
            },
            _ => Step::Err(
                format!(
                    "{label}: its {kh}x{kw} kernel is larger than its padded {h}x{w} input ({prev} outputs {})",
                    fmt_shape(shape)
                ),
                Some("the feature map has shrunk too far: check the strides above, or use a larger resolution".into()),
            ),
        };
    match row.kind {
        Kind::Conv => {
            let (kh, kw, cin, cout) = (filter[0], filter[1], filter[2], filter[3]);
            if cin != c {
                return Step::Err(
                    format!(
                        "{label} expects {cin} input channels (filter [{}]), but {prev} outputs {}",
                        join(filter),
                        fmt_shape(shape)
                    ),
                    Some(format!("the filter's third number is the input channels: {c} here")),
                );
            }
            conv(kh, kw, cout)
        }
        Kind::ConvDw => {
            let (kh, kw, ch) = (filter[0], filter[1], filter[2]);
            if ch != c {
                return Step::Err(
                    format!(
                        "{label} filters {ch} channels (filter [{}]), but {prev} outputs {}",
                        join(filter),
                        fmt_shape(shape)
                    ),
                    Some("a depthwise filter has one channel per input channel".into()),
                );
            }
            conv(kh, kw, c)
        }
        Kind::AvgPool => {
            let (kh, kw) = if global_pool { (h, w) } else { (filter[0], filter[1]) };
            if kh > h || kw > w {
                return Step::Err(
                    format!(
                        "{label}: its {kh}x{kw} window is larger than its {h}x{w} input ({prev} outputs {})",
                        fmt_shape(shape)
                    ),
                    Some("a window the size of the input (7x7 on 7x7) pools globally at every resolution".into()),
                );
            }
            Step::Ok {
                out: [(h - kh) / s + 1, (w - kw) / s + 1, c],
                kernel: [kh, kw],
                pad: [0, 0],
            }
        }
        Kind::Fc => {
            let (fin, fout) = (filter[0], filter[1]);
            if h != 1 || w != 1 {
                return Step::Err(
                    format!("{label} needs a 1x1xC input, but {prev} outputs {}", fmt_shape(shape)),
                    Some("pool to 1x1 first (avg_pool with a window the size of its input)".into()),
                );
            }
            if fin != c {
                return Step::Err(
                    format!(
                        "{label} expects {fin} inputs (filter [{}]), but {prev} outputs {}",
                        join(filter),
                        fmt_shape(shape)
                    ),
                    None,
                );
            }
            Step::Ok {
                out: [1, 1, fout],
                kernel: [1, 1],
                pad: [0, 0],
            }
        }
        Kind::Softmax => {
            if h != 1 || w != 1 {
                return Step::Err(
                    format!("{label} needs a 1x1xC input, but {prev} outputs {}", fmt_shape(shape)),
                    None,
                );
            }
            Step::Ok {
                out: shape,
                kernel: [1, 1],
                pad: [0, 0],
            }
        }
    }
}

fn join(v: &[usize]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

fn describe_prev(rows: &[Row], i: usize) -> String {
    if i == 0 {
        "the input image".to_string()
    } else {
        rows[i - 1].label()
    }
}

/// Whether an avg_pool row covers its whole input in the table's own units.
fn table_global_pools(spec: &Spec, ds: &mut Diagnostics) -> Vec<bool> {
    let mut shape = spec.input;
    let mut global = vec![false; spec.rows.len()];
    for (i, row) in spec.rows.iter().enumerate() {
        let prev = describe_prev(&spec.rows, i);
        if let Some(declared) = row.input {
            if declared != shape {
                let mut d = if i == 0 {
                    Diagnostic::at(
                        &row.loc,
                        format!(
                            "the spec's `input` is {}, but {} declares input {}",
                            fmt_shape(shape),
                            row.label(),
                            fmt_shape(declared)
                        ),
                    )
                } else {
                    let p = &spec.rows[i - 1];
                    Diagnostic::at(
                        &p.loc,
                        format!(
                            "{} outputs {}, but {} declares input {}",
                            p.label(),
                            fmt_shape(shape),
                            row.label(),
                            fmt_shape(declared)
                        ),
                    )
                };
                if i > 0 {
                    d = d.hint(mismatch_hint(&spec.rows[i - 1], shape, declared, &row.loc));
                }
                ds.push(d);
                // Carry on from the declared shape so one mistake is reported once.
                shape = declared;
            }
        }
        if row.kind == Kind::AvgPool {
            global[i] = row.filter[0] == shape[0] && row.filter[1] == shape[1];
        }
        match step(row, &row.filter, shape, spec.padding, false, &prev) {
            Step::Ok { out, .. } => shape = out,
            Step::Err(msg, hint) => {
                let mut d = Diagnostic::at(&row.loc, msg);
                if let Some(h) = hint {
                    d = d.hint(h);
                }
                ds.push(d);
                // Without an output shape nothing further can be checked meaningfully.
                return global;
            }
        }
    }
    if let Some(last) = spec.rows.last() {
        if shape[2] != spec.table_classes {
            ds.push(
                Diagnostic::at(
                    &last.loc,
                    format!(
                        "the table ends with {} ({}), but `classes` is {}",
                        fmt_shape(shape),
                        last.label(),
                        spec.table_classes
                    ),
                )
                .hint(format!("`classes` is set at {}", spec.table_classes_loc)),
            );
        } else if spec.classes != spec.table_classes {
            check_classifier_head(spec, ds);
        }
    }
    global
}

/// The row whose output width `classes` sets: the last fc row, when nothing after it changes
/// the channel count.
fn classifier_row(spec: &Spec) -> Option<usize> {
    let fc = spec.rows.iter().rposition(|r| r.kind == Kind::Fc)?;
    spec.rows[fc + 1..]
        .iter()
        .all(|r| matches!(r.kind, Kind::Softmax | Kind::AvgPool))
        .then_some(fc)
}

/// An extending spec may give the classifier another width only when the table has one.
fn check_classifier_head(spec: &Spec, ds: &mut Diagnostics) {
    if classifier_row(spec).is_none() {
        ds.push(
            Diagnostic::at(
                &spec.classes_loc,
                format!(
                    "`classes` is {}, but the table's rows end with {} classes and have no fc row \
                     whose output it could replace",
                    spec.classes, spec.table_classes
                ),
            )
            .hint(format!(
                "the table's class count is set at {}; restate `layers` with {} classes instead",
                spec.table_classes_loc, spec.classes
            )),
        );
    }
}

fn mismatch_hint(prev: &Row, got: [usize; 3], declared: [usize; 3], at: &Loc) -> String {
    let line = format!("the declaring row is at line {}", at.pos.line);
    if got[2] == declared[2] && prev.stride == 2 && got[0] * 2 >= declared[0] && got[0] < declared[0] {
        format!(
            "{line}; with stride 1, row {} would output {}",
            prev.number,
            fmt_shape(declared)
        )
    } else if got[2] == declared[2] && prev.stride == 1 && got[0] == declared[0] * 2 {
        format!(
            "{line}; with stride 2, row {} would output {}",
            prev.number,
            fmt_shape(declared)
        )
    } else {
        line
    }
}

/// Checks the table as written, then applies the multipliers; every problem goes to `ds`.
pub fn infer(spec: &Spec, ds: &mut Diagnostics) -> Option<Plan> {
    let before = ds.has_errors();
    let global = table_global_pools(spec, ds);
    check_names(spec, ds);
    if ds.has_errors() && !before {
        return None;
    }
    let scale = |c: usize| (c as f64 * spec.alpha) as usize;
    let [h, w, _] = spec.input;
    let Some(input) = spec.scaled_input() else {
        ds.push(Diagnostic::at(
            &spec.resolution_loc,
            format!(
                "`resolution` {} does not scale the {}x{} input to whole pixels",
                spec.resolution, h, w
            ),
        ));
        return None;
    };
    if input[1] > crate::limits::MAX_SIDE {
        ds.push(crate::diagnostics::over_limit(
            &spec.resolution_loc,
            &format!("at `resolution` {}, the image's width", spec.resolution),
            input[1],
            crate::limits::MAX_SIDE,
        ));
        return None;
    }
    let input_floats = input.iter().map(|&x| x as u64).product::<u64>();
    if input_floats > crate::limits::MAX_ARENA_FLOATS {
        ds.push(crate::diagnostics::over_limit(
            &spec.resolution_loc,
            &format!("the {} image's size in floats,", fmt_shape(input)),
            input_floats,
            crate::limits::MAX_ARENA_FLOATS,
        ));
        return None;
    }
    let mut shape = input;
    let mut layers = Vec::with_capacity(spec.rows.len());
    let head = classifier_row(spec);
    for (i, row) in spec.rows.iter().enumerate() {
        let mut filter = row.filter.clone();
        match row.kind {
            Kind::Conv => {
                filter[2] = shape[2];
                filter[3] = scale(row.filter[3]);
            }
            Kind::ConvDw => filter[2] = shape[2],
            Kind::Fc => {
                filter[0] = shape[2];
                if Some(i) == head {
                    filter[1] = spec.classes;
                }
            }
            Kind::AvgPool | Kind::Softmax => {}
        }
        if matches!(row.kind, Kind::Conv) && filter[3] == 0 {
            ds.push(
                Diagnostic::at(
                    &spec.alpha_loc,
                    format!(
                        "`width_multiplier` {} leaves {} with no output channels: int({} x {}) = 0",
                        spec.alpha,
                        row.label(),
                        row.filter[3],
                        spec.alpha
                    ),
                )
                .hint(format!("{} is at {}", row.label(), row.loc)),
            );
            return None;
        }
        let prev = describe_prev(&spec.rows, i);
        match step(row, &filter, shape, spec.padding, global[i], &prev) {
            Step::Ok { out, kernel, pad } => {
                layers.push(Layer {
                    row: row.clone(),
                    name: row.name.clone().unwrap_or_else(|| format!("layers.{i}")),
                    kernel,
                    pad_top_left: pad,
                    input: shape,
                    output: out,
                });
                shape = out;
            }
            Step::Err(msg, _) => {
                ds.push(
                    Diagnostic::at(
                        &spec.resolution_loc,
                        format!("`resolution` {} collapses the feature maps: {msg}", spec.resolution),
                    )
                    .hint(format!(
                        "{} is at {}; the table was checked at {}x{}",
                        row.label(),
                        row.loc,
                        h,
                        w
                    )),
                );
                return None;
            }
        }
    }
    Some(Plan { input, layers })
}

fn check_names(spec: &Spec, ds: &mut Diagnostics) {
    let names: Vec<String> = spec
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| r.name.clone().unwrap_or_else(|| format!("layers.{i}")))
        .collect();
    for (i, row) in spec.rows.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|n| *n == names[i]) {
            ds.push(
                Diagnostic::at(
                    &row.loc,
                    format!(
                        "{} uses the tensor name `{}`, already used by {}",
                        row.label(),
                        names[i],
                        spec.rows[j].label()
                    ),
                )
                .hint("every row needs its own name; rows inside a `repeat` cannot carry one"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{mem, SMALL};
    use std::path::Path;

    fn plan(text: &str) -> Result<Plan, Vec<String>> {
        let spec = crate::spec::load(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", text)]))
            .map_err(|e| e.iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        let mut ds = Diagnostics::new();
        let p = infer(&spec, &mut ds);
        ds.into_result(p)
            .map(|p| p.unwrap())
            .map_err(|e| e.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn small_spec_shapes() {
        let p = plan(SMALL).unwrap();
        let outs: Vec<_> = p.layers.iter().map(|l| l.output).collect();
        assert_eq!(outs[0], [4, 4, 8]);
        assert_eq!(outs[5], [1, 1, 8]);
        assert_eq!(outs[7], [1, 1, 10]);
        assert_eq!(p.layers[6].name, "classifier");
        assert_eq!(p.layers[1].name, "layers.1");
    }

    #[test]
    fn extents() {
        assert_eq!(conv_extent(224, 3, 2, Padding::Symmetric), Some((112, 1)));
        assert_eq!(conv_extent(7, 3, 2, Padding::Symmetric), Some((4, 1)));
        assert_eq!(conv_extent(224, 3, 2, Padding::TfSame), Some((112, 0)));
        assert_eq!(conv_extent(7, 3, 2, Padding::TfSame), Some((4, 1)));
        assert_eq!(conv_extent(1, 4, 1, Padding::Symmetric), None);
    }

    #[test]
    fn stride_misprint_names_both_rows() {
        let bad = SMALL
            .replace(
                "- { type: conv, stride: 2, filter: [3, 3, 3, 8], input: [8, 8, 3] }",
                "- { type: conv, stride: 1, filter: [3, 3, 3, 8], input: [8, 8, 3] }",
            )
            .replace(
                "- { type: conv_dw, stride: 1, filter: [3, 3, 8] }",
                "- { type: conv_dw, stride: 1, filter: [3, 3, 8], input: [4, 4, 8] }",
            );
        let e = plan(&bad).unwrap_err();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("s.yaml:5:5: row 1 (conv, stride 1) outputs 8x8x8, but row 2.1 (conv_dw, stride 1) declares input 4x4x8"), "{}", e[0]);
    }

    #[test]
    fn channel_mismatch() {
        let e = plan(&SMALL.replace("[1, 1, 8, 8]", "[1, 1, 16, 8]")).unwrap_err();
        assert!(
            e[0].contains("row 2.2 (conv, stride 1) expects 16 input channels"),
            "{e:?}"
        );
        assert!(e[0].contains("row 2.1 (conv_dw, stride 1) outputs 4x4x8"), "{e:?}");
    }

    #[test]
    fn fc_needs_1x1_and_classes_must_match() {
        let e = plan(&SMALL.replace("filter: [4, 4]", "filter: [2, 2], stride: 2")).unwrap_err();
        assert!(
            e[0].contains("needs a 1x1xC input, but row 3 (avg_pool, stride 2) outputs 2x2x8"),
            "{e:?}"
        );
        let e = plan(&SMALL.replace("classes: 10", "classes: 11")).unwrap_err();
        assert!(
            e[0].contains("the table ends with 1x1x10 (row 5 (softmax)), but `classes` is 11"),
            "{e:?}"
        );
    }

    fn plan_files(files: &[(&str, &str)]) -> Result<Plan, Vec<String>> {
        let spec = crate::spec::load(Path::new("c.yaml"), "c.yaml", &mem(files))
            .map_err(|e| e.iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        let mut ds = Diagnostics::new();
        let p = infer(&spec, &mut ds);
        ds.into_result(p)
            .map(|p| p.unwrap())
            .map_err(|e| e.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn an_extending_spec_sets_the_classifier_width() {
        let child = "extends: s.yaml\nname: c\nclasses: 11\nwidth_multiplier: 0.5\n";
        let p = plan_files(&[("s.yaml", SMALL), ("c.yaml", child)]).unwrap();
        assert_eq!(p.output(), [1, 1, 11]);
        let fc = &p.layers[6];
        assert_eq!((fc.input[2], fc.output[2]), (4, 11));
        assert_eq!(p.layers[7].input, [1, 1, 11]);
        // A grandchild without `classes` keeps its parent's head; one with `layers` of its
        // own checks them against its own `classes`.
        let grandchild = "extends: c.yaml\nname: g\n";
        let spec = crate::spec::load(
            Path::new("g.yaml"),
            "g.yaml",
            &mem(&[("s.yaml", SMALL), ("c.yaml", child), ("g.yaml", grandchild)]),
        )
        .unwrap();
        assert_eq!((spec.classes, spec.table_classes), (11, 10));
        let restated = format!(
            "extends: s.yaml\nname: r\nclasses: 11\n{}",
            &SMALL[SMALL.find("layers:").unwrap()..]
        );
        let e = plan_files(&[("s.yaml", SMALL), ("c.yaml", &restated)]).unwrap_err();
        assert!(
            e[0].contains("the table ends with 1x1x10 (row 5 (softmax)), but `classes` is 11"),
            "{e:?}"
        );
    }

    #[test]
    fn a_class_count_needs_an_fc_row_to_set() {
        let no_fc = SMALL
            .replace("  - { type: fc, filter: [8, 10], name: classifier }\n", "")
            .replace("  - { type: softmax }\n", "")
            .replace("classes: 10", "classes: 8");
        let child = "extends: s.yaml\nname: c\nclasses: 11\n";
        let e = plan_files(&[("s.yaml", &no_fc), ("c.yaml", child)]).unwrap_err();
        assert!(
            e[0].starts_with("c.yaml:3:1: `classes` is 11, but the table's rows end with 8 classes and have no fc row"),
            "{e:?}"
        );
    }

    #[test]
    fn width_multiplier_keeps_image_and_classes() {
        let p = plan(&format!("{SMALL}width_multiplier: 0.5\n")).unwrap();
        assert_eq!(p.layers[0].input[2], 3);
        assert_eq!(p.layers[0].output[2], 4);
        assert_eq!(p.output(), [1, 1, 10]);
        let e = plan(&format!("{SMALL}width_multiplier: 0.1\n")).unwrap_err();
        assert!(
            e[0].contains("leaves row 1 (conv, stride 2) with no output channels: int(8 x 0.1) = 0"),
            "{e:?}"
        );
    }

    #[test]
    fn resolution_scales_and_pool_stays_global() {
        let p = plan(&format!("{SMALL}resolution: 16\n")).unwrap();
        assert_eq!(p.input, [16, 16, 3]);
        assert_eq!(p.layers[5].kernel, [8, 8]);
        assert_eq!(p.layers[5].output, [1, 1, 8]);
    }

    #[test]
    fn resolution_collapse() {
        let s = SMALL.replace("filter: [4, 4] }", "filter: [3, 3], stride: 2 }");
        // 4x4 input to a 3x3 window with stride 2 gives 1x1 at 8; at resolution 4, 2x2 < 3x3.
        let e = plan(&format!("{s}resolution: 4\n")).unwrap_err();
        assert!(e[0].contains("`resolution` 4 collapses the feature maps"), "{e:?}");
    }

    #[test]
    fn duplicate_names() {
        let e = plan(&SMALL.replace("name: classifier", "name: layers.0")).unwrap_err();
        assert!(e[0].contains("already used by row 1"), "{e:?}");
    }
}
