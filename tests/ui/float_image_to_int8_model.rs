// A quantized model takes bytes: giving it the float image a float model takes is a type error.
mod model {
    mobilenet::mobilenet!("tiny_int8.yaml");
}

fn run(mut m: model::Model) {
    let image = [0.0f32; model::INPUT_LEN];
    let _ = m.forward(&image);
}

fn main() {
    let _ = run;
}
