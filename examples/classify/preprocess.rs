//! From a photo on disk to the `f32` tensor a MobileNet takes, and from its output to labels.
//!
//! The steps are the standard ImageNet evaluation pipeline:
//! 1. decode (JPEG, PNG, WebP or BMP, recognised by content, not by extension), turn the picture
//!    upright as its EXIF orientation says, drop any alpha channel;
//! 2. resize so that the shorter side is `floor(resolution / 0.875)` (256 for 224), keeping the
//!    aspect ratio, with an antialiasing bicubic filter ([`FILTER`]);
//! 3. cut the centre `resolution` x `resolution` square;
//! 4. scale the bytes the way the weights were trained ([`Normalization`]), height x width x
//!    RGB (HWC) order, as `Model::forward` takes them.
//!
//! TFLite's classification examples do it their own way ([`Normalization::Tflite`]): the whole
//! image is resized to the input size with a bilinear filter ([`TFLITE_FILTER`]), no crop, and
//! each byte becomes `(x - 127.5) / 127.5`.
//!
//! The example `classify` uses this module and `tests/classify.rs` includes it with `#[path]`,
//! so it depends on nothing but `image`, `std` and the runtime's `Padding`. Nothing here panics on bad input: every
//! failure is an [`ImageError`] that names the file.

use std::fmt;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use mobilenet::runtime::Padding;

/// The share of the resized image the centre crop keeps (Inception/timm's `crop_pct`).
pub const CROP_FRACTION: f64 = 0.875;

/// The resampling filter: Catmull-Rom is PIL's and timm's bicubic, and `image` widens it when
/// shrinking, as PIL does, so a large photo is averaged rather than sampled (no aliasing).
/// TensorFlow's evaluation used bilinear; the difference is a fraction of a point of accuracy.
pub const FILTER: FilterType = FilterType::CatmullRom;

/// The filter of TFLite-style preprocessing: bilinear, widened when shrinking as PIL's is.
pub const TFLITE_FILTER: FilterType = FilterType::Triangle;

/// How pixel values were scaled when the weights were trained, and with it how the image is
/// fitted to the input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Normalization {
    /// Keras / TensorFlow-Slim: `x / 127.5 - 1`, so every channel lies in [-1, 1].
    Keras,
    /// PyTorch / timm: `(x / 255 - mean) / std` with the ImageNet mean and std per channel.
    Torch,
    /// TFLite's classification examples: the whole image resized bilinearly to the input size
    /// (no crop), then `(x - 127.5) / 127.5`, the float input of TF-slim's `.tflite` exports.
    Tflite,
}

/// ImageNet channel means (RGB) on [0, 1], as torchvision and timm use them.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB) on [0, 1].
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Normalization {
    /// Parses `keras`, `torch` or `tflite` (the `--preprocess` values).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keras" => Some(Normalization::Keras),
            "torch" => Some(Normalization::Torch),
            "tflite" => Some(Normalization::Tflite),
            _ => None,
        }
    }

    /// The convention that usually goes with a padding convention: models with TensorFlow
    /// `SAME` padding come from Keras/TF-Slim, symmetric ones from PyTorch.
    pub const fn for_padding(padding: Padding) -> Self {
        match padding {
            Padding::TfSame => Normalization::Keras,
            Padding::Symmetric => Normalization::Torch,
        }
    }

    /// The `--preprocess` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::Keras => "keras",
            Normalization::Torch => "torch",
            Normalization::Tflite => "tflite",
        }
    }

    /// A one-line description for the program's header.
    pub fn describe(self) -> &'static str {
        match self {
            Normalization::Keras => "keras: x / 127.5 - 1, range [-1, 1]",
            Normalization::Torch => "torch: (x / 255 - ImageNet mean) / ImageNet std",
            Normalization::Tflite => "tflite: (x - 127.5) / 127.5, range [-1, 1]",
        }
    }

    /// Whether the image is resized whole to the input size (TFLite) rather than resized and
    /// centre-cropped.
    pub fn resizes_whole(self) -> bool {
        self == Normalization::Tflite
    }

    /// Scales one 8-bit value of channel `c` (0 = R, 1 = G, 2 = B).
    pub fn apply(self, value: u8, c: usize) -> f32 {
        let v = f32::from(value);
        match self {
            Normalization::Keras => v / 127.5 - 1.0,
            Normalization::Torch => (v / 255.0 - IMAGENET_MEAN[c % 3]) / IMAGENET_STD[c % 3],
            Normalization::Tflite => (v - 127.5) / 127.5,
        }
    }
}

