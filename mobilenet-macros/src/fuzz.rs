//! In-process fuzzing of the front end: generated and mutated specs through every stage
//! (yaml → spec → shapes → cost → paper → report, then codegen), without rustc.
//!
//! What must hold for every input: no panic and no arithmetic overflow (tests build with
//! overflow checks); a rejected spec's every error is located at a real line and column of
//! the file it names, the parent's when the error is in the parent; an accepted spec's shapes
//! and counts equal the ones this file computes on its own, from the expanded rows, with
//! formulae written here and `u128` arithmetic, and stay within the documented limits.
//!
//! `MOBILENET_FUZZ_CASES` sets the number of cases (default 10,000, which CI runs; the opt-in
//! long run is `MOBILENET_FUZZ_CASES=1000000 cargo test -p mobilenet-macros --release fuzz`).

use crate::compile::{self, Compiled, Failed};
use crate::limits;
use crate::spec::tests::mem;
use crate::spec::{Kind, Padding, Spec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Cases for one fuzz test: `MOBILENET_FUZZ_CASES`, or 10,000.
fn cases() -> u32 {
    std::env::var("MOBILENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Replacements for a number: the hostile values of issue 24 and the edges of every limit.
const NASTY: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "3",
    "1e300",
    "18446744073709551617",
    "18446744073709551615",
    "4294967297",
    ".nan",
    ".inf",
    "-.inf",
    "99999999",
    "1000000000",
    "1024",
    "1025",
    "8192",
    "8193",
    "65536",
    "65537",
    "0.5",
    "0x10",
    "\"7\"",
    "~",
    "",
    "[1, 2]",
    "{ a: 1 }",
];

/// Stray YAML syntax and words to insert.
const STRAY: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "&a ",
    "*a",
    "!!str ",
    "\"",
    "'",
    "|",
    ">",
    "#",
    "\t",
    "? ",
    ",",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "\n  - { type: conv }\n",
    "repeat: 3\n",
    "extends: table.yaml\n",
    "conv_dw",
    "softmax",
    "layers:",
    "paper: { mult_adds: 1M }\n",
    "\u{feff}",
    "é",
];

/// One edit of a spec's text. Indices are taken modulo what there is to pick from.
#[derive(Clone, Debug)]
enum Edit {
    Number { nth: usize, with: usize },
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
    Insert { at: usize, what: usize },
    SwapKeys(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0..NASTY.len()).prop_map(|(nth, with)| Edit::Number { nth, with }),
        1 => any::<usize>().prop_map(Edit::DeleteLine),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => (any::<usize>(), 0..STRAY.len()).prop_map(|(at, what)| Edit::Insert { at, what }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapKeys(a, b)),
    ]
}

/// Byte ranges of the unsigned decimal numbers in `text`.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_') {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of `word:` keys.
fn keys(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if b.get(i) == Some(&b':') {
                out.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    out
}

fn floor_char(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, e: &Edit) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let n = lines.len().max(1);
    match *e {
        Edit::Number { nth, with } => {
            let found = numbers(text);
            if found.is_empty() {
                return text.to_string();
            }
            let (a, b) = found[nth % found.len()];
            format!("{}{}{}", &text[..a], NASTY[with], &text[b..])
        }
        Edit::DeleteLine(i) => {
            let mut l = lines.clone();
            if !l.is_empty() {
                l.remove(i % n);
            }
            l.concat()
        }
        Edit::DuplicateLine(i) => {
            let mut l = lines.clone();
            if !l.is_empty() {
                l.insert(i % n, lines[i % n]);
            }
            l.concat()
        }
        Edit::SwapLines(a, b) => {
            let mut l = lines.clone();
            if !l.is_empty() {
                l.swap(a % n, b % n);
            }
            l.concat()
        }
        Edit::Truncate(at) => text[..floor_char(text, at % (text.len() + 1))].to_string(),
        Edit::Insert { at, what } => {
            let at = floor_char(text, at % (text.len() + 1));
            format!("{}{}{}", &text[..at], STRAY[what], &text[at..])
        }
        Edit::SwapKeys(a, b) => {
            let found = keys(text);
            if found.len() < 2 {
                return text.to_string();
            }
            let (x, y) = (found[a % found.len()], found[b % found.len()]);
            let (x, y) = if x.0 <= y.0 { (x, y) } else { (y, x) };
            if x == y {
                return text.to_string();
            }
            format!(
                "{}{}{}{}{}",
                &text[..x.0],
                &text[y.0..y.1],
                &text[x.1..y.0],
                &text[x.0..x.1],
                &text[y.1..]
            )
        }
    }
}

