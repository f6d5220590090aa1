//! The paper check: each figure the spec quotes from the paper against the count.
//!
//! A figure passes when the count is within one unit of its last printed digit (569M: within
//! 1M; 1.32M: within 0.01M; 94.86%: within 0.01 points), because the paper rounds some figures
//! and truncates others; or within the figure's own `tolerance`, which must carry a `note`.

use crate::cost::Totals;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::numbers::{fmt_amount, fmt_signed};
use crate::spec::{Figure, Measure, Paper};

/// The outcome for one figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The figure as the spec states it.
    pub figure: Figure,
    /// What the count gives, in the figure's units (plain count or percent).
    pub counted: f64,
    /// `counted - printed`.
    pub difference: f64,
    /// The allowance applied.
    pub allowed: f64,
    /// Whether it passes.
    pub pass: bool,
}

/// The count a figure speaks of, or None for a breakdown group the model does not have.
fn counted(figure: &Figure, totals: &Totals) -> Option<f64> {
    let pick = |c: &crate::cost::Cost| match figure.measure {
        Measure::MultAdds => c.mult_adds as f64,
        Measure::Params => c.params as f64,
    };
    match &figure.group {
        None => Some(pick(&totals.total)),
        Some(g) => {
            let (_, cost) = totals.groups.iter().find(|(name, _)| name == g)?;
            let whole = pick(&totals.total);
            Some(if whole == 0.0 { 0.0 } else { 100.0 * pick(cost) / whole })
        }
    }
}

/// Checks every figure; failures go to `ds`, verdicts (passing or not) are returned for the report.
pub fn check(paper: &Paper, totals: &Totals, ds: &mut Diagnostics) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for f in &paper.figures {
        let Some(counted) = counted(f, totals) else {
            let known: Vec<&str> = totals.groups.iter().map(|(g, _)| g.as_str()).collect();
            ds.push(
                Diagnostic::at(
                    &f.loc,
                    format!(
                        "`paper.breakdown` names the layer group `{}`, which this model does not have",
                        f.group.as_deref().unwrap_or("")
                    ),
                )
                .hint(format!("this model's groups: {}", known.join(", "))),
            );
            continue;
        };
        let allowed = f.tolerance.as_ref().map_or(f.printed.last_digit, |t| t.value);
        let difference = counted - f.printed.value;
        // A hair of slack for the float arithmetic of the printed value itself.
        let pass = difference.abs() <= allowed * (1.0 + 1e-9);
        if !pass {
            let what = match &f.group {
                None => format!("the paper's {} figure {}", f.measure.as_str(), f.printed.text),
                Some(g) => format!(
                    "the paper's share of {} for `{g}`, {}",
                    f.measure.as_str(),
                    f.printed.text
                ),
            };
            let rule = match &f.tolerance {
                Some(t) => format!("the spec's tolerance {}", t.text),
                None => format!(
                    "one unit of its last printed digit ({})",
                    fmt_amount(f.printed.last_digit, f.group.is_some())
                ),
            };
            ds.push(
                Diagnostic::at(&f.loc, format!(
                    "{what} disagrees with the count: counted {}, a difference of {} beyond {rule}",
                    fmt_amount(counted, f.group.is_some()),
                    fmt_signed(difference, f.group.is_some()),
                ))
                .hint("check the table against the paper; if the paper itself is wrong, give the figure a `tolerance` and a `note` saying why"),
            );
        }
        verdicts.push(Verdict {
            figure: f.clone(),
            counted,
            difference,
            allowed,
            pass,
        });
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Cost;
    use crate::diagnostics::Loc;
    use crate::numbers::group_digits;
    use crate::spec::parse_printed;

    fn totals() -> Totals {
        Totals {
            layers: vec![],
            total: Cost {
                params: 4_209_088,
                stored: 0,
                biases: 0,
                mult_adds: 568_740_352,
            },
            groups: vec![(
                "conv_3x3".into(),
                Cost {
                    params: 864,
                    stored: 0,
                    biases: 0,
                    mult_adds: 10_838_016,
                },
            )],
            arena: [0, 0],
            precision: crate::spec::Precision::Float32,
            layout: crate::cost::ArenaLayout::Runtime,
        }
    }

    fn figure(measure: Measure, group: Option<&str>, text: &str, tol: Option<&str>) -> Figure {
        let pct = group.is_some();
        Figure {
            measure,
            group: group.map(str::to_string),
            printed: parse_printed(text, pct).unwrap(),
            tolerance: tol.map(|t| parse_printed(t, pct).unwrap()),
            note: tol.map(|_| "why".to_string()),
            loc: Loc {
                file: "s.yaml".into(),
                pos: Default::default(),
            },
        }
    }

    fn run(figures: Vec<Figure>) -> (Vec<Verdict>, Vec<String>) {
        let mut ds = Diagnostics::new();
        let v = check(
            &Paper {
                figures,
                ..Default::default()
            },
            &totals(),
            &mut ds,
        );
        let errs = ds
            .into_result(())
            .err()
            .unwrap_or_default()
            .iter()
            .map(|d| d.to_string())
            .collect();
        (v, errs)
    }

    #[test]
    fn last_digit_rule() {
        let (v, e) = run(vec![
            figure(Measure::MultAdds, None, "569M", None),
            figure(Measure::Params, None, "4.2M", None),
        ]);
        assert!(e.is_empty(), "{e:?}");
        assert!(v.iter().all(|v| v.pass));
        let (_, e) = run(vec![figure(Measure::MultAdds, None, "567M", None)]);
        assert!(
            e[0].contains(
                "counted 568,740,352, a difference of +1,740,352 beyond one unit of its last printed digit (1,000,000)"
            ),
            "{e:?}"
        );
        let (_, e) = run(vec![figure(Measure::Params, None, "4.19M", None)]);
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn shares_and_tolerance() {
        // 10,838,016 / 568,740,352 = 1.906%: Table 2 prints 1.19% (digits swapped).
        let (_, e) = run(vec![figure(Measure::MultAdds, Some("conv_3x3"), "1.19%", None)]);
        assert!(e[0].contains("counted 1.91%"), "{e:?}");
        let (v, e) = run(vec![figure(
            Measure::MultAdds,
            Some("conv_3x3"),
            "1.19%",
            Some("0.72%"),
        )]);
        assert!(e.is_empty() && v[0].pass, "{e:?}");
        let (_, e) = run(vec![figure(Measure::MultAdds, Some("conv_5x5"), "1%", None)]);
        assert!(e[0].contains("does not have"), "{e:?}");
    }

    #[test]
    fn digits() {
        assert_eq!(group_digits(4209088), "4,209,088");
        assert_eq!(group_digits(-1000), "-1,000");
        assert_eq!(group_digits(12), "12");
    }
}
