mod model {
    mobilenet::mobilenet!("extends_missing.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
