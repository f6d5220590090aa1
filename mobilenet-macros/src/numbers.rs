//! How the compiler writes numbers in reports, docs and messages: one home, so the cost
//! report, the paper check and the generated docs print a count the same way.

/// `568.74M` / `4.21M` / `41.0K`: a count at a glance.
pub fn short(v: u64) -> String {
    let v = v as f64;
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}K", v / 1e3)
    } else {
        format!("{v}")
    }
}

/// `568,740,352` for counts, `1.91%` for shares.
pub fn fmt_amount(v: f64, percent: bool) -> String {
    if percent {
        format!("{v:.2}%")
    } else {
        group_digits(v.round() as i64)
    }
}

/// `+1,293,184` for counts; `+0.717%` for shares (a third decimal, so that a share that agrees
/// to the printed digit does not read as `-0.00%`).
pub fn fmt_signed(v: f64, percent: bool) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    if percent {
        return format!("{sign}{:.3}%", v.abs());
    }
    format!("{sign}{}", fmt_amount(v.abs(), percent))
}

/// `4209088` -> `4,209,088`.
pub fn group_digits(v: i64) -> String {
    let s = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}
