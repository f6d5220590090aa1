//! TEMPORARY STUB (replaced by the real reader on merge).
#![allow(missing_docs, unused_variables)]
use super::{TensorSet, WeightsError};
use crate::{Activation, LayerInfo, Padding};
pub fn tensors_from_tflite(
    bytes: &[u8],
    layers: &[LayerInfo],
    padding: Padding,
    activation: Activation,
    bn_eps: f32,
) -> Result<TensorSet, WeightsError> {
    Err(WeightsError::Format { reason: "stub".into() })
}
pub struct TfliteSummary;
impl std::fmt::Display for TfliteSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stub")
    }
}
pub fn tflite_summary(bytes: &[u8]) -> Result<TfliteSummary, WeightsError> {
    Ok(TfliteSummary)
}
