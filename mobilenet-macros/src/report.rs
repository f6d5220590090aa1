//! The human-readable cost report (Markdown), emitted as `COST_REPORT`.

use crate::cost::{ArenaLayout, Totals};
use crate::numbers::{fmt_amount, fmt_signed, group_digits, short};
use crate::paper::Verdict;
use crate::shapes::{fmt_shape, Layer, Plan};
use crate::spec::{Activation, Kind, Padding, Precision, Spec};
use std::fmt::Write;

fn filter(l: &Layer) -> String {
    let [kh, kw] = l.kernel;
    match l.row.kind {
        Kind::Conv => format!("{kh}x{kw}x{}x{}", l.input[2], l.output[2]),
        Kind::ConvDw => format!("{kh}x{kw}x{} dw", l.input[2]),
        Kind::AvgPool => format!("pool {kh}x{kw}"),
        Kind::Fc => format!("{}x{}", l.input[2], l.output[2]),
        Kind::Softmax => "classifier".to_string(),
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * part as f64 / whole as f64)
    }
}

/// Renders the whole report.
pub fn render(s: &Spec, plan: &Plan, t: &Totals, verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    let pad = match s.padding {
        Padding::Symmetric => "symmetric",
        Padding::TfSame => "tf_same",
    };
    let act = match s.activation {
        Activation::Relu => "relu",
        Activation::Relu6 => "relu6",
    };
    let _ = writeln!(out, "# {}: cost report\n", s.name);
    let _ = writeln!(
        out,
        "Width multiplier {}, resolution {}, padding {pad}, activation {act}, {}. \
         Input {}, {} classes, {} layers.\n",
        s.alpha,
        s.resolution,
        match s.precision {
            Precision::Float32 => format!("batch-norm eps {}", s.bn_eps),
            p => format!("precision {} (batch norm folded into the biases)", p.as_str()),
        },
        fmt_shape(plan.input),
        s.classes,
        plan.layers.len()
    );
    let _ = writeln!(
        out,
        "| # | row | name | type | stride | input | output | filter | params | mult-adds | share |"
    );
    let _ = writeln!(out, "|---:|---|---|---|---:|---|---|---|---:|---:|---:|");
    for (i, (l, cost)) in plan.layers.iter().zip(&t.layers).enumerate() {
        let _ = writeln!(
            out,
            "| {i} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.row.number,
            l.name,
            l.row.kind.as_str(),
            l.row.stride,
            fmt_shape(l.input),
            fmt_shape(l.output),
            filter(l),
            group_digits(cost.params as i64),
            group_digits(cost.mult_adds as i64),
            pct(cost.mult_adds, t.total.mult_adds),
        );
    }
    let _ = writeln!(out, "\n## By layer type (as Table 2)\n");
    let _ = writeln!(out, "| type | mult-adds | share | params | share |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (g, cost) in &t.groups {
        let _ = writeln!(
            out,
            "| {g} | {} | {} | {} | {} |",
            group_digits(cost.mult_adds as i64),
            pct(cost.mult_adds, t.total.mult_adds),
            group_digits(cost.params as i64),
            pct(cost.params, t.total.params)
        );
    }
    let _ = writeln!(out, "\n## Totals\n");
    let _ = writeln!(
        out,
        "- Mult-adds: {} ({})",
        group_digits(t.total.mult_adds as i64),
        short(t.total.mult_adds)
    );
    let _ = writeln!(
        out,
        "- FLOPs (2 per mult-add): {}",
        group_digits(2 * t.total.mult_adds as i64)
    );
    let _ = writeln!(
        out,
        "- Parameters (weights only, the paper's convention): {} ({})",
        group_digits(t.total.params as i64),
        short(t.total.params)
    );
    let (stored_what, value_type, weight_types) = match t.precision {
        Precision::Float32 => ("with batch norm and biases", "f32", "f32 numbers"),
        Precision::Int8 => ("weights and int32 biases", "int8", "int8 weights and int32 biases"),
        Precision::Uint8 => ("weights and int32 biases", "uint8", "uint8 weights and int32 biases"),
    };
    let _ = writeln!(
        out,
        "- Stored numbers ({stored_what}): {}",
        group_digits(t.total.stored as i64)
    );
    let _ = writeln!(
        out,
        "- Weight memory: {} bytes ({} MiB) of {weight_types}",
        group_digits(t.weight_bytes() as i64),
        mib(t.weight_bytes() as usize)
    );
    let layout = match t.layout {
        ArenaLayout::Runtime => format!(
            "the first padded so that the second starts {} bytes past a 4 KiB boundary",
            group_digits(crate::cost::ARENA_SKEW_BYTES as i64)
        ),
        ArenaLayout::Baked => "the second also holds the input image; no padding".to_owned(),
    };
    let _ = writeln!(
        out,
        "- Activation memory: {} bytes ({} MiB) in two buffers of {} and {} {value_type} values ({layout})",
        group_digits(t.arena_bytes() as i64),
        mib(t.arena_bytes()),
        group_digits(t.arena[0] as i64),
        group_digits(t.arena[1] as i64),
    );
    match &s.paper {
        None => {
            let _ = writeln!(out, "\n## Paper check\n\nThis spec quotes no figures from the paper.");
        }
        Some(p) => {
            let source = p.source.as_deref().unwrap_or("the paper");
            let _ = writeln!(out, "\n## Paper check ({source})\n");
            let _ = writeln!(out, "| figure | paper | counted | difference | allowed | verdict |");
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
            for v in verdicts {
                let pct = v.figure.group.is_some();
                let name = match &v.figure.group {
                    None => v.figure.measure.as_str().to_string(),
                    Some(g) => format!("{g} share of {}", v.figure.measure.as_str()),
                };
                let verdict = match (v.pass, &v.figure.tolerance) {
                    (true, None) => "ok".to_string(),
                    (true, Some(_)) => "ok, with the spec's tolerance (see note)".to_string(),
                    (false, _) => "**disagrees**".to_string(),
                };
                let diff = fmt_signed(v.difference, pct);
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} | {diff} | {} | {verdict} |",
                    v.figure.printed.text,
                    fmt_amount(v.counted, pct),
                    fmt_amount(v.allowed, pct),
                );
            }
            let notes: Vec<_> = verdicts
                .iter()
                .filter_map(|v| v.figure.note.as_ref().map(|n| (v, n)))
                .collect();
            if !notes.is_empty() {
                let _ = writeln!(out, "\nNotes:\n");
                for (v, note) in notes {
                    let name = v
                        .figure
                        .group
                        .as_deref()
                        .map_or(v.figure.measure.as_str().to_string(), |g| {
                            format!("{g} {}", v.figure.measure.as_str())
                        });
                    let _ = writeln!(out, "- {name} ({}): {note}", v.figure.printed.text);
                }
            }
            if let Some(top1) = p.top1 {
                let _ = writeln!(
                    out,
                    "\nImageNet top-1 reported by the paper: {top1}% (informational; not checked)."
                );
            }
        }
    }
    out
}

