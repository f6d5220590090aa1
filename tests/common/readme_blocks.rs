//! The computed parts of README.md and docs/*.md sit between `<!-- name:begin -->` and
//! `<!-- name:end -->` markers; a test computes each and checks the copy (tests/readme.rs,
//! tests/mcu.rs).

/// The text between `name`'s markers.
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

/// Checks that `file`'s block `name` is `want`; with `MOBILENET_BLESS=1`, writes `want` there
/// first (review the diff).
pub fn expect_block(file: &str, name: &str, want: &str) {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    if std::env::var_os("MOBILENET_BLESS").is_some() {
        let old = block(&text, name).to_owned();
        let begin = format!("<!-- {name}:begin -->\n");
        let start = text.find(&begin).unwrap() + begin.len();
        text.replace_range(start..start + old.len(), want);
        std::fs::write(&path, &text).unwrap();
    }
    assert!(
        block(&text, name) == want,
        "{file}'s {name} block is out of date; run with MOBILENET_BLESS=1, or paste this between its markers:\n{want}"
    );
}
