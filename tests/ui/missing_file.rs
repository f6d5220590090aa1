mod model {
    mobilenet::mobilenet!("specs/no_such_spec.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
