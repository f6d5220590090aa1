//! The compiler's documented limits. `bounds.rs` checks a spec's stated sizes against them;
//! every stage that computes a count refuses one past them with a located error instead of
//! work (`diagnostics::over_limit`).
//!
//! A spec is user input: a typo (`repeat: 1000000000`, `resolution: 99999999`) must give an
//! error within a second, not exhaust the compiler's memory or wrap a count around `u64`. Each
//! limit is generous for real networks (the largest shipped spec, 1.0 MobileNet-224, is
//! given beside it) and far below what would overflow the arithmetic or what a machine could
//! hold. Every count the stages compute is also done with checked arithmetic, so a gap
//! between two limits is still an error, never a wrapped number.

/// Largest spec file, in bytes (shipped specs: under 4 KB). A larger file is refused before
/// it is parsed, so parsing time and memory stay small.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Deepest nesting of YAML lists and mappings (Table 1: 4). Keeps the tree walks, which
/// recurse, far from the stack's end.
pub const MAX_NESTING: usize = 64;

/// Largest `repeat` count (Table 1: 5).
pub const MAX_REPEAT: usize = 1024;

/// Most rows after `repeat` expansion (Table 1: 30). Every row becomes a kernel call in the
/// expanded code, so this also bounds what rustc is handed.
pub const MAX_ROWS: usize = 1024;

/// Largest height, width, resolution or kernel side, in pixels (Table 1: 224).
pub const MAX_SIDE: usize = 8192;

/// Largest channel count, `classes` and fc width included (Table 1: 1024 and 1000 classes;
/// ImageNet-21k's 21,843 classes fit).
pub const MAX_CHANNELS: usize = 65_536;

/// Most f32 activations: the arena `Model::new` allocates, and the input image (1.0-224:
/// 1.6 million, 6.4 MB). 2^32 floats are 16 GiB.
pub const MAX_ARENA_FLOATS: u64 = 1 << 32;

/// Most stored numbers in a weights file (1.0-224: 4.3 million). 2^32 f32 are 16 GiB.
pub const MAX_STORED_PARAMS: u64 = 1 << 32;

/// Most multiply-adds for one image (1.0-224: 569 million). 10^15 would take a CPU core
/// hours per image; it also keeps `FLOPS` (twice this) far inside `u64` and `i64`.
pub const MAX_MULT_ADDS: u64 = 1_000_000_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits' arithmetic headroom: products of limited values must fit where the stages
    /// keep them, so that only the totals' checked sums can overflow.
    #[test]
    fn limited_products_fit_u64() {
        let side = MAX_SIDE as u64;
        let ch = MAX_CHANNELS as u64;
        // A conv's params (kh kw cin cout) and a map's floats (h w c) cannot overflow.
        assert!(side.checked_mul(side).and_then(|x| x.checked_mul(ch * ch)).is_some());
        assert!(side.checked_mul(side * ch).is_some());
        // Per-layer mult-adds below the params limit times a whole map fit too.
        assert!(MAX_STORED_PARAMS.checked_mul(side * side).is_some());
        assert!(MAX_MULT_ADDS.checked_mul(2).is_some_and(|f| f < i64::MAX as u64));
    }

    /// The table of docs/testing.md (Reliability) states these values.
    #[test]
    fn the_docs_state_the_limits() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/testing.md")).unwrap();
        let power = |v: u64, base: u64| {
            let e = v.ilog(base);
            assert_eq!(base.pow(e), v, "{v} is not a power of {base}");
            format!("{base}^{e}")
        };
        let rows = [
            format!(
                "| spec file; YAML nesting | {} MiB; {MAX_NESTING} levels |",
                MAX_FILE_BYTES >> 20
            ),
            format!("| `repeat`; rows after expansion | {MAX_REPEAT}; {MAX_ROWS} |"),
            format!("| height, width, `resolution`, kernel side | {MAX_SIDE} |"),
            format!(
                "| channels, `classes` | {} |",
                crate::numbers::group_digits(MAX_CHANNELS as i64)
            ),
            format!(
                "| activation arena, input image (f32) | {} ({} GiB) |",
                power(MAX_ARENA_FLOATS, 2),
                (MAX_ARENA_FLOATS * 4) >> 30
            ),
            format!(
                "| stored weights (f32) | {} ({} GiB) |",
                power(MAX_STORED_PARAMS, 2),
                (MAX_STORED_PARAMS * 4) >> 30
            ),
            format!("| mult-adds per image | {} |", power(MAX_MULT_ADDS, 10)),
        ];
        for row in rows {
            assert!(
                doc.contains(&row),
                "the Reliability table of docs/testing.md lacks {row}"
            );
        }
    }
}