/// A random but mostly well-formed table: the first convolution, separable blocks (some in a
/// `repeat`), a pool, an fc and perhaps a softmax, with declared inputs computed here.
#[derive(Clone, Debug)]
struct Table {
    side: usize,
    first: usize,
    blocks: Vec<(usize, usize, usize, usize)>,
    softmax: bool,
    classes: usize,
    alpha: &'static str,
    resolution: Option<usize>,
    tf_same: bool,
    relu6: bool,
    declare: bool,
}

fn table() -> impl Strategy<Value = Table> {
    (
        (1usize..=12).prop_map(|k| 4 * k),
        1usize..=32,
        prop::collection::vec(
            (
                1usize..=2,
                1usize..=24,
                1usize..=3,
                prop_oneof![Just(3usize), Just(5), Just(1)],
            ),
            0..5,
        ),
        any::<bool>(),
        1usize..=20,
        prop_oneof![
            Just("1"),
            Just("0.75"),
            Just("0.5"),
            Just("0.25"),
            Just("0.3"),
            Just("0.9999")
        ],
        prop::option::of(1usize..=96),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(side, first, blocks, softmax, classes, alpha, resolution, tf_same, relu6, declare)| Table {
                side,
                first,
                blocks,
                softmax,
                classes,
                alpha,
                resolution,
                tf_same,
                relu6,
                declare,
            },
        )
}

impl Table {
    fn text(&self) -> String {
        let pad = if self.tf_same {
            Padding::TfSame
        } else {
            Padding::Symmetric
        };
        let out = |size: usize, k: usize, s: usize| independent_extent(size, k, s, pad).map_or(0, |(o, _)| o);
        let mut t = format!(
            "name: fuzz\ninput: [{s}, {s}, 3]\nclasses: {}\nwidth_multiplier: {}\n",
            self.classes,
            self.alpha,
            s = self.side
        );
        if let Some(r) = self.resolution {
            t += &format!("resolution: {r}\n");
        }
        t += &format!(
            "padding: {}\nactivation: {}\nlayers:\n",
            if self.tf_same { "tf_same" } else { "symmetric" },
            if self.relu6 { "relu6" } else { "relu" }
        );
        let declare = |h: usize, c: usize| {
            if self.declare {
                format!(", input: [{h}, {h}, {c}]")
            } else {
                String::new()
            }
        };
        t += &format!(
            "  - {{ type: conv, stride: 2, filter: [3, 3, 3, {}]{} }}\n",
            self.first,
            declare(self.side, 3)
        );
        let (mut h, mut c) = (out(self.side, 3, 2), self.first);
        for &(stride, cout, repeat, k) in &self.blocks {
            let dw = |h: usize, c: usize| {
                format!(
                    "{{ type: conv_dw, stride: {stride}, filter: [{k}, {k}, {c}]{} }}",
                    declare(h, c)
                )
            };
            if repeat > 1 {
                // A repeat keeps its input: stride 1 and the channels it starts with.
                t += &format!("  - repeat: {repeat}\n    layers:\n");
                t += &format!(
                    "      - {}\n",
                    dw(h, c).replace(&format!("stride: {stride}"), "stride: 1")
                );
                t += &format!("      - {{ type: conv, filter: [1, 1, {c}, {c}]{} }}\n", declare(h, c));
            } else {
                t += &format!("  - {}\n", dw(h, c));
                h = out(h, k, stride);
                t += &format!("  - {{ type: conv, filter: [1, 1, {c}, {cout}]{} }}\n", declare(h, c));
                c = cout;
            }
        }
        t += &format!("  - {{ type: avg_pool, filter: [{h}, {h}]{} }}\n", declare(h, c));
        t += &format!(
            "  - {{ type: fc, filter: [{c}, {}]{}, name: classifier }}\n",
            self.classes,
            declare(1, c)
        );
        if self.softmax {
            t += "  - { type: softmax }\n";
        }
        t
    }
}

