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

/// One engine's row of a `bench/results/<spec>.md` table: (engine, threads, batch, median ms,
/// ours ÷ this).
fn bench_rows(results: &str) -> Vec<(String, String, String, String, String)> {
    results
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| engine") && !l.starts_with("| ---"))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|c| c.len() == 12)
        .map(|c| {
            (
                c[1].to_owned(),
                c[2].to_owned(),
                c[3].to_owned(),
                c[4].to_owned(),
                c[10].to_owned(),
            )
        })
        .take_while(|r| r.1.parse::<u32>().is_ok())
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
        let path = format!("{}/bench/results/{spec}.md", env!("CARGO_MANIFEST_DIR"));
        let results = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rows = bench_rows(&results);
        let find = |engine: &str, threads: &str, batch: &str| {
            rows.iter()
                .find(|r| r.0.starts_with(engine) && r.1 == threads && r.2 == batch)
                .unwrap_or_else(|| panic!("{path} has no {engine} row at {threads} threads, batch {batch}"))
        };
        let ours = find("**ours**", "1", "1");
        out.push_str(&format!(
            "| {spec} | {} ms | {} | {} | {} | {} | {} | {} | {} |\n",
            ours.3,
            find("LiteRT", "1", "1").4,
            find("LiteRT", "2", "1").4,
            find("ONNX Runtime", "1", "1").4,
            find("ONNX Runtime", "2", "1").4,
            find("ONNX Runtime", "2", "8").4,
            find("tract", "1", "1").4,
            find("tract", "2", "1").4,
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

/// One engine's row of a results file's int8 table: (engine, threads, batch, median ms, ours
/// int8 ÷ this, this ÷ ours f32).
fn int8_rows(results: &str) -> Vec<[String; 6]> {
    let table = results.split("### int8").nth(1).unwrap_or_default();
    table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| engine") && !l.starts_with("| ---"))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|c| c.len() == 13)
        .map(|c| [c[1], c[2], c[3], c[4], c[10], c[11]].map(str::to_owned))
        .take_while(|r| r[1].parse::<u32>().is_ok())
        .collect()
}

/// The README's int8 speed table, made from the int8 tables of the recorded runs.
fn int8_speed_summary() -> String {
    let mut out = String::from(
        "| spec | ours int8, 1 thread | ÷ LiteRT int8: 1 thread | 2 threads | ÷ ONNX Runtime int8: 1 thread | 2 threads | ÷ ours float32, 1 thread |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for spec in ["1.0-224", "0.5-160", "0.25-128"] {
        let path = format!("{}/bench/results/{spec}.md", env!("CARGO_MANIFEST_DIR"));
        let results = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rows = int8_rows(&results);
        let find = |engine: &str, threads: &str| {
            rows.iter()
                .find(|r| r[0].starts_with(engine) && r[1] == threads && r[2] == "1")
                .unwrap_or_else(|| panic!("{path} has no int8 {engine} row at {threads} threads"))
        };
        let ours = find("**ours**", "1");
        out.push_str(&format!(
            "| {spec} | {} ms | {} | {} | {} | {} | {} |\n",
            ours[3],
            find("LiteRT", "1")[4],
            find("LiteRT", "2")[4],
            find("ONNX Runtime", "1")[4],
            find("ONNX Runtime", "2")[4],
            ours[5],
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
