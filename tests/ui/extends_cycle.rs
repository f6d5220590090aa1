mod model {
    mobilenet::mobilenet!("extends_cycle.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