/// Output size and zeros before, written here from the two conventions' definitions.
fn independent_extent(size: usize, k: usize, s: usize, padding: Padding) -> Option<(usize, usize)> {
    let (size, k, s) = (size as i128, k as i128, s as i128);
    match padding {
        Padding::Symmetric => {
            let p = (k - 1) / 2;
            let span = size + 2 * p - k;
            (span >= 0).then(|| ((span / s + 1) as usize, p as usize))
        }
        Padding::TfSame => {
            let out = (size + s - 1) / s;
            let total = ((out - 1) * s + k - size).max(0);
            Some((out as usize, (total / 2) as usize))
        }
    }
}

/// Shapes and costs of an accepted spec, from its expanded rows alone: the table in its own
/// units (for which pools are global), then at the width multiplier and resolution.
struct Counted {
    shapes: Vec<([usize; 3], [usize; 3])>,
    params: u128,
    stored: u128,
    mult_adds: u128,
    arena: u128,
}

fn independent_count(spec: &Spec) -> Counted {
    let pad = spec.padding;
    let [mut h, mut w, _] = spec.input;
    let mut global = Vec::new();
    for row in &spec.rows {
        if let Some(i) = row.input {
            (h, w) = (i[0], i[1]);
        }
        match row.kind {
            Kind::Conv | Kind::ConvDw => {
                h = independent_extent(h, row.filter[0], row.stride, pad).unwrap().0;
                w = independent_extent(w, row.filter[1], row.stride, pad).unwrap().0;
            }
            Kind::AvgPool => {
                global.push((row.index, row.filter[0] == h && row.filter[1] == w));
                h = (h - row.filter[0]) / row.stride + 1;
                w = (w - row.filter[1]) / row.stride + 1;
            }
            Kind::Fc | Kind::Softmax => (h, w) = (1, 1),
        }
    }
    let res = spec.resolution;
    let (mut y, mut x, mut c) = (res, res * spec.input[1] / spec.input[0], spec.input[2]);
    let alpha = |n: usize| (n as f64 * spec.alpha) as usize;
    let (mut params, mut stored, mut mult_adds) = (0u128, 0u128, 0u128);
    // A quantized model stores one int32 bias per output channel instead of batch norm.
    let mut biases = 0u128;
    let mut biggest = [0u128; 2];
    let mut shapes = Vec::new();
    // A spec that sets another class count than its table's widens the last fc (README, "The
    // spec format").
    let last_fc = spec.rows.iter().rposition(|r| r.kind == Kind::Fc);
    for (i, row) in spec.rows.iter().enumerate() {
        let input = [y, x, c];
        let (k0, k1) = (row.filter.first().copied(), row.filter.get(1).copied());
        match row.kind {
            Kind::Conv => {
                let (kh, kw, cout) = (k0.unwrap(), k1.unwrap(), alpha(row.filter[3]));
                y = independent_extent(y, kh, row.stride, pad).unwrap().0;
                x = independent_extent(x, kw, row.stride, pad).unwrap().0;
                let p = (kh * kw * c * cout) as u128;
                params += p;
                stored += p + 4 * cout as u128;
                biases += cout as u128;
                mult_adds += p * (y * x) as u128;
                c = cout;
            }
            Kind::ConvDw => {
                let (kh, kw) = (k0.unwrap(), k1.unwrap());
                y = independent_extent(y, kh, row.stride, pad).unwrap().0;
                x = independent_extent(x, kw, row.stride, pad).unwrap().0;
                let p = (kh * kw * c) as u128;
                params += p;
                stored += p + 4 * c as u128;
                biases += c as u128;
                mult_adds += p * (y * x) as u128;
            }
            Kind::AvgPool => {
                let is_global = global.iter().any(|&(j, g)| j == row.index && g);
                let (kh, kw) = if is_global { (y, x) } else { (k0.unwrap(), k1.unwrap()) };
                y = (y - kh) / row.stride + 1;
                x = (x - kw) / row.stride + 1;
            }
            Kind::Fc => {
                let cout = if Some(i) == last_fc && spec.classes != spec.table_classes {
                    spec.classes
                } else {
                    row.filter[1]
                };
                params += (c * cout) as u128;
                stored += (c * cout + cout) as u128;
                biases += cout as u128;
                mult_adds += (c * cout) as u128;
                c = cout;
            }
            Kind::Softmax => {}
        }
        shapes.push((input, [y, x, c]));
        biggest[i % 2] = biggest[i % 2].max((y * x * c) as u128);
    }
    // The first buffer ends a quarter page past a 4 KiB page (cost::ARENA_SKEW_BYTES).
    let size = spec.precision.bytes() as u128;
    let (page, skew) = (4096 / size, 1024 / size);
    let first = biggest[0].saturating_sub(skew).div_ceil(page) * page + skew;
    if spec.precision.is_quantized() {
        stored = params + biases;
    }
    Counted {
        shapes,
        params,
        stored,
        mult_adds,
        arena: first + biggest[1],
    }
}

