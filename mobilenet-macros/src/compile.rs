//! The pipeline, free of macro machinery: spec file in, everything the generator needs out.

use crate::cost::{self, ArenaLayout, Totals};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::paper::{self, Verdict};
use crate::shapes::{self, Plan};
use crate::spec::{self, SourceFiles, Spec};
use std::path::Path;

/// A spec that passed every check, with what was computed from it.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The parsed spec.
    pub spec: Spec,
    /// Shapes after the multipliers.
    pub plan: Plan,
    /// Costs.
    pub totals: Totals,
    /// The paper check, figure by figure.
    pub verdicts: Vec<Verdict>,
    /// The Markdown cost report.
    pub report: String,
}

/// What is known of a spec that failed: enough to emit stubs with the right names and, where
/// the header was readable, the right sizes.
#[derive(Clone, Debug, Default)]
pub struct Failed {
    /// Every problem, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The parsed spec, if parsing got that far.
    pub spec: Option<Spec>,
}

/// Runs every stage; all problems of all stages are gathered before giving up.
pub fn compile(path: &Path, display: &str, files: &dyn SourceFiles) -> Result<Compiled, Box<Failed>> {
    compile_for(path, display, files, ArenaLayout::Runtime)
}

/// [`compile`], with the arena planned for `layout`'s forward pass.
pub fn compile_for(
    path: &Path,
    display: &str,
    files: &dyn SourceFiles,
    layout: ArenaLayout,
) -> Result<Compiled, Box<Failed>> {
    let spec = spec::load(path, display, files).map_err(|diagnostics| Failed {
        diagnostics,
        spec: None,
    })?;
    let mut ds = Diagnostics::new();
    // Sizes past the limits are not worth shapes: the arithmetic would only be refused later.
    let plan = crate::bounds::check_spec(&spec, &mut ds)
        .then(|| shapes::infer(&spec, &mut ds))
        .flatten();
    let mut out = None;
    if let Some((plan, totals)) = plan.and_then(|p| cost::count(&p, spec.precision, layout, &mut ds).map(|t| (p, t))) {
        let verdicts = match &spec.paper {
            Some(p) => paper::check(p, &totals, &mut ds),
            None => Vec::new(),
        };
        let report = crate::report::render(&spec, &plan, &totals, &verdicts);
        out = Some(Compiled {
            spec: spec.clone(),
            plan,
            totals,
            verdicts,
            report,
        });
    }
    match ds.into_result(out) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Box::new(Failed {
            diagnostics: vec![Diagnostic::global(format!(
                "{display}: shape inference stopped without saying why (a bug in mobilenet-macros)"
            ))],
            spec: Some(spec),
        })),
        Err(diagnostics) => Err(Box::new(Failed {
            diagnostics,
            spec: Some(spec),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn specs_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs")
    }

    #[test]
    fn every_shipped_spec_compiles_and_passes_its_paper_check() {
        let mut n = 0;
        for entry in std::fs::read_dir(specs_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let display = format!("specs/{}", path.file_name().unwrap().to_string_lossy());
                let c = compile(&path, &display, &spec::Disk).unwrap_or_else(|f| {
                    panic!(
                        "{display}:\n{}",
                        f.diagnostics
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                });
                assert!(!c.verdicts.is_empty(), "{display} checks no paper figure");
                assert!(c.verdicts.iter().all(|v| v.pass));
                n += 1;
            }
        }
        assert!(n >= 10);
    }

    #[test]
    fn literal_table_1_fails_at_row_17() {
        let text = std::fs::read_to_string(specs_dir().join("v1_alpha1_224.yaml")).unwrap();
        let literal = text.replace(
            "- { type: conv_dw,  stride: 1, filter: [3, 3, 1024],",
            "- { type: conv_dw,  stride: 2, filter: [3, 3, 1024],",
        );
        assert_ne!(text, literal);
        let files = spec::tests::mem(&[("t.yaml", &literal)]);
        let f = compile(Path::new("t.yaml"), "t.yaml", &files).unwrap_err();
        assert_eq!(f.diagnostics.len(), 1, "{:?}", f.diagnostics);
        let msg = f.diagnostics[0].to_string();
        assert!(
            msg.contains(
                "row 17 (conv_dw, stride 2) outputs 4x4x1024, but row 18 (conv, stride 1) declares input 7x7x1024"
            ),
            "{msg}"
        );
    }

    #[test]
    fn report_shows_errata() {
        let c = compile(
            &specs_dir().join("v1_alpha1_224.yaml"),
            "specs/v1_alpha1_224.yaml",
            &spec::Disk,
        )
        .unwrap();
        assert!(
            c.report
                .contains("| conv_3x3 share of mult-adds | 1.19% | 1.91% | +0.716%"),
            "{}",
            c.report
        );
        assert!(c.report.contains("two digits swapped"));
        let c = compile(
            &specs_dir().join("v1_conv_224.yaml"),
            "specs/v1_conv_224.yaml",
            &spec::Disk,
        )
        .unwrap();
        assert!(
            c.report.contains("| mult-adds | 4866M | 4,867,293,184 | +1,293,184"),
            "{}",
            c.report
        );
    }
}
