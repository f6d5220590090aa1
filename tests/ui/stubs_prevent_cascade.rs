// A wrong spec still defines every item, so code using them reports only the spec error.
mod model {
    mobilenet::mobilenet!("bad_stride.yaml");
}

fn main() {
    let mut m = model::Model::new(model::Weights::random(0));
    let out: &[f32; model::NUM_CLASSES] = m.forward(&[0.0; model::INPUT_LEN]);
    let _ = (out, model::LAYERS, model::COST_REPORT, model::PARAMS, model::ARENA_LEN);
}
