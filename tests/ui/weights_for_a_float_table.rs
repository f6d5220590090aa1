// Compile-time weights are quantized models; a float32 table says what to do instead.
mod model {
    mobilenet::mobilenet!("tiny.yaml", weights = "../../assets/tflite-micro/person_detect.tflite");
}

fn main() {}
