//! [`Tensor`], [`TensorSet`] and their safetensors encoding.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use super::WeightsError;

/// A dense row-major `f32` tensor.
///
/// Invariant: `data.len()` is the product of `shape`. [`Tensor::new`] enforces it; code that
/// fills the public fields directly is trusted, and everything that consumes a tensor
/// ([`TensorSet::to_safetensors`], [`super::TensorReader`]) re-checks it and reports an error
/// rather than panicking.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first (PyTorch order).
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data`.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`: that is a bug in the caller, not bad input.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            numel(&shape),
            "tensor data length does not match shape {shape:?}"
        );
        Tensor { shape, data }
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(shape: Vec<usize>, value: f32) -> Self {
        let data = vec![value; numel(&shape)];
        Tensor { shape, data }
    }

    /// Number of elements the shape calls for.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
}

/// Product of the dimensions; saturates so a nonsense shape compares unequal instead of
/// overflowing.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

/// Named tensors of one model, as stored in (or destined for) a safetensors file.
///
/// Names iterate in sorted order, so error messages and saved files do not depend on
/// insertion order.
#[derive(Clone, Default, PartialEq)]
pub struct TensorSet {
    tensors: BTreeMap<String, Tensor>,
}

impl fmt::Debug for TensorSet {
    // Weights run to millions of numbers; a listing of names and shapes is what a reader wants.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.tensors.iter().map(|(k, t)| (k, &t.shape)))
            .finish()
    }
}

impl TensorSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a safetensors file, converting F16 and BF16 tensors to `f32`.
    ///
    /// Any malformed input (truncated, garbage, header claiming data that is not there) is an
    /// [`WeightsError::Format`]; a tensor of another dtype is a [`WeightsError::Dtype`].
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, WeightsError> {
        check_header_bounds(bytes)?;
        let file = SafeTensors::deserialize(bytes).map_err(format_error)?;
        // The file's own order is a hash order; sorting makes "the first bad tensor" stable.
        let mut views: Vec<_> = file.iter().collect();
        views.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut set = TensorSet::new();
        for (name, view) in views {
            // PyTorch's state dicts carry a step counter per batch norm; it holds no weight, and
            // refusing it would make every converted checkpoint need a hand edit.
            if name.ends_with(".num_batches_tracked") {
                continue;
            }
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                other => {
                    return Err(WeightsError::Dtype {
                        tensor: name.to_owned(),
                        dtype: other.to_string(),
                    })
                }
            };
            set.insert(
                name,
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(set)
    }

    /// Encodes the set as a safetensors file of little-endian `f32` tensors.
    ///
    /// Fails only if a tensor's data does not match its shape (possible when the public
    /// fields were filled by hand).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, WeightsError> {
        let mut views = Vec::with_capacity(self.tensors.len());
        for (name, tensor) in &self.tensors {
            if tensor.data.len() != tensor.numel() {
                return Err(WeightsError::Format {
                    reason: format!(
                        "tensor `{name}` has shape {:?} ({} values) but holds {} values",
                        tensor.shape,
                        tensor.numel(),
                        tensor.data.len()
                    ),
                });
            }
            views.push((name.as_str(), F32View(tensor)));
        }
        safetensors::serialize(views, None).map_err(format_error)
    }

    /// Adds `tensor` under `name`, replacing any tensor already there.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// The stored name and the tensor for `name`; lets readers borrow the key instead of
    /// copying it.
    pub(crate) fn get_key_value(&self, name: &str) -> Option<(&str, &Tensor)> {
        self.tensors.get_key_value(name).map(|(k, t)| (k.as_str(), t))
    }

    /// Removes and returns the tensor called `name`.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the set holds no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Tensor names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// `(name, tensor)` pairs in sorted name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, t)| (k.as_str(), t))
    }
}

