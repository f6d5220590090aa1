mod model {
    mobilenet::mobilenet!("unknown_type.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
