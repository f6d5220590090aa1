//! The spec files under `specs/`, listed once for the tests and examples that expand them.
//! `mobilenet!` takes a literal path, so the list is a macro; a test or example includes it with
//!
//! ```ignore
//! #[macro_use]
//! #[path = "../specs/list.rs"]
//! mod spec_list;
//! ```
//!
//! and `tests/specs.rs` checks it against a walk of the folder: every `.yaml` file under
//! `specs/` is listed once, and nothing else is.

/// `with_specs!(paper tflite => then! { more })` calls `then!` with one line
/// `group module => "path";` for each spec of the groups named, in that order, then `more`.
///
/// The groups: `paper` (`specs/*.yaml`, Table 1 and the variants the paper reports), `keras`
/// (`keras.applications.MobileNet`: every width and resolution it has ImageNet weights for),
/// `timm` (`mobilenetv1_100`) and `tflite` (TF-slim's exports as `.tflite` files, 1001
/// classes: the grid Google published, every width at every resolution) and `quant` (the
/// quantized TFLite models: TensorFlow's uint8 exports and TFLite Micro's int8 person
/// detector, `precision: uint8` and `int8`). Paths are relative
/// to the repository root, where `mobilenet!` resolves them.
macro_rules! with_specs {
    ($($group:ident)* => $then:ident ! { $($more:tt)* }) => {
        with_specs! { @gather [] $($group)* => $then { $($more)* } }
    };
    (@gather [$($done:tt)*] => $then:ident { $($more:tt)* }) => {
        $then! { $($done)* $($more)* }
    };
    (@gather [$($done:tt)*] paper $($rest:ident)* => $($then:tt)*) => {
        with_specs! { @gather [$($done)*
            paper paper_100_224 => "specs/v1_alpha1_224.yaml";
            paper paper_075_224 => "specs/v1_alpha0.75_224.yaml";
            paper paper_050_224 => "specs/v1_alpha0.5_224.yaml";
            paper paper_025_224 => "specs/v1_alpha0.25_224.yaml";
            paper paper_100_192 => "specs/v1_alpha1_192.yaml";
            paper paper_100_160 => "specs/v1_alpha1_160.yaml";
            paper paper_100_128 => "specs/v1_alpha1_128.yaml";
            paper paper_050_160 => "specs/v1_alpha0.5_160.yaml";
            paper paper_conv_224 => "specs/v1_conv_224.yaml";
            paper paper_shallow_224 => "specs/v1_shallow_224.yaml";
        ] $($rest)* => $($then)* }
    };
    (@gather [$($done:tt)*] keras $($rest:ident)* => $($then:tt)*) => {
        with_specs! { @gather [$($done)*
            keras keras_100_224 => "specs/keras/v1_alpha1_224.yaml";
            keras keras_100_192 => "specs/keras/v1_alpha1_192.yaml";
            keras keras_100_160 => "specs/keras/v1_alpha1_160.yaml";
            keras keras_100_128 => "specs/keras/v1_alpha1_128.yaml";
            keras keras_075_224 => "specs/keras/v1_alpha0.75_224.yaml";
            keras keras_075_192 => "specs/keras/v1_alpha0.75_192.yaml";
            keras keras_075_160 => "specs/keras/v1_alpha0.75_160.yaml";
            keras keras_075_128 => "specs/keras/v1_alpha0.75_128.yaml";
            keras keras_050_224 => "specs/keras/v1_alpha0.5_224.yaml";
            keras keras_050_192 => "specs/keras/v1_alpha0.5_192.yaml";
            keras keras_050_160 => "specs/keras/v1_alpha0.5_160.yaml";
            keras keras_050_128 => "specs/keras/v1_alpha0.5_128.yaml";
            keras keras_025_224 => "specs/keras/v1_alpha0.25_224.yaml";
            keras keras_025_192 => "specs/keras/v1_alpha0.25_192.yaml";
            keras keras_025_160 => "specs/keras/v1_alpha0.25_160.yaml";
            keras keras_025_128 => "specs/keras/v1_alpha0.25_128.yaml";
        ] $($rest)* => $($then)* }
    };
    (@gather [$($done:tt)*] timm $($rest:ident)* => $($then:tt)*) => {
        with_specs! { @gather [$($done)*
            timm timm_100_224 => "specs/timm/v1_100_224.yaml";
        ] $($rest)* => $($then)* }
    };
    (@gather [$($done:tt)*] quant $($rest:ident)* => $($then:tt)*) => {
        with_specs! { @gather [$($done)*
            quant tflite_025_224_quant => "specs/tflite/quant/v1_alpha0.25_224_quant.yaml";
            quant tflite_025_128_quant => "specs/tflite/quant/v1_alpha0.25_128_quant.yaml";
            quant tflite_050_160_quant => "specs/tflite/quant/v1_alpha0.5_160_quant.yaml";
            quant person_detect => "specs/tflite/quant/person_detect.yaml";
        ] $($rest)* => $($then)* }
    };
    (@gather [$($done:tt)*] tflite $($rest:ident)* => $($then:tt)*) => {
        with_specs! { @gather [$($done)*
            tflite tflite_100_224 => "specs/tflite/v1_alpha1_224.yaml";
            tflite tflite_100_192 => "specs/tflite/v1_alpha1_192.yaml";
            tflite tflite_100_160 => "specs/tflite/v1_alpha1_160.yaml";
            tflite tflite_100_128 => "specs/tflite/v1_alpha1_128.yaml";
            tflite tflite_075_224 => "specs/tflite/v1_alpha0.75_224.yaml";
            tflite tflite_075_192 => "specs/tflite/v1_alpha0.75_192.yaml";
            tflite tflite_075_160 => "specs/tflite/v1_alpha0.75_160.yaml";
            tflite tflite_075_128 => "specs/tflite/v1_alpha0.75_128.yaml";
            tflite tflite_050_224 => "specs/tflite/v1_alpha0.5_224.yaml";
            tflite tflite_050_192 => "specs/tflite/v1_alpha0.5_192.yaml";
            tflite tflite_050_160 => "specs/tflite/v1_alpha0.5_160.yaml";
            tflite tflite_050_128 => "specs/tflite/v1_alpha0.5_128.yaml";
            tflite tflite_025_224 => "specs/tflite/v1_alpha0.25_224.yaml";
            tflite tflite_025_192 => "specs/tflite/v1_alpha0.25_192.yaml";
            tflite tflite_025_160 => "specs/tflite/v1_alpha0.25_160.yaml";
            tflite tflite_025_128 => "specs/tflite/v1_alpha0.25_128.yaml";
        ] $($rest)* => $($then)* }
    };
}