/// Bytes in MiB with two decimals.
fn mib(bytes: usize) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{mem, SMALL};
    use std::path::Path;

    fn report(text: &str) -> String {
        crate::compile::compile(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", text)]))
            .unwrap()
            .report
    }

    #[test]
    fn one_row_per_layer_and_the_totals() {
        let r = report(SMALL);
        assert_eq!(
            r.lines()
                .filter(|l| l.starts_with("| ") && l.contains(" layers."))
                .count(),
            7
        );
        assert!(
            r.contains("| 6 | 4 | classifier | fc | 1 | 1x1x8 | 1x1x10 | 8x10 | 80 | 80 | 1.01% |"),
            "{r}"
        );
        assert!(r.contains("- Mult-adds: 7,888 (7.9K)"), "{r}");
        assert!(r.contains("This spec quotes no figures from the paper."));
    }

    #[test]
    fn paper_section_marks_tolerances_and_notes() {
        let r = report(&format!("{SMALL}paper:\n  source: T\n  mult_adds: {{ value: 7K, tolerance: 1K, note: \"rounded\" }}\n  params: 568\n"));
        assert!(r.contains("## Paper check (T)"), "{r}");
        assert!(
            r.contains("| mult-adds | 7K | 7,888 | +888 | 1,000 | ok, with the spec's tolerance (see note) |"),
            "{r}"
        );
        assert!(r.contains("| parameters | 568 | 568 | +0 | 1 | ok |"), "{r}");
        assert!(r.contains("- mult-adds (7K): rounded"), "{r}");
    }

    #[test]
    fn short_counts() {
        assert_eq!(short(568_740_352), "568.74M");
        assert_eq!(short(7_888), "7.9K");
        assert_eq!(short(12), "12");
    }
}
