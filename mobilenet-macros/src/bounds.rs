//! The first check of a typed spec: every size it states (input, classes, resolution, each
//! row's filter and declared input) against the limits of `limits.rs`, before any shape is
//! computed from them.

use crate::diagnostics::{over_limit as over, Diagnostics, Loc};
use crate::limits::{MAX_CHANNELS, MAX_SIDE};
use crate::spec::{Kind, Spec};

/// Checks the sizes a spec states against [`MAX_SIDE`] and [`MAX_CHANNELS`], before any shape
/// is computed from them. Returns whether every size is within its limit.
pub fn check_spec(spec: &Spec, ds: &mut Diagnostics) -> bool {
    let before = ds.has_errors();
    let mut ok = true;
    let mut check = |loc: &Loc, what: &str, value: usize, limit: usize| {
        if value > limit {
            ds.push(over(loc, what, value, limit));
            ok = false;
        }
    };
    let [h, w, c] = spec.input;
    check(&spec.input_loc, "`input` height", h, MAX_SIDE);
    check(&spec.input_loc, "`input` width", w, MAX_SIDE);
    check(&spec.input_loc, "`input` channels", c, MAX_CHANNELS);
    check(&spec.classes_loc, "`classes`", spec.classes, MAX_CHANNELS);
    check(&spec.resolution_loc, "`resolution`", spec.resolution, MAX_SIDE);
    for row in &spec.rows {
        let label = row.label();
        // Filter numbers: kernel sides first, then channel counts (fc: both are widths).
        let sides = match row.kind {
            Kind::Conv | Kind::ConvDw | Kind::AvgPool => 2,
            Kind::Fc | Kind::Softmax => 0,
        };
        for (i, &v) in row.filter.iter().enumerate() {
            let (what, limit) = if i < sides {
                ("kernel side", MAX_SIDE)
            } else {
                ("channel count", MAX_CHANNELS)
            };
            check(&row.loc, &format!("{label}: `filter` {what}"), v, limit);
        }
        if let Some([ih, iw, ic]) = row.input {
            check(&row.loc, &format!("{label}: `input` height"), ih, MAX_SIDE);
            check(&row.loc, &format!("{label}: `input` width"), iw, MAX_SIDE);
            check(&row.loc, &format!("{label}: `input` channels"), ic, MAX_CHANNELS);
        }
    }
    ok && (before || !ds.has_errors())
}
