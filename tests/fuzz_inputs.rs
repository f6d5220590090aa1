//! Hostile input at run time, as issue 24's user tried it: mutated weights files through
//! `Weights::from_safetensors` and `Weights::from_tflite`, and corrupt or extreme images through the classify example's
//! preprocessing. The rule: an `Err` that names the problem, never a panic, never an abort.
//!
//! `MOBILENET_FUZZ_CASES` sets the cases of each property (default 10,000, which CI runs);
//! the opt-in long run:
//! `MOBILENET_FUZZ_CASES=1000000 cargo test --release --test fuzz_inputs`.

// The example's module holds items these tests do not use.
#[allow(dead_code)]
#[path = "../examples/classify/preprocess.rs"]
mod preprocess;

use image::{ImageFormat, Luma, Rgb, Rgba};
use mobilenet::runtime::weights::TensorSet;
use mobilenet::runtime::WeightsError;
use preprocess::{Normalization, Preprocess};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::io::Cursor;
use std::path::PathBuf;

mod tiny {
    mobilenet::mobilenet!("tests/reference/specs/tiny_logits.yaml");
}
mod tiny_tf {
    mobilenet::mobilenet!("tests/specs/tiny_tf_same.yaml");
}

fn cases() -> u32 {
    std::env::var("MOBILENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// One edit of a file's bytes; positions are taken modulo the file's length.
#[derive(Clone, Debug)]
enum Edit {
    /// Cut the file at a point.
    Truncate(usize),
    /// Overwrite one byte.
    Byte(usize, u8),
    /// Overwrite 4 bytes with a little-endian f32: the data section's hostile values.
    Float(usize, f32),
    /// Set safetensors' header length (the first 8 bytes).
    HeaderLen(u64),
    /// Replace a piece of the JSON header with another (dtype, shape, offsets).
    Header(usize, usize),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
}

/// Header texts to swap: dtypes, shape numbers and offsets.
const HEADER_WORDS: &[&str] = &[
    "\"F32\"",
    "\"F16\"",
    "\"BF16\"",
    "\"F64\"",
    "\"I64\"",
    "\"U8\"",
    "\"BOOL\"",
    "\"F8_E4M3\"",
    "[]",
    "[0]",
    "[1]",
    "[16, 3, 3, 3]",
    "[18446744073709551615, 2]",
    "[4294967296, 4294967296]",
    "0",
    "1",
    "12",
    "18446744073709551615",
    "\"shape\"",
    "\"dtype\"",
    "\"data_offsets\"",
    "\"__metadata__\"",
    "{",
    "}",
    "",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Truncate),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Byte(at, b)),
        3 => (
            any::<usize>(),
            prop_oneof![
                Just(f32::MAX),
                Just(-f32::MAX),
                Just(1e30f32),
                Just(1e-40f32),
                Just(f32::NAN),
                Just(f32::INFINITY),
                Just(0.0f32),
                Just(-1.0f32),
                any::<f32>()
            ]
        )
            .prop_map(|(at, v)| Edit::Float(at, v)),
        1 => prop_oneof![Just(0u64), Just(1), Just(7), Just(u64::MAX), Just(1 << 40), any::<u64>(), 0u64..20_000]
            .prop_map(Edit::HeaderLen),
        3 => (any::<usize>(), 0..HEADER_WORDS.len()).prop_map(|(at, w)| Edit::Header(at, w)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Edit::Insert(at, b)),
    ]
}

