//! The pieces of `examples/classify.rs` that do not need a model: image loading and
//! preprocessing, softmax and top-k, the class list, the command line and spec lookup.
//!
//! The example's modules are included by path, so these tests run the code the example runs.
//! Test images are generated here with `image`'s encoders, never committed.

// The example uses items these tests do not (its header text, for one).
#[allow(dead_code)]
#[path = "../examples/classify/preprocess.rs"]
mod preprocess;

#[allow(dead_code)]
#[path = "../examples/classify/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use image::{GrayImage, Rgb, RgbImage, RgbaImage};
use preprocess::{Normalization, Preprocess};

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mobilenet-classify-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A picture with structure in every channel, so a swapped axis or channel shows.
fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(2)) as u8,
            (y * 255 / h.max(2)) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

#[test]
fn normalisation_matches_the_frameworks() {
    let k = Normalization::Keras;
    assert_eq!(k.apply(0, 0), -1.0);
    assert_eq!(k.apply(255, 2), 1.0);
    assert!((k.apply(128, 1) - 0.003_921_6).abs() < 1e-6);
    // torchvision: ToTensor (x / 255) then Normalize(mean, std), per channel.
    let t = Normalization::Torch;
    for (c, (m, s)) in [(0.485f32, 0.229f32), (0.456, 0.224), (0.406, 0.225)]
        .into_iter()
        .enumerate()
    {
        assert!((t.apply(0, c) - (-m / s)).abs() < 1e-6);
        assert!((t.apply(255, c) - (1.0 - m) / s).abs() < 1e-6);
    }
    assert_eq!(Normalization::parse("keras"), Some(k));
    assert_eq!(Normalization::parse("torch"), Some(t));
    assert_eq!(Normalization::parse("Keras"), None);
    use mobilenet::runtime::Padding;
    assert_eq!(Normalization::for_padding(Padding::TfSame), k);
    assert_eq!(Normalization::for_padding(Padding::Symmetric), t);
}

#[test]
fn resize_keeps_the_aspect_ratio_and_covers_the_crop() {
    // 224 / 0.875 = 256; the long side is truncated as torchvision's Resize does.
    assert_eq!(preprocess::resized_dims(640, 480, 224), (341, 256));
    assert_eq!(preprocess::resized_dims(480, 640, 224), (256, 341));
    assert_eq!(preprocess::resized_dims(300, 300, 224), (256, 256));
    // floor(128 / 0.875) = 146, floor(160 / 0.875) = 182, floor(192 / 0.875) = 219.
    assert_eq!(preprocess::resized_dims(128, 128, 128), (146, 146));
    assert_eq!(preprocess::resized_dims(1000, 2000, 160), (182, 364));
    assert_eq!(preprocess::resized_dims(50, 50, 192), (219, 219));
    // A 1-pixel image is enlarged like any other.
    assert_eq!(preprocess::resized_dims(1, 1, 224), (256, 256));
}

#[test]
fn crop_is_square_for_any_shape() {
    for (w, h) in [
        (640, 480),
        (480, 640),
        (224, 224),
        (1, 1),
        (3, 700),
        (5000, 2),
        (257, 256),
    ] {
        let out = preprocess::resize_and_crop(&gradient(w, h), 160, preprocess::FILTER);
        assert_eq!(out.dimensions(), (160, 160), "{w}x{h}");
    }
}

#[test]
fn crop_is_centred() {
    // Left half black, right half white: the crop's middle column is the boundary.
    let img = RgbImage::from_fn(
        400,
        300,
        |x, _| if x < 200 { Rgb([0, 0, 0]) } else { Rgb([255, 255, 255]) },
    );
    let out = preprocess::resize_and_crop(&img, 224, preprocess::FILTER);
    assert_eq!(out.get_pixel(20, 112)[0], 0);
    assert_eq!(out.get_pixel(204, 112)[0], 255);
    let (left, right) = (out.get_pixel(110, 112)[0], out.get_pixel(113, 112)[0]);
    assert!(left < 40 && right > 215, "boundary blurred off centre: {left} {right}");
}

/// Resize the whole image, then crop: the pipeline as specified, without the band shortcut.
fn full_resize_then_crop(img: &RgbImage, res: u32) -> RgbImage {
    let (rw, rh) = preprocess::resized_dims(img.width(), img.height(), res);
    let full = image::imageops::resize(img, rw, rh, preprocess::FILTER);
    image::imageops::crop_imm(&full, (rw - res) / 2, (rh - res) / 2, res, res).to_image()
}

