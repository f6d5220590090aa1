//! [`WeightsFormat`]: telling a TFLite file from a safetensors file.

use std::path::Path;

/// The encodings `Weights::load` reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A safetensors file of PyTorch-layout tensors (see the module docs for the names).
    Safetensors,
    /// A TensorFlow Lite flatbuffer (`.tflite`).
    Tflite,
}

impl WeightsFormat {
    /// Which reader `bytes` need. The content decides: a TFLite file carries `TFL3` at bytes
    /// 4..8, which a safetensors file cannot (those bytes are the high half of its 64-bit
    /// header length, zero for any header under 4 GiB). When the content is neither, a
    /// `.tflite` extension on `path` still picks the TFLite reader, so that its error
    /// (not a TFLite file, and why) is the one the user sees.
    pub fn detect(bytes: &[u8], path: Option<&Path>) -> Self {
        let tflite_content = mobilenet_tflite::is_tflite(bytes);
        let tflite_name = path
            .and_then(Path::extension)
            .is_some_and(|e| e.eq_ignore_ascii_case("tflite"));
        if tflite_content || tflite_name {
            WeightsFormat::Tflite
        } else {
            WeightsFormat::Safetensors
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_and_the_extension_breaks_ties() {
        let mut tflite = vec![0u8; 16];
        tflite[4..8].copy_from_slice(b"TFL3");
        let safetensors = b"\x02\0\0\0\0\0\0\0{}".to_vec();
        assert_eq!(WeightsFormat::detect(&tflite, None), WeightsFormat::Tflite);
        assert_eq!(
            WeightsFormat::detect(&tflite, Some(Path::new("w.safetensors"))),
            WeightsFormat::Tflite
        );
        assert_eq!(WeightsFormat::detect(&safetensors, None), WeightsFormat::Safetensors);
        assert_eq!(
            WeightsFormat::detect(b"garbage", Some(Path::new("m.TFLite"))),
            WeightsFormat::Tflite
        );
        assert_eq!(
            WeightsFormat::detect(b"garbage", Some(Path::new("m.bin"))),
            WeightsFormat::Safetensors
        );
        assert_eq!(WeightsFormat::detect(&[], None), WeightsFormat::Safetensors);
    }
}
