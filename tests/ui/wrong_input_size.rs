// An image of the wrong size is a type error, not a run-time failure.
mod model {
    mobilenet::mobilenet!("tiny.yaml");
}

fn main() {
    let mut m = model::Model::new(model::Weights::random(0));
    let image = [0.0f32; 15 * 16 * 3];
    let _ = m.forward(&image);
}