/// Where the JSON header of a safetensors file ends (its length field is the first 8 bytes).
fn header_end(bytes: &[u8]) -> usize {
    bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        .map_or(0, |n| (n as usize).saturating_add(8).min(bytes.len()))
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let len = bytes.len().max(1);
    match e {
        Edit::Truncate(at) => bytes.truncate(at % len),
        Edit::Byte(at, b) => {
            if let Some(x) = bytes.get_mut(at % len) {
                *x = *b;
            }
        }
        Edit::Float(at, v) => {
            // Aligned to the data section's floats, so that the value lands in one weight.
            let end = header_end(bytes);
            let n = (bytes.len() - end) / 4;
            if n > 0 {
                let i = end + (at % n) * 4;
                bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        Edit::HeaderLen(n) => {
            if bytes.len() >= 8 {
                bytes[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        Edit::Header(at, w) => {
            // Replace the JSON token (a run of word characters, or one punctuation byte) at a
            // point of the header.
            let end = header_end(bytes);
            if end <= 8 {
                return;
            }
            let mut a = 8 + at % (end - 8);
            let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'"' || b == b'.';
            while a > 8 && word(bytes[a - 1]) && word(bytes[a]) {
                a -= 1;
            }
            let mut b = a + 1;
            while b < end && word(bytes[b]) && word(bytes[a]) {
                b += 1;
            }
            bytes.splice(a..b, HEADER_WORDS[*w].bytes());
        }
        Edit::Insert(at, new) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
    }
}

/// Weights of the `tiny` model as a safetensors file, f32 or converted to f16.
fn tiny_file(f16: bool) -> Vec<u8> {
    let bytes = tiny::Weights::random(7).to_tensors().to_safetensors().unwrap();
    if !f16 {
        return bytes;
    }
    // Re-encode through safetensors' own writer, as F16.
    let set = TensorSet::from_safetensors(&bytes).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = set
        .names()
        .map(|n| {
            let t = set.get(n).unwrap();
            let data = t
                .data
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect();
            (n.to_string(), t.shape.clone(), data)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F16, s.clone(), d).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// Mutated weights files: every outcome is a model or an `Err` that says what is wrong, and a
/// model that loads runs (its outputs may be non-finite: see the README, "Reliability").
#[test]
fn mutated_weights_files_give_a_model_or_a_named_error() {
    let originals = [tiny_file(false), tiny_file(true)];
    let image = [0.25f32; tiny::INPUT_LEN];
    let strategy = (0..2usize, prop::collection::vec(edit(), 1..4));
    let mut loaded = 0;
    let mut refused = 0;
    runner(cases())
        .run(&strategy, |(which, edits)| {
            let mut bytes = originals[which].clone();
            for e in &edits {
                apply(&mut bytes, e);
            }
            check_weights(&bytes, |b| {
                tiny::Weights::from_safetensors(b).map(|w| {
                    // A loaded model must run without panicking.
                    let mut model = tiny::Model::new(w);
                    let _ = model.forward(&image);
                })
            })
        })
        .unwrap();
    // Count outside the property: both outcomes must occur, or the mutations test nothing.
    for original in &originals {
        let mut bytes = original.clone();
        let ok = tiny::Weights::from_safetensors(&bytes).is_ok();
        let half = bytes.len() / 2;
        apply(&mut bytes, &Edit::Truncate(half));
        let err = tiny::Weights::from_safetensors(&bytes).is_err();
        loaded += usize::from(ok);
        refused += usize::from(err);
    }
    assert_eq!((loaded, refused), (2, 2));
}

/// Mutated TFLite files: the same rule through `Weights::from_tflite`, on a model of a small
/// TF-SAME table written by the runtime's own TFLite writer.
#[test]
fn mutated_tflite_files_give_a_model_or_a_named_error() {
    let set = mobilenet::runtime::weights::random_tensors(tiny_tf::LAYERS, 7);
    let tensors = tiny_tf::Weights::from_tensors(&set).unwrap().to_tensors();
    let original = mobilenet::runtime::weights::tflite_from_tensors(
        &tensors,
        tiny_tf::LAYERS,
        tiny_tf::PADDING,
        tiny_tf::ACTIVATION,
        tiny_tf::BN_EPS,
    )
    .unwrap();
    assert!(tiny_tf::Weights::from_tflite(&original).is_ok());
    let image = [0.25f32; tiny_tf::INPUT_LEN];
    let strategy = prop::collection::vec(edit(), 1..4);
    let (loaded, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner(cases())
        .run(&strategy, |edits| {
            let mut bytes = original.clone();
            for e in &edits {
                apply(&mut bytes, e);
            }
            check_weights(&bytes, |b| {
                let result = tiny_tf::Weights::from_tflite(b).map(|w| {
                    let mut model = tiny_tf::Model::new(w);
                    let _ = model.forward(&image);
                });
                let count = if result.is_ok() { &loaded } else { &refused };
                count.set(count.get() + 1);
                result
            })
        })
        .unwrap();
    // Both outcomes occur, or the mutations test nothing.
    assert!(
        loaded.get() > 0 && refused.get() > 0,
        "{} loaded, {} refused",
        loaded.get(),
        refused.get()
    );
}

/// The rule every weights reader keeps on a mutated file: a panic is a failure, and an `Err`
/// must say what is wrong and name the tensor when one is at fault.
fn check_weights(bytes: &[u8], load: impl FnOnce(&[u8]) -> Result<(), WeightsError>) -> Result<(), TestCaseError> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(bytes)));
    let Ok(result) = outcome else {
        return Err(TestCaseError::fail("the reader panicked"));
    };
    if let Err(e) = result {
        let message = e.to_string();
        prop_assert!(message.len() > 20, "an unhelpful error: {message}");
        let names_a_tensor = message.contains('`');
        let tensor_error = matches!(
            e,
            WeightsError::Missing { .. }
                | WeightsError::Unexpected { .. }
                | WeightsError::Shape { .. }
                | WeightsError::Dtype { .. }
                | WeightsError::NonFinite { .. }
                | WeightsError::BadVariance { .. }
                | WeightsError::FoldOverflow { .. }
                | WeightsError::Pack { .. }
        );
        prop_assert!(!tensor_error || names_a_tensor, "names no tensor: {message}");
    }
    Ok(())
}

/// Image files: what the encoders write, in the formats and pixel types a user has.
fn encoded(kind: usize, w: u32, h: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let px = |x: u32, y: u32| ((x * 31 + y * 17) % 256) as u8;
    let result = match kind {
        0 => image::RgbImage::from_fn(w, h, |x, y| Rgb([px(x, y), px(y, x), 9])).write_to(&mut out, ImageFormat::Png),
        1 => image::RgbImage::from_fn(w, h, |x, y| Rgb([px(x, y), 3, px(y, x)])).write_to(&mut out, ImageFormat::Jpeg),
        2 => image::RgbaImage::from_fn(w, h, |x, y| Rgba([px(x, y), 1, 2, px(y, x)]))
            .write_to(&mut out, ImageFormat::WebP),
        // 16-bit grey and colour PNG.
        3 => image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(w, h, |x, y| Luma([u16::from(px(x, y)) * 257]))
            .write_to(&mut out, ImageFormat::Png),
        4 => image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(w, h, |x, y| Rgb([u16::from(px(x, y)) * 251, 0, 65535]))
            .write_to(&mut out, ImageFormat::Png),
        _ => image::GrayImage::from_fn(w, h, |x, y| Luma([px(x, y)])).write_to(&mut out, ImageFormat::Jpeg),
    };
    result.unwrap();
    out.into_inner()
}

/// A baseline JPEG of `w` x `h` CMYK pixels (four components, Adobe marker, transform 0),
/// written by hand: `image` encodes no CMYK. Every block is flat (DC 0, end of block), each
/// coded in one bit with one-symbol Huffman tables.
fn cmyk_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    j.extend([0xFF, 0xEE, 0, 14]);
    j.extend(b"Adobe");
    j.extend([0, 100, 0, 0, 0, 0, 0]);
    j.extend([0xFF, 0xDB, 0, 67, 0]);
    j.extend([1u8; 64]);
    j.extend([0xFF, 0xC0, 0, 20, 8]);
    j.extend(h.to_be_bytes());
    j.extend(w.to_be_bytes());
    j.push(4);
    for id in 1..=4 {
        j.extend([id, 0x11, 0]);
    }
    for class in [0x00, 0x10] {
        j.extend([0xFF, 0xC4, 0, 20, class, 1]);
        j.extend([0u8; 15]);
        j.push(0);
    }
    j.extend([0xFF, 0xDA, 0, 14, 4]);
    for id in 1..=4 {
        j.extend([id, 0]);
    }
    j.extend([0, 63, 0]);
    // Two bits (DC, EOB) per block, four blocks per 8x8 MCU.
    let mcus = usize::from(w.div_ceil(8)) * usize::from(h.div_ceil(8));
    j.extend(vec![0u8; mcus]);
    j.extend([0xFF, 0xD9]);
    j
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mobilenet-fuzz-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Preprocesses `bytes` as a file: an image of `resolution`^2 x 3 finite values, or an error
/// naming the file; a panic fails.
fn check_image(dir: &Scratch, bytes: &[u8], how: &Preprocess) -> Result<Option<Vec<f32>>, TestCaseError> {
    let path = dir.0.join("image.bin");
    std::fs::write(&path, bytes).unwrap();
    let outcome = std::panic::catch_unwind(|| preprocess::preprocess(&path, how));
    let Ok(result) = outcome else {
        return Err(TestCaseError::fail("preprocessing panicked"));
    };
    match result {
        Ok(values) => {
            let side = how.resolution as usize;
            prop_assert_eq!(values.len(), side * side * 3);
            prop_assert!(values.iter().all(|v| v.is_finite()));
            Ok(Some(values))
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(message.contains("image.bin"), "does not name the file: {message}");
            prop_assert!(message.len() > "`image.bin`: ".len() + 8, "says nothing: {message}");
            Ok(None)
        }
    }
}

/// The extreme images of issue 24 one by one: 0x0, 1x100000, 16-bit, CMYK, truncated.
#[test]
fn extreme_images_are_classified_or_named() {
    let dir = Scratch::new("extreme");
    let how = Preprocess {
        resolution: 32,
        normalization: Normalization::Torch,
    };
    let run = |bytes: &[u8]| check_image(&dir, bytes, &how).unwrap();
    let mut zero = encoded(0, 1, 1);
    // IHDR's width and height are at bytes 16..24; zero them (the CRC then fails too).
    zero[16..24].fill(0);
    assert!(run(&zero).is_none(), "0x0 PNG");
    assert!(run(&cmyk_jpeg(0, 0)).is_none(), "0x0 JPEG");
    for (w, h) in [(1, 100_000), (100_000, 1)] {
        assert!(run(&encoded(0, w, h)).is_some(), "{w}x{h}");
    }
    assert!(run(&encoded(3, 40, 30)).is_some(), "16-bit grey");
    assert!(run(&encoded(4, 30, 40)).is_some(), "16-bit RGB");
    let cmyk = cmyk_jpeg(24, 16);
    let decoded = run(&cmyk).expect("a CMYK JPEG is classified");
    assert_eq!(decoded.len(), 32 * 32 * 3);
    for kind in 0..6 {
        let full = encoded(kind, 37, 23);
        assert!(run(&full).is_some(), "kind {kind}");
        // JPEG decoders show what arrived of a cut file (grey below), as browsers do.
        let cut = run(&full[..full.len() / 2]);
        assert!(cut.is_none() || matches!(kind, 1 | 5), "kind {kind}, truncated");
        assert!(run(&full[..5]).is_none(), "kind {kind}, a stub");
    }
    assert!(run(b"").is_none());
    // A header that claims 65535 x 65535 pixels of data it does not have.
    let mut claims = encoded(0, 4, 4);
    claims[16..24].copy_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF]);
    assert!(run(&claims).is_none());
}

/// Corrupt images: bytes of every format, mutated, never panic.
#[test]
fn mutated_images_are_classified_or_named() {
    let dir = Scratch::new("mutated");
    let how = Preprocess {
        resolution: 16,
        normalization: Normalization::Keras,
    };
    let originals: Vec<Vec<u8>> = (0..6).map(|k| encoded(k, 19, 11)).chain([cmyk_jpeg(16, 8)]).collect();
    let strategy = (0..originals.len(), prop::collection::vec(edit(), 1..4));
    runner(cases())
        .run(&strategy, |(which, edits)| {
            let mut bytes = originals[which].clone();
            for e in &edits {
                // The weights' edits, less the safetensors-specific ones (harmless here).
                apply(&mut bytes, e);
            }
            check_image(&dir, &bytes, &how).map(drop)
        })
        .unwrap();
}
