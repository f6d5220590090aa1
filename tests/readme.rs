//! The README's computed parts are copies of what the code computes; this keeps them current.
//! On failure, the message holds the block to paste.

mod v1 {
    mobilenet::mobilenet!("specs/v1_alpha1_224.yaml");
}

fn block<'a>(readme: &'a str, name: &str) -> &'a str {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = readme.find(&begin).unwrap_or_else(|| panic!("README has no {begin}")) + begin.len();
    let stop = readme[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("README has no {end}"))
        + start;
    &readme[start..stop]
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_cost_report_is_current() {
    let readme = readme();
    let want = v1::COST_REPORT.replacen("# ", "### ", 1).replace("\n## ", "\n#### ");
    assert!(
        block(&readme, "cost-report") == want,
        "paste this between the cost-report markers:\n{want}"
    );
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
    assert!(
        block(&readme(), "error") == want,
        "paste this between the error markers:\n{want}"
    );
}

#[allow(dead_code)]
mod costs {
    include!("../examples/costs.rs");
}

#[test]
fn readme_summary_is_current() {
    let want = costs::summary();
    assert!(
        block(&readme(), "summary") == want,
        "paste this between the summary markers:\n{want}"
    );
}
