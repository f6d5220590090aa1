//! The words a spec file may use, as typed constants so that a misspelling here is a compile
//! error rather than a key that silently never matches.

/// Keys of the spec's top-level mapping.
pub mod top {
    pub const NAME: &str = "name";
    pub const EXTENDS: &str = "extends";
    pub const INPUT: &str = "input";
    pub const CLASSES: &str = "classes";
    pub const WIDTH_MULTIPLIER: &str = "width_multiplier";
    pub const RESOLUTION: &str = "resolution";
    pub const PADDING: &str = "padding";
    pub const ACTIVATION: &str = "activation";
    pub const BN_EPS: &str = "bn_eps";
    pub const PRECISION: &str = "precision";
    pub const LAYERS: &str = "layers";
    pub const PAPER: &str = "paper";
    /// Every top-level key, for "did you mean" hints.
    pub const ALL: &[&str] = &[
        NAME,
        EXTENDS,
        INPUT,
        CLASSES,
        WIDTH_MULTIPLIER,
        RESOLUTION,
        PADDING,
        ACTIVATION,
        BN_EPS,
        PRECISION,
        LAYERS,
        PAPER,
    ];
}

/// Keys of one row of `layers`.
pub mod row {
    pub const TYPE: &str = "type";
    pub const STRIDE: &str = "stride";
    pub const FILTER: &str = "filter";
    pub const INPUT: &str = "input";
    pub const NAME: &str = "name";
    pub const REPEAT: &str = "repeat";
    pub const LAYERS: &str = "layers";
    /// Keys of a layer row.
    pub const ALL: &[&str] = &[TYPE, STRIDE, FILTER, INPUT, NAME];
}

/// Values of a row's `type`.
pub mod kind {
    pub const CONV: &str = "conv";
    pub const CONV_DW: &str = "conv_dw";
    pub const AVG_POOL: &str = "avg_pool";
    pub const FC: &str = "fc";
    pub const SOFTMAX: &str = "softmax";
    /// Every row type.
    pub const ALL: &[&str] = &[CONV, CONV_DW, AVG_POOL, FC, SOFTMAX];
}

/// Values of `padding`, `activation` and `precision`.
pub mod value {
    pub const FLOAT32: &str = "float32";
    pub const INT8: &str = "int8";
    pub const UINT8: &str = "uint8";
    pub const SYMMETRIC: &str = "symmetric";
    pub const TF_SAME: &str = "tf_same";
    pub const RELU: &str = "relu";
    pub const RELU6: &str = "relu6";
}

/// Keys of the `paper` mapping and of one figure written as a mapping.
pub mod paper {
    pub const SOURCE: &str = "source";
    pub const MULT_ADDS: &str = "mult_adds";
    pub const PARAMS: &str = "params";
    pub const TOP1: &str = "top1";
    pub const BREAKDOWN: &str = "breakdown";
    pub const VALUE: &str = "value";
    pub const TOLERANCE: &str = "tolerance";
    pub const NOTE: &str = "note";
    /// Keys of `paper`.
    pub const ALL: &[&str] = &[SOURCE, MULT_ADDS, PARAMS, TOP1, BREAKDOWN];
    /// Keys of a figure written as a mapping.
    pub const FIGURE: &[&str] = &[VALUE, TOLERANCE, NOTE];
    /// Keys of one breakdown group.
    pub const SHARES: &[&str] = &[MULT_ADDS, PARAMS];
}