#[test]
fn long_images_are_resized_whole_up_to_8_to_1() {
    for (w, h, res) in [(1001, 333, 224), (250, 777, 160), (1600, 200, 128)] {
        let img = gradient(w, h);
        assert_eq!(
            preprocess::resize_and_crop(&img, res, preprocess::FILTER),
            full_resize_then_crop(&img, res),
            "{w}x{h}"
        );
    }
}

#[test]
fn absurdly_long_images_are_banded_first_and_still_centred() {
    // 40:1 is cut to a centred 8:1 band before resizing; the crop moves by under a pixel, so
    // on a smooth picture the result is the full resize's to a level or two.
    let img = RgbImage::from_fn(4000, 100, |x, y| Rgb([(x / 16 % 256) as u8, (y * 2) as u8, 128]));
    let banded = preprocess::resize_and_crop(&img, 192, preprocess::FILTER);
    let full = full_resize_then_crop(&img, 192);
    let diffs: Vec<u8> = banded
        .as_raw()
        .iter()
        .zip(full.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    assert!(mean < 1.0, "banded crop differs by {mean} levels on average");
}

#[test]
fn tensor_is_hwc_in_rgb_order() {
    let img = RgbImage::from_fn(4, 4, |x, y| Rgb([(10 * y + x) as u8, 100, 200]));
    let t = preprocess::to_tensor(&img, Normalization::Keras);
    assert_eq!(t.len(), 4 * 4 * 3);
    let at = |y: usize, x: usize, c: usize| t[(y * 4 + x) * 3 + c];
    assert_eq!(at(2, 3, 0), Normalization::Keras.apply(23, 0));
    assert_eq!(at(2, 3, 1), Normalization::Keras.apply(100, 1));
    assert_eq!(at(3, 1, 2), Normalization::Keras.apply(200, 2));
}

#[test]
fn loads_png_jpeg_and_webp_by_content() {
    let dir = TempDir::new("formats");
    let img = gradient(120, 90);
    let how = Preprocess {
        resolution: 64,
        normalization: Normalization::Torch,
    };
    let png = dir.path("a.png");
    img.save(&png).unwrap();
    let jpeg = dir.path("a.jpg");
    img.save(&jpeg).unwrap();
    let webp = dir.path("a.webp");
    img.save(&webp).unwrap();
    // A PNG under a misleading name is still a PNG.
    let disguised = dir.path("really_a_png.jpg");
    std::fs::copy(&png, &disguised).unwrap();

    let from_png = preprocess::preprocess(&png, &how).unwrap();
    assert_eq!(from_png.len(), 64 * 64 * 3);
    // Lossless formats decode to the same pixels; JPEG is close.
    assert_eq!(preprocess::preprocess(&webp, &how).unwrap(), from_png);
    assert_eq!(preprocess::preprocess(&disguised, &how).unwrap(), from_png);
    let from_jpeg = preprocess::preprocess(&jpeg, &how).unwrap();
    let worst = from_jpeg
        .iter()
        .zip(&from_png)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 0.5, "JPEG differs from PNG by {worst}");
}

