mod model {
    mobilenet::mobilenet!("resolution_collapse.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