/// Tallies over one run, so that a run that accepts or rejects nothing fails.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    rejected: AtomicUsize,
}

/// One case in this many also runs the code generator: it costs six times the rest of the
/// pipeline, and what it reads was checked already.
const GENERATE_EVERY: usize = 16;

/// Runs one spec (and its parent) through every stage and checks the outcome.
fn check_one(files: &[(&str, &str)], tally: &Tally) -> Result<(), TestCaseError> {
    let texts: HashMap<&str, &str> = files.iter().copied().collect();
    let store = mem(files);
    let start = Instant::now();
    let result = compile::compile(Path::new(files[0].0), files[0].0, &store);
    let took = start.elapsed();
    prop_assert!(took < Duration::from_secs(1), "the front end took {took:?}");
    match result {
        Ok(c) => {
            let n = tally.accepted.fetch_add(1, Relaxed);
            check_accepted(&c)?;
            if n.is_multiple_of(GENERATE_EVERY) {
                let file = syn::parse2::<syn::File>(crate::codegen::generate(&c));
                prop_assert!(file.is_ok(), "the expansion does not parse");
            }
        }
        Err(f) => {
            let n = tally.rejected.fetch_add(1, Relaxed);
            check_rejected(&f, &texts)?;
            if n.is_multiple_of(GENERATE_EVERY) {
                let tokens = crate::codegen::generate_failure(&f, proc_macro2::Span::call_site());
                prop_assert!(syn::parse2::<syn::File>(tokens).is_ok(), "failure stubs do not parse");
            }
        }
    }
    Ok(())
}

fn check_accepted(c: &Compiled) -> Result<(), TestCaseError> {
    let want = independent_count(&c.spec);
    let got: Vec<_> = c.plan.layers.iter().map(|l| (l.input, l.output)).collect();
    prop_assert_eq!(&got, &want.shapes);
    let t = &c.totals.total;
    prop_assert_eq!(u128::from(t.params), want.params);
    prop_assert_eq!(u128::from(t.stored), want.stored);
    prop_assert_eq!(u128::from(t.mult_adds), want.mult_adds);
    prop_assert_eq!(c.totals.arena_len() as u128, want.arena);
    prop_assert!(want.mult_adds <= u128::from(limits::MAX_MULT_ADDS));
    prop_assert!(want.stored <= u128::from(limits::MAX_STORED_PARAMS));
    prop_assert!(want.arena * c.spec.precision.bytes() as u128 <= 4 * u128::from(limits::MAX_ARENA_FLOATS));
    prop_assert!(c.spec.rows.len() <= limits::MAX_ROWS);
    Ok(())
}

