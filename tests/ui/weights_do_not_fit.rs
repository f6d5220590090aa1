// Compile-time weights from a model of another table: the file, the operator, the tensor and
// both shapes.
mod model {
    mobilenet::mobilenet!(
        "../../specs/tflite/quant/v1_alpha0.25_128_quant.yaml",
        weights = "../../assets/coral/mobilenet_v1_0.5_160_quant.tflite"
    );
}

fn main() {
    let mut arena = model::Arena::new();
    let _ = model::forward_in_arena(&mut arena);
}