/// Reads a whole file; the error names the path.
pub fn read_file(path: &Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `bytes` to `path`, replacing it; the error names the path.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WeightsError> {
    std::fs::write(path, bytes).map_err(|source| WeightsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Hands a [`Tensor`] to `safetensors::serialize`, which asks for one tensor's bytes at a time,
/// so the whole set is never duplicated as bytes before the output buffer.
struct F32View<'a>(&'a Tensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        // safetensors is little endian whatever the host is, so encode explicitly.
        Cow::Owned(self.0.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Bytes in the length prefix of a safetensors file.
const LEN_PREFIX: usize = 8;

/// Rejects inputs that would make `safetensors` 0.8 panic, and gives the common truncation
/// cases a message that says what happened.
///
/// `SafeTensors::read_metadata` adds the last declared data offset to the header length
/// unchecked: a header whose offsets sum to near `usize::MAX` overflows (a panic with overflow
/// checks, a wrapped comparison and later out-of-bounds slicing without). Every offset and
/// dimension is a bare integer in the header JSON, so bounding those integers rules it out.
fn check_header_bounds(bytes: &[u8]) -> Result<(), WeightsError> {
    let Some(prefix) = bytes.first_chunk::<LEN_PREFIX>() else {
        return Err(WeightsError::Format {
            reason: format!(
                "the file is {} bytes long, shorter than the {LEN_PREFIX}-byte header length \
                 every safetensors file starts with",
                bytes.len()
            ),
        });
    };
    let header_len = u64::from_le_bytes(*prefix);
    let available = bytes.len() - LEN_PREFIX;
    let header = usize::try_from(header_len)
        .ok()
        .and_then(|n| bytes.get(LEN_PREFIX..LEN_PREFIX.checked_add(n)?));
    let Some(header) = header else {
        return Err(WeightsError::Format {
            reason: format!(
                "the header length field says {header_len} bytes but only {available} bytes \
                 follow it (truncated file, or not safetensors at all)"
            ),
        });
    };
    // Far above any real offset, yet leaves room for the header length to be added.
    let limit = (usize::MAX / 4) as u128;
    if let Some(value) = integers_outside_strings(header).find(|&v| v > limit) {
        return Err(WeightsError::Format {
            reason: format!("the header declares a size or offset of {value}, far larger than any file"),
        });
    }
    Ok(())
}

/// The unsigned integer literals of a JSON text that are not inside strings (so tensor names
/// like `layers.12` are skipped). Saturates instead of overflowing.
fn integers_outside_strings(json: &[u8]) -> impl Iterator<Item = u128> + '_ {
    let mut in_string = false;
    let mut escaped = false;
    let mut current: Option<u128> = None;
    // A trailing sentinel flushes a number that ends the text.
    json.iter().copied().chain(std::iter::once(b' ')).filter_map(move |b| {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            return None;
        }
        if b.is_ascii_digit() {
            let digit = u128::from(b - b'0');
            current = Some(current.unwrap_or(0).saturating_mul(10).saturating_add(digit));
            return None;
        }
        if b == b'"' {
            in_string = true;
        }
        current.take()
    })
}

/// Turns a safetensors parse/serialise error into a [`WeightsError::Format`] a user can act on.
fn format_error(err: SafeTensorError) -> WeightsError {
    let reason = match err {
        SafeTensorError::InvalidHeader(e) => format!("the header is not UTF-8 text ({e})"),
        SafeTensorError::InvalidHeaderDeserialization(e) | SafeTensorError::JsonError(e) => {
            format!("the header is not a valid safetensors JSON table ({e})")
        }
        SafeTensorError::HeaderTooLarge => {
            "the header length is over safetensors' 100 MB limit (not a safetensors file?)".to_owned()
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            "the tensor data declared in the header does not match the bytes after it \
             (truncated or padded file)"
                .to_owned()
        }
        SafeTensorError::InvalidOffset(name) => {
            format!("the data offsets of tensor `{name}` overlap another tensor or leave a gap")
        }
        SafeTensorError::TensorInvalidInfo => "a tensor's data offsets do not match its shape and dtype".to_owned(),
        SafeTensorError::ValidationOverflow => "a tensor's shape describes more data than can exist".to_owned(),
        other => other.to_string(),
    };
    WeightsError::Format { reason }
}
