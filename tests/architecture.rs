//! Keeps the recipes of `docs/ARCHITECTURE.md` (how to add an operator, an instruction set, a
//! data type) honest: every path a recipe names exists, and its table of instruction sets is
//! the code's. And the promise of its module graph: no two files of either crate import each
//! other, directly or round a loop (`tools/check_import_cycles.py`).

use std::path::{Path, PathBuf};

use mobilenet::runtime::kernels::Isa;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `### How to add ...` sections: (heading, body).
fn recipes() -> Vec<(String, String)> {
    let doc = read("docs/ARCHITECTURE.md");
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in doc.lines() {
        if line.starts_with('#') {
            out.extend(current.take());
            if line.starts_with("### How to add ") {
                current = Some((line.to_owned(), String::new()));
            }
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.extend(current);
    out
}

/// The `code` spans of `text` that name a file or folder: a `/` in them, or a `.rs` end.
fn paths(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| !span.contains(' ') && (span.contains('/') || span.ends_with(".rs")))
        .collect()
}

/// Every existing path under `base` that `pattern` matches, where a `<name>` in a segment
/// stands for any text (`pairs_<isa>.rs` matches `pairs_avx2.rs`).
fn matches(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![base.to_path_buf()];
    for segment in pattern.split('/').filter(|s| !s.is_empty()) {
        let Some(open) = segment.find('<') else {
            found = found
                .into_iter()
                .map(|p| p.join(segment))
                .filter(|p| p.exists())
                .collect();
            continue;
        };
        let close = segment.find('>').expect("a `<name>` placeholder is closed");
        let (prefix, suffix) = (&segment[..open], &segment[close + 1..]);
        found = found
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .map(|entry| entry.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.len() > prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
            })
            .collect();
    }
    if pattern.ends_with('/') {
        found.retain(|p| p.is_dir());
    }
    found
}

#[test]
fn every_path_a_recipe_names_exists() {
    let recipes = recipes();
    assert_eq!(recipes.len(), 3, "an operator, an instruction set, a data type");
    for (heading, body) in &recipes {
        // Folders named earlier in the recipe, which later paths may be relative to.
        let mut bases = vec![root().to_path_buf()];
        for path in paths(body) {
            let found: Vec<PathBuf> = bases.iter().flat_map(|base| matches(base, path)).collect();
            assert!(
                !found.is_empty(),
                "{heading}: `{path}` is not in the repository, nor under a folder the recipe named before it"
            );
            if path.ends_with('/') {
                bases.extend(found);
            }
        }
    }
}

/// Every instruction-set path, by the name of its `Isa` variant. A new variant does not compile
/// here until it is added, and then the recipe's table must have its row.
fn variants() -> Vec<String> {
    let name = |isa: Isa| match isa {
        Isa::Avx512 | Isa::Avx2 | Isa::Portable => format!("{isa:?}"),
    };
    [Isa::Avx512, Isa::Avx2, Isa::Portable].into_iter().map(name).collect()
}

#[test]
fn the_instruction_set_table_is_the_codes() {
    let (_, body) = recipes()
        .into_iter()
        .find(|(heading, _)| heading.contains("instruction set"))
        .expect("the instruction-set recipe");
    // Under the header | `Isa` | `MOBILENET_ISA` | table in f32/config.rs | matrix-product
    // kernels | and its rule, one row per path.
    let rows: Vec<Vec<String>> = body
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect())
        .map(|cells: Vec<String>| cells[1..cells.len() - 1].to_vec())
        .collect();
    let column = |i: usize| {
        let mut c: Vec<String> = rows.iter().map(|r| r[i].clone()).collect();
        c.sort();
        c
    };
    let mut want = variants();
    want.sort();
    assert_eq!(column(0), want, "the table's `Isa` variants");

    let isa_rs = read("mobilenet-runtime/src/kernels/isa.rs");
    for name in column(1) {
        assert!(
            isa_rs.contains(&format!("`{name}`")),
            "MOBILENET_ISA={name} is not in isa.rs"
        );
    }

    let config = read("mobilenet-runtime/src/kernels/f32/config.rs");
    let mut tables: Vec<String> = config
        .lines()
        .filter_map(|l| l.strip_prefix("static ")?.strip_suffix(": Kernels = Kernels {"))
        .map(str::to_owned)
        .collect();
    tables.sort();
    assert_eq!(column(2), tables, "the `Kernels` tables of f32/config.rs");

    for file in column(3) {
        let stem = file.rsplit('/').next().unwrap().trim_end_matches(".rs");
        assert!(
            config.contains(&format!("super::gemm::{stem}::CONFIG")),
            "f32/config.rs names no `{file}`"
        );
    }
}

#[test]
fn no_module_imports_another_that_imports_it() {
    for src in ["mobilenet-runtime/src", "mobilenet-macros/src"] {
        let out = std::process::Command::new("python3")
            .current_dir(root())
            .args(["tools/check_import_cycles.py", src])
            .output()
            .expect("python3 runs (the test machine has CPython 3)");
        assert!(
            out.status.success(),
            "{src} has import circles:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
