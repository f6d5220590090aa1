//! Compile-fail cases: one per class of spec error, each with the exact message a user sees
//! committed beside it (`tests/ui/*.stderr`). Regenerate with `TRYBUILD=overwrite` and review
//! the diff as a user would read it.

#[test]
fn spec_errors_are_compile_errors() {
    // trybuild builds the cases in a crate under the target directory, and a missing spec's
    // message names the path it looked at there. trybuild rewrites only this crate's own
    // directory to `$DIR`, so the committed messages say `$DIR/target/...`: with a custom
    // CARGO_TARGET_DIR they would differ, so the cases always build in the default one.
    // This binary holds this one test, so no other thread reads the environment meanwhile.
    std::env::remove_var("CARGO_TARGET_DIR");
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