#[test]
fn grey_and_transparent_images_become_rgb() {
    let dir = TempDir::new("colour");
    let grey = dir.path("grey.png");
    GrayImage::from_fn(30, 20, |x, _| image::Luma([(x * 8) as u8]))
        .save(&grey)
        .unwrap();
    let rgb = preprocess::load_rgb(&grey).unwrap();
    assert_eq!(rgb.dimensions(), (30, 20));
    assert!(rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    let rgba = dir.path("rgba.png");
    RgbaImage::from_fn(10, 10, |_, _| image::Rgba([1, 2, 3, 0]))
        .save(&rgba)
        .unwrap();
    assert_eq!(preprocess::load_rgb(&rgba).unwrap().get_pixel(5, 5), &Rgb([1, 2, 3]));
}

#[test]
fn bad_files_are_errors_that_name_the_file() {
    let dir = TempDir::new("bad");
    let how = Preprocess {
        resolution: 32,
        normalization: Normalization::Keras,
    };
    let check = |path: &Path, reason: &str| {
        let e = preprocess::preprocess(path, &how).unwrap_err();
        assert_eq!(e.path, path);
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(reason),
            "{msg}"
        );
    };
    check(&dir.path("missing.jpg"), "no such file");
    let text = dir.path("notes.jpg");
    std::fs::write(&text, "not a picture").unwrap();
    check(&text, "not an image");
    let empty = dir.path("empty.png");
    std::fs::write(&empty, b"").unwrap();
    check(&empty, "not an image");
    let png = dir.path("whole.png");
    gradient(64, 64).save(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    let cut = dir.path("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = preprocess::preprocess(&cut, &how).unwrap_err();
    assert!(e.reason.contains("truncated") || e.reason.contains("corrupt"), "{e}");
    check(&dir.0, "directory");
}

#[test]
fn softmax_is_stable_and_sums_to_one() {
    let p = preprocess::softmax(&[1000.0, 1001.0, 999.0]);
    assert!(p.iter().all(|v| v.is_finite()));
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!(p[1] > p[0] && p[0] > p[2]);
    let uniform = preprocess::softmax(&[0.0; 4]);
    assert!(uniform.iter().all(|&v| (v - 0.25).abs() < 1e-7));
}

#[test]
fn top_k_ranks_by_score() {
    let scores = [0.1, 0.4, f32::NAN, 0.4, 0.05, 0.3];
    let top = preprocess::top_k(&scores, 3);
    // Ties keep the lower class first; NaN never outranks a number.
    assert_eq!(top, vec![(1, 0.4), (3, 0.4), (5, 0.3)]);
    assert_eq!(preprocess::top_k(&scores, 10).len(), 6);
    assert_eq!(preprocess::top_k(&scores, 10)[5].0, 2);
    assert!(preprocess::top_k(&[], 5).is_empty());
}

#[test]
fn shipped_class_list_is_imagenet_in_output_order() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/imagenet_classes.tsv")).unwrap();
    let labels = preprocess::parse_labels(&text, 1000).unwrap();
    assert_eq!(labels[0].synset, "n01440764");
    assert_eq!(labels[0].name, "tench, Tinca tinca");
    assert_eq!(labels[281].name, "tabby, tabby cat");
    assert_eq!(labels[999].synset, "n15075141");
    // Every framework orders the classes by WordNet id.
    assert!(labels.windows(2).all(|w| w[0].synset < w[1].synset));
    assert!(preprocess::parse_labels(&text, 10)
        .unwrap_err()
        .contains("1000 classes listed, the model has 10"));
    assert!(preprocess::parse_labels("n0\tok\nbroken line\n", 2)
        .unwrap_err()
        .contains("line 2"));
}

fn classify(args: &[&str]) -> cli::Options {
    match cli::parse_args(args) {
        Ok(cli::Command::Classify(o)) => o,
        other => panic!("{args:?} gave {other:?}"),
    }
}

#[test]
fn command_line() {
    let o = classify(&["cat.jpg"]);
    assert_eq!(o.spec, None);
    assert!(!o.random_weights);
    assert_eq!((o.weights, o.preprocess, o.top, o.raw_output), (None, None, 5, None));
    assert_eq!(o.images, vec![PathBuf::from("cat.jpg")]);

    let o = classify(&[
        "--spec=specs/keras/v1_alpha0.25_128.yaml",
        "--weights",
        "w.safetensors",
        "--preprocess",
        "torch",
        "--top",
        "3",
        "a.png",
        "--raw-output",
        "out.safetensors",
        "b.webp",
    ]);
    assert_eq!(o.spec.as_deref(), Some("specs/keras/v1_alpha0.25_128.yaml"));
    assert_eq!(o.weights, Some(PathBuf::from("w.safetensors")));
    assert_eq!(o.preprocess, Some(Normalization::Torch));
    assert_eq!(o.top, 3);
    assert_eq!(o.raw_output, Some(PathBuf::from("out.safetensors")));
    assert_eq!(o.images, vec![PathBuf::from("a.png"), PathBuf::from("b.webp")]);

    assert_eq!(cli::parse_args(["--help", "x.png"]), Ok(cli::Command::Help));
    assert_eq!(cli::parse_args(["--list-specs"]), Ok(cli::Command::ListSpecs));
    let err = |args: &[&str]| cli::parse_args(args).unwrap_err();
    assert!(err(&[]).contains("no image given"));
    assert!(err(&["--preprocess", "caffe", "a.png"]).contains("`keras`, `torch` or `tflite`"));
    assert_eq!(
        classify(&["--preprocess", "tflite", "a.png"]).preprocess,
        Some(Normalization::Tflite)
    );
    assert!(classify(&["--random-weights", "a.png"]).random_weights);
    assert!(err(&["--random-weights", "--weights", "w.tflite", "a.png"]).contains("exclude each other"));
    assert!(err(&["--top", "0", "a.png"]).contains("positive"));
    assert!(err(&["--weights"]).contains("--weights"));
    assert!(err(&["--colour", "a.png"]).contains("--colour"));
}

#[test]
fn spec_lookup_by_path_or_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = ["specs/v1_alpha1_224.yaml", "specs/keras/v1_alpha0.25_128.yaml"];
    let names = ["mobilenet_v1_1.0_224", "keras_mobilenet_0.25_128"];
    let find = |arg: &str| cli::find_spec(arg, &paths, &names, root);
    assert_eq!(find("specs/keras/v1_alpha0.25_128.yaml"), Some(1));
    assert_eq!(find("./specs/v1_alpha1_224.yaml"), Some(0));
    assert_eq!(find("keras_mobilenet_0.25_128"), Some(1));
    let absolute = root.join("specs/keras/v1_alpha0.25_128.yaml");
    assert_eq!(find(absolute.to_str().unwrap()), Some(1));
    assert_eq!(find("specs/v1_alpha0.5_224.yaml"), None);
    assert_eq!(find("nonsense"), None);
}