/// Why an image could not be used, with the file it came from.
#[derive(Debug)]
pub struct ImageError {
    /// The file as the user named it.
    pub path: PathBuf,
    /// What went wrong, in words.
    pub reason: String,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ImageError {}

/// Reads and decodes an image file, upright (EXIF orientation applied) and as 8-bit RGB.
///
/// # Errors
/// A missing or unreadable file, a file that is not an image in a supported format, or a
/// corrupt one: each an [`ImageError`] naming `path`.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    let fail = |reason: String| ImageError {
        path: path.to_owned(),
        reason,
    };
    // A directory opens fine on Unix and only fails on the first read; say what it is instead.
    if path.is_dir() {
        return Err(fail("is a directory, not an image file".into()));
    }
    // Only the content decides the format: a PNG named `.jpg` still loads, and a text file named
    // `.jpg` is reported as not an image rather than as a broken JPEG.
    let file = std::fs::File::open(path).map_err(|e| fail(io_reason(&e)))?;
    let reader = ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| fail(io_reason(&e)))?;
    if reader.format().is_none() {
        return Err(fail("not an image: the content is not JPEG, PNG, WebP or BMP".into()));
    }
    let mut decoder = reader.into_decoder().map_err(|e| fail(decode_reason(&e)))?;
    // A broken EXIF block should not cost the picture; it just stays as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| fail(decode_reason(&e)))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(fail(format!(
            "the image is {}x{} pixels, it has nothing to classify",
            img.width(),
            img.height()
        )));
    }
    Ok(img.to_rgb8())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => format!("cannot read the file ({e})"),
    }
}

fn decode_reason(e: &image::ImageError) -> String {
    match e {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("truncated image ({io})")
        }
        image::ImageError::IoError(io) => io_reason(io),
        image::ImageError::Unsupported(_) => {
            format!("not an image this program reads (JPEG, PNG, WebP or BMP), or not an image at all ({e})")
        }
        image::ImageError::Limits(_) => format!("the image is too large to decode ({e})"),
        _ => format!("corrupt or truncated image ({e})"),
    }
}

/// Size of the image after the resize step: the shorter side becomes
/// `floor(resolution / CROP_FRACTION)`, the longer one keeps the aspect ratio (truncated, as
/// torchvision's `Resize` does). Never smaller than `resolution` on either side.
pub fn resized_dims(width: u32, height: u32, resolution: u32) -> (u32, u32) {
    let short_target = ((f64::from(resolution) / CROP_FRACTION).floor() as u32).max(resolution);
    let (short, long) = (width.min(height).max(1), width.max(height));
    let long_target = ((u64::from(short_target) * u64::from(long)) / u64::from(short)).max(u64::from(short_target));
    let long_target = u32::try_from(long_target).unwrap_or(u32::MAX);
    if width <= height {
        (short_target, long_target)
    } else {
        (long_target, short_target)
    }
}

/// Longest side the resize step works on, in multiples of the shorter one. The centre crop keeps
/// 87.5% of the shorter side, so a very long image is first cut to a centred band this many
/// times as long as it is wide: a 1x100000 strip then cannot turn into gigabytes of resized
/// pixels. Cutting moves the crop by under a pixel (the two resizes round differently), so it
/// is kept for shapes no camera makes; up to 8:1, panoramas included, the resize is exact.
const MAX_ASPECT: u32 = 8;

