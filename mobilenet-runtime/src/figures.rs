//! The paper's figures as `mobilenet!` checked them, emitted as the `PAPER` constant so that
//! programs can print "paper vs computed" tables without retyping any number.

/// One figure the spec quotes from the paper, with the count it was checked against.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct PaperFigure {
    /// `mult_adds` or `params` for a model total; `conv_1x1 mult_adds` for a Table 2 share.
    pub what: &'static str,
    /// Whether the figure is a share of the total in percent rather than a count.
    pub percent: bool,
    /// The figure as printed (`569M`, `1.19%`).
    pub printed: &'static str,
    /// The printed figure's value (569e6, 1.19).
    pub paper: f64,
    /// What the compiler counted, in the same units.
    pub counted: f64,
    /// The allowed difference (one unit of the last printed digit, or the spec's tolerance).
    pub allowed: f64,
    /// Why the spec widened the allowance, or `""`.
    pub note: &'static str,
}
