//! Compile-fail cases: one per class of spec error, each with the exact message a user sees
//! committed beside it (`tests/ui/*.stderr`). Regenerate with `TRYBUILD=overwrite` and review
//! the diff as a user would read it.

#[test]
fn spec_errors_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