fn check_rejected(f: &Failed, texts: &HashMap<&str, &str>) -> Result<(), TestCaseError> {
    prop_assert!(!f.diagnostics.is_empty(), "rejected without a reason");
    for d in &f.diagnostics {
        let Some(loc) = &d.loc else {
            // Only a file that is missing or unreadable concerns no line.
            prop_assert!(
                d.message.starts_with("cannot read spec file") || d.message.ends_with("could not be read"),
                "an error without a place: {}",
                d
            );
            continue;
        };
        let Some(text) = texts.get(&*loc.file) else {
            return Err(TestCaseError::fail(format!("names a file it did not read: {d}")));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        let line = lines.get(loc.pos.line.wrapping_sub(1));
        prop_assert!(
            line.is_some(),
            "line {} is not in {} ({} lines): {}",
            loc.pos.line,
            loc.file,
            lines.len(),
            d
        );
        let width = line.map_or(0, |l| l.len());
        prop_assert!(
            loc.pos.col >= 1 && loc.pos.col <= width + 1,
            "column {} is not on line {} of {} ({width} bytes): {}",
            loc.pos.col,
            loc.pos.line,
            loc.file,
            d
        );
    }
    Ok(())
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs").join(name)).unwrap()
}

/// Generated tables, most accepted, some mutated: the accepted ones' counts are checked.
#[test]
fn generated_and_mutated_tables() {
    let tally = Tally::default();
    let strategy = (table(), prop::collection::vec(edit(), 0..3), any::<bool>());
    runner()
        .run(&strategy, |(t, edits, mutate)| {
            let mut text = t.text();
            if mutate {
                for e in &edits {
                    text = apply(&text, e);
                }
            }
            check_one(&[("specs/fuzz.yaml", &text)], &tally)
        })
        .unwrap();
    let (a, r) = (tally.accepted.into_inner(), tally.rejected.into_inner());
    assert!(a * 5 >= a + r, "only {a} of {} generated tables were accepted", a + r);
    assert!(r > 0, "no generated table was rejected");
}

/// The shipped tables, mutated as issue 24's hostile user did, alone and as the parent of a
/// variant: errors in the parent name the parent.
#[test]
fn mutated_shipped_specs_and_parents() {
    let tally = Tally::default();
    let seeds = [
        shipped("v1_alpha1_224.yaml"),
        shipped("v1_shallow_224.yaml"),
        shipped("v1_conv_224.yaml"),
        crate::spec::tests::SMALL.to_string(),
    ];
    // The variant widens the classifier, as TF-slim's 1001-class exports do; the edits can
    // remove or change that line like any other.
    let child =
        "# a variant\nextends: table.yaml\nname: variant\nwidth_multiplier: 0.5\nresolution: 160\nclasses: 11\n";
    let strategy = (
        0..seeds.len(),
        prop::collection::vec(edit(), 1..5),
        prop::collection::vec(edit(), 0..2),
        0..3usize,
    );
    runner()
        .run(&strategy, |(seed, edits, child_edits, mode)| {
            let mut text = seeds[seed].clone();
            for e in &edits {
                text = apply(&text, e);
            }
            match mode {
                0 => check_one(&[("specs/table.yaml", &text)], &tally),
                _ => {
                    let mut c = child.to_string();
                    if mode == 2 {
                        for e in &child_edits {
                            c = apply(&c, e);
                        }
                    }
                    check_one(&[("specs/variant.yaml", &c), ("specs/table.yaml", &text)], &tally)
                }
            }
        })
        .unwrap();
    assert!(tally.rejected.into_inner() > 0);
}

/// Issue 24's two reproductions, and the other ways to ask for unbounded work, each a
/// located error well within a second.
#[test]
fn the_issue_24_reproductions_are_quick_located_errors() {
    let table = shipped("v1_alpha1_224.yaml");
    let huge_repeat = table.replacen("repeat: 5", "repeat: 1000000000", 1);
    assert_ne!(huge_repeat, table);
    let nested = "name: n\ninput: [8, 8, 3]\nclasses: 3\nlayers:\n  - repeat: 1024\n    layers:\n      - repeat: 1024\n        layers:\n          - repeat: 1024\n            layers:\n              - { type: softmax }\n";
    // Past yaml-rust2's own recursion limit, and past ours (64) but within its.
    let deeper = format!("name: d\nlayers: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let deep = format!("name: d\nlayers: {}{}\n", "[".repeat(100), "]".repeat(100));
    let big = format!("name: b\n{}", "# padding\n".repeat(limits::MAX_FILE_BYTES / 10 + 1));
    // (what, the files (the first is compiled), a word of the expected error, how many errors)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, usize);
    let cases: [Case<'_>; 6] = [
        (
            "resolution 99999999",
            &[
                (
                    "specs/f279.yaml",
                    "extends: table.yaml\nname: f279\nresolution: 99999999\n",
                ),
                ("specs/table.yaml", &table),
            ],
            "specs/f279.yaml:3:1: `resolution` 99999999 is above the limit of 8192",
            1,
        ),
        (
            "repeat 1000000000",
            &[("specs/table.yaml", &huge_repeat)],
            "`repeat` 1000000000 is above the limit of 1024",
            1,
        ),
        ("nested repeats", &[("s.yaml", nested)], "more than 1024 rows", 1),
        ("deep nesting", &[("s.yaml", &deep)], "nest deeper than 64 levels", 1),
        ("deeper nesting", &[("s.yaml", &deeper)], "recursion limit exceeded", 1),
        ("a huge file", &[("s.yaml", &big)], "is above the limit of 1048576", 1),
    ];
    for (what, files, message, count) in cases {
        let start = Instant::now();
        let f = compile::compile(Path::new(files[0].0), files[0].0, &mem(files)).unwrap_err();
        let took = start.elapsed();
        let all: Vec<String> = f.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
        assert_eq!(all.len(), count, "{what}: {all:#?}");
        assert!(all[0].contains(message), "{what}: {all:#?}");
        assert!(f.diagnostics[0].loc.is_some(), "{what}: not located");
    }
}

/// Each count limit is reached on its own, with a message at the row that crosses it.
#[test]
fn each_total_limit_is_reported_at_its_row() {
    let spec = |rows: &str| format!("name: l\ninput: [8192, 8192, 3]\nclasses: 10\nlayers:\n{rows}");
    let cases = [
        (
            // 1024-channel 3x3 at 4096x4096: a 2^34-float map.
            "  - { type: conv, stride: 2, filter: [3, 3, 3, 1024] }\n  - { type: avg_pool, filter: [4096, 4096] }\n  - { type: fc, filter: [1024, 10] }\n",
            "row 1 (conv, stride 2) outputs 4096x4096x1024: the activation arena would hold 17,179,870,464 floats, above the limit of 4,294,967,296",
        ),
        (
            "  - { type: conv, stride: 2, filter: [3, 3, 3, 8] }\n  - { type: conv, stride: 2, filter: [1, 1, 8, 8] }\n  - { type: conv, stride: 2, filter: [1, 1, 8, 8] }\n  - { type: conv, stride: 2, filter: [1, 1, 8, 8] }\n  - { type: conv, stride: 2, filter: [1, 1, 8, 8] }\n  - { type: conv, stride: 2, filter: [1, 1, 8, 65536] }\n  - { type: conv, filter: [1, 1, 65536, 65536] }\n  - { type: avg_pool, filter: [128, 128] }\n  - { type: fc, filter: [65536, 10] }\n",
            "row 7 (conv, stride 1) brings the weights' stored numbers to ",
        ),
        (
            "  - { type: conv, stride: 2, filter: [255, 255, 3, 64] }\n  - { type: conv, filter: [255, 255, 64, 64] }\n  - { type: avg_pool, filter: [4096, 4096] }\n  - { type: fc, filter: [64, 10] }\n",
            "row 2 (conv, stride 1) brings one image's mult-adds to 4,677,944,161,075,200, above the limit of 1,000,000,000,000,000",
        ),
    ];
    for (rows, message) in cases {
        let text = spec(rows);
        let f = compile::compile(Path::new("s.yaml"), "s.yaml", &mem(&[("s.yaml", &text)])).unwrap_err();
        assert_eq!(f.diagnostics.len(), 1, "{:#?}", f.diagnostics);
        assert!(f.diagnostics[0].to_string().contains(message), "{}", f.diagnostics[0]);
    }
}
