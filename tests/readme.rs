//! The README's computed parts are copies of what the code computes; this keeps them current.
//! On failure, the message holds the block to paste.

mod v1 {
    mobilenet::mobilenet!("specs/v1_alpha1_224.yaml");
}

#[path = "common/readme_blocks.rs"]
mod readme_blocks;

use readme_blocks::expect_block;

#[test]
fn cost_report_is_current() {
    let want = v1::COST_REPORT.replacen("# ", "### ", 1).replace("\n## ", "\n#### ");
    expect_block("docs/costs.md", "cost-report", &want);
}

#[test]
fn readme_cost_totals_are_current() {
    let report = v1::COST_REPORT;
    let totals = report.find("## Totals").expect("the report has totals");
    let want = report[totals..].replace("## ", "#### ");
    expect_block("README.md", "cost-totals", &want);
}

#[test]
fn readme_error_is_the_real_one() {
    let stderr = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ui/table1_as_printed.stderr"
    ))
    .unwrap();
    let message: Vec<&str> = stderr.lines().take_while(|l| !l.starts_with(" -->")).collect();
    let want = format!("```text\n{}\n```\n", message.join("\n"));
    expect_block("README.md", "error", &want);
}

#[allow(dead_code)]
mod costs {
    include!("../examples/costs.rs");
}

#[test]
fn readme_summary_is_current() {
    let want = costs::summary();
    expect_block("docs/costs.md", "summary", &want);
}

/// The path and text of `bench/results/<spec>.md`, the recorded run of `spec`.
fn recorded_run(spec: &str) -> (String, String) {
    let path = format!("{}/bench/results/{spec}.md", env!("CARGO_MANIFEST_DIR"));
    let results = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (path, results)
}

/// The engine rows of the first table in `text` whose rows have `cells` cells (the empty ones
/// outside the outer bars included), trimmed; up to the first row whose threads column is not
/// a number.
fn table_rows(text: &str, cells: usize) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| engine") && !l.starts_with("| ---"))
        .map(|l| l.split('|').map(|c| c.trim().to_owned()).collect::<Vec<_>>())
        .filter(|c| c.len() == cells)
        .take_while(|c| c[2].parse::<u32>().is_ok())
        .collect()
}

/// The README's speed table, made from the recorded runs in `bench/results/`.
fn speed_summary() -> String {
    let mut out = String::from(
        "| spec | ours, 1 thread | ÷ LiteRT: 1 thread | 2 threads | ÷ ONNX Runtime: 1 thread | 2 threads | batch 8 | ÷ tract: 1 thread | 2 threads |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut machines = Vec::new();
    for spec in ["1.0-224", "0.5-160", "0.25-128"] {
        let (path, results) = recorded_run(spec);
        // engine, threads, batch, median ms, ..., ours ÷ this
        let rows = table_rows(&results, 12);
        let find = |engine: &str, threads: &str, batch: &str| {
            let row = rows
                .iter()
                .find(|r| r[1].starts_with(engine) && r[2] == threads && r[3] == batch)
                .unwrap_or_else(|| panic!("{path} has no {engine} row at {threads} threads, batch {batch}"));
            (&row[4], &row[10])
        };
        let ours = find("**ours**", "1", "1");
        out.push_str(&format!(
            "| {spec} | {} ms | {} | {} | {} | {} | {} | {} | {} |\n",
            ours.0,
            find("LiteRT", "1", "1").1,
            find("LiteRT", "2", "1").1,
            find("ONNX Runtime", "1", "1").1,
            find("ONNX Runtime", "2", "1").1,
            find("ONNX Runtime", "2", "8").1,
            find("tract", "1", "1").1,
            find("tract", "2", "1").1,
        ));
        // The header's second field is the machine, its fourth the commit measured.
        let header = results.lines().find(|l| l.contains(" · commit ")).unwrap_or_default();
        let fields: Vec<&str> = header.split(" · ").collect();
        if let (Some(machine), Some(commit)) = (fields.get(1), fields.get(2)) {
            let line = format!("{machine}, {commit}");
            if !machines.contains(&line) {
                machines.push(line);
            }
        }
    }
    out.push_str(&format!("\nMeasured on {}.\n", machines.join("; ")));
    out
}

/// The README's int8 speed table, made from the int8 tables of the recorded runs.
fn int8_speed_summary() -> String {
    let mut out = String::from(
        "| spec | ours int8, 1 thread | ÷ LiteRT int8: 1 thread | 2 threads | ÷ ONNX Runtime int8: 1 thread | 2 threads | ÷ ours float32, 1 thread |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for spec in ["1.0-224", "0.5-160", "0.25-128"] {
        let (path, results) = recorded_run(spec);
        // engine, threads, batch, median ms, ..., ours int8 ÷ this, this ÷ ours f32
        let int8 = results.split("### int8").nth(1).unwrap_or_default();
        let rows = table_rows(int8, 13);
        let find = |engine: &str, threads: &str| {
            let row = rows
                .iter()
                .find(|r| r[1].starts_with(engine) && r[2] == threads && r[3] == "1")
                .unwrap_or_else(|| panic!("{path} has no int8 {engine} row at {threads} threads"));
            (&row[4], &row[10], &row[11])
        };
        let ours = find("**ours**", "1");
        out.push_str(&format!(
            "| {spec} | {} ms | {} | {} | {} | {} | {} |\n",
            ours.0,
            find("LiteRT", "1").1,
            find("LiteRT", "2").1,
            find("ONNX Runtime", "1").1,
            find("ONNX Runtime", "2").1,
            ours.2,
        ));
    }
    out
}

#[test]
fn readme_int8_speed_table_is_the_recorded_runs() {
    let want = int8_speed_summary();
    expect_block("README.md", "speed-int8", &want);
}

#[test]
fn readme_speed_table_is_the_recorded_runs() {
    let want = speed_summary();
    expect_block("README.md", "speed", &want);
}