/// Steps 2 and 3: resize (shorter side to `floor(resolution / 0.875)`) with `filter`, then cut
/// the centre `resolution` x `resolution` square.
pub fn resize_and_crop(img: &RgbImage, resolution: u32, filter: FilterType) -> RgbImage {
    let (w, h) = img.dimensions();
    let (short, long) = (w.min(h), w.max(h));
    let band = short.saturating_mul(MAX_ASPECT);
    let banded;
    let src = if long > band {
        // Keep the band's parity equal to the long side's so it stays exactly centred.
        let band = band + (long - band) % 2;
        let offset = (long - band) / 2;
        banded = if w > h {
            imageops::crop_imm(img, offset, 0, band, h).to_image()
        } else {
            imageops::crop_imm(img, 0, offset, w, band).to_image()
        };
        &banded
    } else {
        img
    };
    let (rw, rh) = resized_dims(src.width(), src.height(), resolution);
    let resized = imageops::resize(src, rw, rh, filter);
    let (x, y) = ((rw - resolution) / 2, (rh - resolution) / 2);
    imageops::crop_imm(&resized, x, y, resolution, resolution).to_image()
}

/// TFLite's geometry: the whole image resized to `resolution` x `resolution` with `filter`,
/// whatever its aspect ratio.
pub fn resize_whole(img: &RgbImage, resolution: u32, filter: FilterType) -> RgbImage {
    imageops::resize(img, resolution, resolution, filter)
}

/// TFLite's reference `RESIZE_BILINEAR` on uint8 pixels with its default options
/// (`align_corners` and `half_pixel_centers` false), which the quantized models' own tests
/// use to fit a whole photo to the input: HWC bytes, `out_h` x `out_w` x 3.
///
/// Each output pixel samples the input at `(y * in_h / out_h, x * in_w / out_w)` and mixes its
/// four neighbours in f32, in TFLite's order of operations, then adds 0.5 and truncates, so
/// that the bytes are TFLite's own (`tests/reference/make_quant_reference.py` checks the same
/// formula against LiteRT's kernel). Without `round`, the 0.5 is not added: TFLite's float
/// resize followed by a cast, which is how Coral's test harness prepares its images.
pub fn resize_bilinear_tflite(img: &RgbImage, out_h: u32, out_w: u32, round: bool) -> Vec<u8> {
    let (in_w, in_h) = img.dimensions();
    let axis = |out_n: u32, in_n: u32| -> Vec<(usize, usize, f32)> {
        let scale = in_n as f32 / out_n as f32;
        (0..out_n)
            .map(|i| {
                let s = i as f32 * scale;
                let lo = s.floor().max(0.0) as usize;
                let hi = (s.ceil() as usize).min(in_n as usize - 1);
                (lo, hi, s - lo as f32)
            })
            .collect()
    };
    if in_w == 0 || in_h == 0 {
        return vec![0; out_h as usize * out_w as usize * 3];
    }
    let (ys, xs) = (axis(out_h, in_h), axis(out_w, in_w));
    let raw = img.as_raw();
    let px = |y: usize, x: usize, c: usize| f32::from(raw[(y * in_w as usize + x) * 3 + c]);
    let mut out = Vec::with_capacity(ys.len() * xs.len() * 3);
    for &(y0, y1, dy) in &ys {
        for &(x0, x1, dx) in &xs {
            for c in 0..3 {
                let v = px(y0, x0, c) * (1.0 - dy) * (1.0 - dx)
                    + px(y1, x0, c) * dy * (1.0 - dx)
                    + px(y0, x1, c) * (1.0 - dy) * dx
                    + px(y1, x1, c) * dy * dx;
                out.push(if round { v + 0.5 } else { v } as u8);
            }
        }
    }
    out
}

