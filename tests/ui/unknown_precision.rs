mod model {
    mobilenet::mobilenet!("unknown_precision.yaml");
}

fn main() {
    let _ = model::ARENA_BYTES;
}
