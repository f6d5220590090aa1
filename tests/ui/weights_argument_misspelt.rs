// The macro's one optional argument is `weights`.
mod model {
    mobilenet::mobilenet!("tiny_int8.yaml", weight = "model.tflite");
}

fn main() {}
