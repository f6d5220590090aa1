// Prints the cost report of every spec the paper reports, then Tables 6 and 7 of the paper
// beside the counts `mobilenet!` made at compile time. Every number comes from the macro's
// constants.
//
// `cargo run --example costs` (add `-- --summary` for the side-by-side tables only).

use mobilenet::runtime::PaperFigure;

#[macro_use]
#[path = "../specs/list.rs"]
mod spec_list;

macro_rules! models {
    ($($group:ident $module:ident => $path:literal;)*) => {
        $(mod $module { mobilenet::mobilenet!($path); })*
        const MODELS: &[Model] = &[$(Model {
            spec: $path,
            name: $module::NAME,
            report: $module::COST_REPORT,
            mult_adds: $module::MULT_ADDS,
            params: $module::PARAMS,
            paper: $module::PAPER,
            source: $module::PAPER_SOURCE,
            top1: $module::PAPER_TOP1,
        }),*];
    };
}

struct Model {
    spec: &'static str,
    name: &'static str,
    report: &'static str,
    mult_adds: u64,
    params: u64,
    paper: &'static [PaperFigure],
    source: &'static str,
    top1: Option<f64>,
}

with_specs!(paper => models! {});

fn figure<'a>(m: &'a Model, what: &str) -> Option<&'a PaperFigure> {
    m.paper.iter().find(|f| f.what == what)
}

fn millions(v: f64) -> String {
    format!("{:.2}M", v / 1e6)
}

/// `+9,088`: a difference, exactly.
fn signed(v: f64) -> String {
    let digits = (v.abs().round() as u64).to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}{grouped}", if v < 0.0 { "-" } else { "+" })
}

/// One row of a "paper vs computed" table.
fn row(m: &Model) -> String {
    let cell = |what: &str, counted: u64| match figure(m, what) {
        Some(f) => format!(
            "{} | {} | {}",
            f.printed,
            millions(counted as f64),
            signed(counted as f64 - f.paper)
        ),
        None => format!("- | {} | -", millions(counted as f64)),
    };
    format!(
        "| {} | {} | {} | {} |",
        m.name,
        m.top1.map_or("-".to_string(), |t| format!("{t}%")),
        cell("mult_adds", m.mult_adds),
        cell("params", m.params)
    )
}

fn table(out: &mut String, title: &str, models: &[&Model]) {
    out.push_str(&format!("\n### {title}\n\n"));
    out.push_str(
        "| model | top-1 | mult-adds (paper) | counted | difference | params (paper) | counted | difference |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for m in models {
        out.push_str(&row(m));
        out.push('\n');
    }
}

/// Tables 6 and 7 (and the other variants' figures) beside the counts, as Markdown.
pub fn summary() -> String {
    let pick = |specs: &[&str]| -> Vec<&Model> {
        specs
            .iter()
            .filter_map(|s| MODELS.iter().find(|m| m.spec.ends_with(s)))
            .collect()
    };
    let mut out = String::new();
    table(
        &mut out,
        "Table 6: width multiplier (resolution 224)",
        &pick(&[
            "v1_alpha1_224.yaml",
            "v1_alpha0.75_224.yaml",
            "v1_alpha0.5_224.yaml",
            "v1_alpha0.25_224.yaml",
        ]),
    );
    table(
        &mut out,
        "Table 7: resolution (width multiplier 1)",
        &pick(&[
            "v1_alpha1_224.yaml",
            "v1_alpha1_192.yaml",
            "v1_alpha1_160.yaml",
            "v1_alpha1_128.yaml",
        ]),
    );
    table(
        &mut out,
        "Tables 4, 5 and 9: the other variants",
        &pick(&["v1_conv_224.yaml", "v1_shallow_224.yaml", "v1_alpha0.5_160.yaml"]),
    );
    let sources: Vec<String> = MODELS.iter().map(|m| format!("{}: {}", m.name, m.source)).collect();
    out.push_str(&format!("\nFigures quoted from: {}.\n", sources.join("; ")));
    out
}

fn main() {
    if !std::env::args().any(|a| a == "--summary") {
        for m in MODELS {
            println!("<!-- {} -->\n{}", m.spec, m.report);
        }
        println!("## The paper's tables beside the counts");
    }
    print!("{}", summary());
}
