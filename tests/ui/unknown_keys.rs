mod model {
    mobilenet::mobilenet!("unknown_keys.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