/// The bytes a quantized TFLite image model takes for `img`: the whole image resized with
/// [`resize_bilinear_tflite`], RGB for 3 channels, or Pillow's luma
/// (`(19595 R + 38470 G + 7471 B + 32768) >> 16`) for 1. These are pixels: a uint8 model takes
/// them as they are, an int8 model as `p - 128` (the model's `forward_pixels` does that).
pub fn quantized_pixels(img: &RgbImage, height: u32, width: u32, channels: usize) -> Vec<u8> {
    let rgb = resize_bilinear_tflite(img, height, width, true);
    if channels == 3 {
        return rgb;
    }
    rgb.chunks_exact(3)
        .map(|p| ((19595 * u32::from(p[0]) + 38470 * u32::from(p[1]) + 7471 * u32::from(p[2]) + 32768) >> 16) as u8)
        .collect()
}

/// Step 4: HWC `f32` values of a square RGB image, scaled by `norm`.
pub fn to_tensor(img: &RgbImage, norm: Normalization) -> Vec<f32> {
    img.as_raw()
        .iter()
        .enumerate()
        .map(|(i, &v)| norm.apply(v, i % 3))
        .collect()
}

/// What [`preprocess`] does to an image for one model.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Side of the square the model takes (the spec's resolution).
    pub resolution: u32,
    /// Pixel scaling.
    pub normalization: Normalization,
}

impl Preprocess {
    /// The whole pipeline on an image already in memory: resize, crop, scale.
    pub fn apply(&self, img: &RgbImage) -> Vec<f32> {
        let square = if self.normalization.resizes_whole() {
            resize_whole(img, self.resolution, TFLITE_FILTER)
        } else {
            resize_and_crop(img, self.resolution, FILTER)
        };
        to_tensor(&square, self.normalization)
    }
}

/// Loads `path` and runs the pipeline: `resolution * resolution * 3` values, HWC.
///
/// # Errors
/// As [`load_rgb`].
pub fn preprocess(path: &Path, how: &Preprocess) -> Result<Vec<f32>, ImageError> {
    Ok(how.apply(&load_rgb(path)?))
}

/// Softmax over `logits`, computed after subtracting the largest so no `exp` overflows.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&x| f64::from(x - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|&e| (e / sum) as f32).collect()
}

/// The `k` largest scores as `(class, score)`, largest first; ties go to the lower class
/// index, and NaN sorts below everything so a broken output cannot hide a real class.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
    order.sort_by(|a, b| key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0)));
    order.truncate(k);
    order
}

/// One ImageNet class: its WordNet id and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// WordNet synset id, e.g. `n02123045`.
    pub synset: String,
    /// Human-readable name, e.g. `tabby, tabby cat`.
    pub name: String,
}

/// Parses a class list of `synset<TAB>name` lines, one per class in output order (the format of
/// `assets/imagenet_classes.tsv`). Blank lines and `#` comments are skipped.
///
/// # Errors
/// A line without a tab, or a count other than `expected`, described with its line number.
pub fn parse_labels(text: &str, expected: usize) -> Result<Vec<Label>, String> {
    let mut labels = Vec::with_capacity(expected);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (synset, name) = line
            .split_once('\t')
            .ok_or_else(|| format!("line {}: expected `synset<TAB>name`", i + 1))?;
        labels.push(Label {
            synset: synset.trim().to_owned(),
            name: name.trim().to_owned(),
        });
    }
    if labels.len() != expected {
        return Err(format!("{} classes listed, the model has {expected}", labels.len()));
    }
    Ok(labels)
}

/// The labels of a model with `classes` outputs, from the 1000 ImageNet classes: as they are
/// for 1000, with "background" first for 1001 (TF-slim's numbering, where class i is ImageNet
/// class i - 1), none for any other count.
pub fn labels_for(imagenet: Vec<Label>, classes: usize) -> Option<Vec<Label>> {
    match classes {
        1000 => Some(imagenet),
        1001 => {
            let background = Label {
                synset: String::new(),
                name: "background".to_owned(),
            };
            Some(std::iter::once(background).chain(imagenet).collect())
        }
        _ => None,
    }
}