#[test]
fn tflite_preprocessing_resizes_the_whole_image() {
    // Left third red, the rest blue: a crop would cut the red band, a whole resize keeps it.
    let img = RgbImage::from_fn(
        300,
        100,
        |x, _| if x < 100 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) },
    );
    let how = Preprocess {
        resolution: 32,
        normalization: Normalization::Tflite,
    };
    let t = how.apply(&img);
    assert_eq!(t.len(), 32 * 32 * 3);
    // Pixel (row 16, column 2) is deep in the red third; (16, 28) in the blue.
    let at = |row: usize, col: usize, c: usize| t[(row * 32 + col) * 3 + c];
    assert!(
        at(16, 2, 0) > 0.99 && at(16, 2, 2) < -0.99,
        "{} {}",
        at(16, 2, 0),
        at(16, 2, 2)
    );
    assert!(
        at(16, 28, 0) < -0.99 && at(16, 28, 2) > 0.99,
        "{} {}",
        at(16, 28, 0),
        at(16, 28, 2)
    );
    // (x - 127.5) / 127.5, the float input of TF-slim's TFLite exports.
    assert_eq!(Normalization::Tflite.apply(0, 0), -1.0);
    assert_eq!(Normalization::Tflite.apply(255, 1), 1.0);
    assert_eq!(Normalization::Tflite.apply(128, 2), 0.5 / 127.5);
}

#[test]
fn labels_of_1001_class_models_start_with_background() {
    let text = include_str!("../assets/imagenet_classes.tsv");
    let imagenet = preprocess::parse_labels(text, 1000).unwrap();
    let labels = preprocess::labels_for(imagenet.clone(), 1001).unwrap();
    assert_eq!(labels[0].name, "background");
    assert_eq!(labels[934].name, "cheeseburger");
    assert_eq!(labels[1..], imagenet[..]);
    assert_eq!(preprocess::labels_for(imagenet.clone(), 1000).unwrap(), imagenet);
    assert_eq!(preprocess::labels_for(imagenet, 2), None);
    // TF-slim's own list, shipped with the TFLite model, agrees name for name.
    let tf: Vec<&str> = include_str!("../assets/tflite-support/labels.txt").lines().collect();
    assert_eq!(tf.len(), 1001);
    for (i, name) in tf.iter().enumerate() {
        let ours = labels[i].name.split(',').next().unwrap().to_lowercase();
        assert_eq!(ours, name.split(',').next().unwrap().to_lowercase(), "class {i}");
    }
}

#[test]
fn quantized_pixels_are_tflites_bilinear_resize_then_pillows_luma() {
    // Upsampling 2 -> 4 samples at 0, 0.5, 1 and 1.5 (the last clamped to the edge).
    let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 101, 101, 101]).unwrap();
    let row: Vec<u8> = preprocess::quantized_pixels(&img, 1, 4, 3)
        .chunks(3)
        .map(|p| p[0])
        .collect();
    assert_eq!(row, [0, 51, 101, 101], "50.5 rounds half up");
    let truncated: Vec<u8> = preprocess::resize_bilinear_tflite(&img, 1, 4, false)
        .chunks(3)
        .map(|p| p[0])
        .collect();
    assert_eq!(truncated, [0, 50, 101, 101]);
    // Pillow's luma: (19595 R + 38470 G + 7471 B + 32768) >> 16.
    let red = RgbImage::from_raw(1, 1, vec![255, 0, 0]).unwrap();
    assert_eq!(preprocess::quantized_pixels(&red, 1, 1, 1), [76]);
    let white = RgbImage::from_raw(1, 1, vec![255, 255, 255]).unwrap();
    assert_eq!(preprocess::quantized_pixels(&white, 2, 2, 1), [255; 4]);
}
