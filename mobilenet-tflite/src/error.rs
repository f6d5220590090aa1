//! [`TfliteError`], the one error type of this crate.

/// Why a byte string could not be read as a TensorFlow Lite model.
///
/// Every message says what is wrong and where (which table, tensor, operator or buffer), so a
/// user can tell a truncated download from a file of another kind or a converter bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TfliteError {
    /// The bytes do not start like a TFLite flatbuffer (too short, wrong file identifier).
    #[error("not a TensorFlow Lite file: {reason}")]
    NotTflite {
        /// What the first bytes hold instead.
        reason: String,
    },

    /// The flatbuffer is damaged or describes something impossible: an offset outside the
    /// file, a tensor index past the tensor list, a buffer running past the end, ...
    #[error("malformed TensorFlow Lite file: {location}: {reason}")]
    Malformed {
        /// Where in the model: `tensor 12`, `operator 3`, `buffer 7`, `model`, ...
        location: String,
        /// What is wrong there.
        reason: String,
    },

    /// The ZIP archive of associated files appended to a model with metadata is damaged or
    /// uses a feature this reader does not support.
    #[error("cannot read the associated files of the model: {reason}")]
    Archive {
        /// What is wrong with the archive.
        reason: String,
    },
}

impl TfliteError {
    /// A [`TfliteError::Malformed`] at `location`.
    pub(crate) fn malformed(location: impl Into<String>, reason: impl Into<String>) -> Self {
        TfliteError::Malformed {
            location: location.into(),
            reason: reason.into(),
        }
    }
}
