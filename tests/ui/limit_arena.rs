// Limit: at most 2^32 f32 activations (16 GiB).
mod model {
    mobilenet::mobilenet!("limit_arena.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
